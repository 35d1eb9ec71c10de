"""Tokenize + pack, streaming.

For each split: index every ``<split>/*.jsonl`` line of the dedup output (id, file, byte offset: a few
dozen bytes per document, never the text), sort by id, cut the sorted list into chunks of ``chunk_docs``
documents, and for each chunk read the texts batch by batch, tokenize them with the ``tokenizers`` batch
API (Rust threads, ``add_special_tokens=False``), frame each document as ``BOS + ids + EOS`` (``ids + EOS`` for a base without BOS), concatenate
and cut the stream into rows of exactly ``seq_len`` tokens. The tail of each chunk (< seq_len tokens) is
dropped and counted. Rows go to the writer as they are produced, so memory is bounded by one batch.

Sharding: the chunks of a split are divided into ``shard_count`` contiguous ranges; shard ``i`` packs
range ``i``. Because chunks are packed independently, concatenating the shards' datasets in shard order
gives exactly the single-shard dataset.

Replay (train only): replay documents (``--replay_dir``, files sorted by path) are dealt round-robin to
the train chunks; inside a chunk, after each domain document, the next replay documents are inserted
as long as ``replay_tokens <= f / (1 - f) * domain_tokens`` still holds after inserting them
(f = ``replay_fraction``), so the replay share of a chunk is at most f, and close to f when the replay
corpus is large enough.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from medllama.jsonl import dumps, jsonl_files, write_json
from medllama.logs import Progress
from medllama.sagemaker_env import Shard
from medllama.tokenizer import BaseTokenizer, TokenizerError, load_base_tokenizer

from .config import TokenizationConfig


class InputError(RuntimeError):
    """The inputs cannot be processed at all (no tokenizer, no split folders)."""


def load_tokenizer(path: str | os.PathLike[str], config: str | os.PathLike[str] | None = None) -> BaseTokenizer:
    """The base model's tokenizer (:mod:`medllama.tokenizer`), BOS/EOS from ``config`` (its tokenizer_config.json;
    default: the one beside it); an unusable one is an :class:`InputError`."""
    try:
        return load_base_tokenizer(path, config)
    except TokenizerError as err:
        raise InputError(f"--tokenizer {err}") from None


@dataclass(frozen=True, slots=True)
class DocRef:
    sort_key: str
    file: int
    offset: int
    length: int


@dataclass
class SplitIndex:
    files: list[Path]
    docs: list[DocRef]
    rejections: list[dict[str, Any]] = field(default_factory=list)


def index_split(split_dir: Path, root: Path) -> SplitIndex:
    """Every valid document of a split (sorted by id, then file and offset); bad lines become rejections."""
    files = jsonl_files(split_dir) if split_dir.is_dir() else []
    docs: list[DocRef] = []
    rejections: list[dict[str, Any]] = []
    for fi, path in enumerate(files):
        rel = path.relative_to(root).as_posix()
        with open(path, "rb") as fh:
            offset = 0
            for number, line in enumerate(fh, start=1):
                start, offset = offset, offset + len(line)
                if not line.strip():
                    continue
                reason = _check_line(line)
                if isinstance(reason, tuple):
                    rec = {"source": f"{rel}:{number}", "reason": reason[0], "detail": reason[1]}
                    if reason[2]:
                        rec["id"] = reason[2]
                    rejections.append(rec)
                    continue
                docs.append(DocRef(reason, fi, start, len(line)))
    docs.sort(key=lambda d: (d.sort_key, d.file, d.offset))
    return SplitIndex(files, docs, rejections)


def _check_line(line: bytes) -> str | tuple[str, str, str | None]:
    try:
        obj = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return ("invalid-json", "not UTF-8", None)
    except json.JSONDecodeError as err:
        return ("invalid-json", f"invalid JSON: {err.msg}", None)
    if not isinstance(obj, dict):
        return ("invalid-json", f"expected a JSON object, got {type(obj).__name__}", None)
    rid = obj.get("id")
    if not isinstance(rid, str) or not rid:
        return ("missing-field", "record has no non-empty string 'id'", None)
    text = obj.get("text")
    if not isinstance(text, str):
        return ("missing-field", f"record {rid} has no string 'text'", rid)
    if not text.strip():
        return ("empty-text", f"record {rid} has an empty text", rid)
    return rid


def read_texts(index: SplitIndex, refs: list[DocRef], handles: dict[int, Any]) -> list[str]:
    out = []
    for ref in refs:
        fh = handles.get(ref.file)
        if fh is None:
            fh = handles[ref.file] = open(index.files[ref.file], "rb")  # noqa: SIM115
        fh.seek(ref.offset)
        out.append(json.loads(fh.read(ref.length))["text"])
    return out


def list_replay(replay_dir: str) -> list[tuple[Path, int, int]]:
    """Replay documents as (file, offset, length); length -1 means the whole .txt file."""
    root = Path(replay_dir)
    if not root.is_dir():
        raise InputError(f"--replay_dir {replay_dir}: not a folder")
    out: list[tuple[Path, int, int]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".txt":
            if path.stat().st_size > 0:
                out.append((path, 0, -1))
        elif path.suffix == ".jsonl":
            with open(path, "rb") as fh:
                offset = 0
                for line in fh:
                    start, offset = offset, offset + len(line)
                    if isinstance(_check_line_replay(line), str):
                        out.append((path, start, len(line)))
    return out


def _check_line_replay(line: bytes) -> str | None:
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    text = obj.get("text") if isinstance(obj, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def read_replay(ref: tuple[Path, int, int]) -> str:
    path, offset, length = ref
    if length < 0:
        return path.read_text(encoding="utf-8", errors="replace")
    with open(path, "rb") as fh:
        fh.seek(offset)
        return json.loads(fh.read(length))["text"]


class Packer:
    """Concatenates framed documents and emits full rows of ``seq_len`` tokens through ``emit``."""

    def __init__(self, seq_len: int, emit: Callable[[np.ndarray], None], rows_per_emit: int = 256) -> None:
        self.seq_len = seq_len
        self.emit = emit
        self.target = seq_len * max(1, rows_per_emit)
        self.parts: list[np.ndarray] = []
        self.pending = 0
        self.blocks = 0
        self.dropped = 0

    def add(self, framed: np.ndarray) -> None:
        self.parts.append(framed)
        self.pending += len(framed)
        if self.pending >= self.target:
            self._flush()

    def _flush(self) -> None:
        if not self.parts:
            return
        stream = np.concatenate(self.parts) if len(self.parts) > 1 else self.parts[0]
        rows = len(stream) // self.seq_len
        if rows:
            self.emit(stream[: rows * self.seq_len].reshape(rows, self.seq_len))
            self.blocks += rows
        rest = stream[rows * self.seq_len :]
        self.parts = [rest] if len(rest) else []
        self.pending = len(rest)

    def end_chunk(self) -> None:
        """Emits what fills whole rows and drops the remainder (the chunk's tail)."""
        self._flush()
        self.dropped += self.pending
        self.parts, self.pending = [], 0


def frame_batch(ids: list[list[int]], bos: int | None, eos: int) -> list[np.ndarray]:
    """``[BOS, *ids, EOS]`` per document as int32 arrays (one flat allocation for the batch); ``[*ids, EOS]`` for a
    base without BOS (``bos`` None: the document follows the previous one's EOS in the packed stream)."""
    lead = 0 if bos is None else 1
    lens = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    total = int(lens.sum())
    flat = np.fromiter(chain.from_iterable(ids), dtype=np.int32, count=total)
    ends = np.cumsum(lens + lead + 1)
    starts = ends - lens - lead - 1
    out = np.empty(total + (lead + 1) * len(ids), dtype=np.int32)
    body = np.ones(len(out), dtype=bool)
    if lead:
        body[starts] = False
    body[ends - 1] = False
    out[body] = flat
    if lead:
        out[starts] = bos
    out[ends - 1] = eos
    return np.split(out, ends[:-1])


@dataclass
class SplitStats:
    documents: int = 0
    tokens: int = 0
    text_bytes: int = 0
    blocks: int = 0
    tail_tokens_dropped: int = 0
    chunks: int = 0
    replay_documents: int = 0
    replay_tokens: int = 0
    rejected: int = 0

    def as_dict(self, seq_len: int) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["packed_tokens"] = self.blocks * seq_len
        d["tokens_per_byte"] = round(self.tokens / self.text_bytes, 6) if self.text_bytes else 0.0
        return d


def chunk_range(n_chunks: int, shard: Shard) -> range:
    """The contiguous chunks of ``shard`` (balanced; concatenating shards in order covers all)."""
    return range(shard.index * n_chunks // shard.count, (shard.index + 1) * n_chunks // shard.count)


def pack_split(
    cfg: TokenizationConfig,
    tok: BaseTokenizer,
    index: SplitIndex,
    shard: Shard,
    emit: Callable[[np.ndarray], None],
    log: logging.Logger,
    replay: list[tuple[Path, int, int]] | None = None,
    what: str = "documents",
) -> SplitStats:
    stats = SplitStats()
    n_chunks = (len(index.docs) + cfg.chunk_docs - 1) // cfg.chunk_docs
    packer = Packer(cfg.seq_len, emit)
    handles: dict[int, Any] = {}
    ratio = cfg.replay_fraction / (1 - cfg.replay_fraction) if replay and cfg.replay_fraction > 0 else 0.0
    progress = Progress(log, what, every=10000)
    try:
        for c in chunk_range(n_chunks, shard):
            stats.chunks += 1
            refs = index.docs[c * cfg.chunk_docs : (c + 1) * cfg.chunk_docs]
            chunk_replay = iter(replay[c::n_chunks]) if ratio else iter(())
            domain_tokens = replay_tokens = 0
            pending: tuple[str, np.ndarray] | None = None
            for b in range(0, len(refs), cfg.batch_docs):
                texts = read_texts(index, refs[b : b + cfg.batch_docs], handles)
                framed = frame_batch(tok.encode_many(texts), tok.bos_id, tok.eos_id)
                for text, doc in zip(texts, framed, strict=True):
                    packer.add(doc)
                    stats.documents += 1
                    stats.tokens += len(doc)
                    stats.text_bytes += len(text.encode("utf-8"))
                    domain_tokens += len(doc)
                    while ratio:
                        if pending is None:
                            ref = next(chunk_replay, None)
                            if ref is None:
                                break
                            rtext = read_replay(ref)
                            pending = (rtext, frame_batch(tok.encode_many([rtext]), tok.bos_id, tok.eos_id)[0])
                        rtext, rdoc = pending
                        if replay_tokens + len(rdoc) > ratio * domain_tokens:
                            break
                        pending = None
                        packer.add(rdoc)
                        replay_tokens += len(rdoc)
                        stats.replay_documents += 1
                        stats.replay_tokens += len(rdoc)
                        stats.tokens += len(rdoc)
                        stats.text_bytes += len(rtext.encode("utf-8"))
                progress.update(len(texts), tokens=stats.tokens)
            packer.end_chunk()
    finally:
        for fh in handles.values():
            fh.close()
    progress.close(tokens=stats.tokens, blocks=packer.blocks)
    stats.blocks = packer.blocks
    stats.tail_tokens_dropped = packer.dropped
    return stats


def run(cfg: TokenizationConfig, shard: Shard, log: logging.Logger) -> dict[str, Any]:
    from .writer import BlockWriter

    tok = load_tokenizer(cfg.tokenizer, cfg.tokenizer_config or None)
    log.info(f"tokenizer {tok.path} sha256={tok.sha256[:12]} {tok.identity.describe()}")
    root = Path(cfg.input_dir)
    if not any((root / s).is_dir() for s in cfg.splits):
        raise InputError(
            f"--input_dir {root}: none of the split folders {cfg.splits} exists (expected the dedup output)"
        )
    replay = list_replay(cfg.replay_dir) if cfg.replay_fraction > 0 else None
    out = Path(cfg.output_dir)
    sharded = shard.count > 1
    report: dict[str, Any] = {
        "seq_len": cfg.seq_len,
        **tok.identity.as_manifest(),
        "chunk_docs": cfg.chunk_docs,
        "shard": {"index": shard.index, "count": shard.count},
        "layout": "sharded" if sharded else "single",
        "splits": {},
    }
    rejections: list[dict[str, Any]] = []
    for split in cfg.splits:
        index = index_split(root / split, root)
        if not (root / split).is_dir():
            log.warning(f"split {split}: no folder {root / split}; writing an empty dataset")
        rejections.extend(index.rejections if shard.index == 0 else [])
        target = out / split / f"shard-{shard.suffix}" if sharded else out / split
        writer = BlockWriter(target, cfg.seq_len)
        try:
            stats = pack_split(
                cfg,
                tok,
                index,
                shard,
                writer.write,
                log,
                replay if split == "train" else None,
                what=f"{split} documents",
            )
        except BaseException:
            writer.abort()
            raise
        stats.rejected = len(index.rejections) if shard.index == 0 else 0
        writer.close(fingerprint=_fingerprint(tok.sha256, split, shard, stats))
        summary = stats.as_dict(cfg.seq_len)
        meta = {
            "split": split,
            "seq_len": cfg.seq_len,
            "documents": stats.documents,
            "tokens": stats.tokens,
            "blocks": stats.blocks,
            "tail_tokens_dropped": stats.tail_tokens_dropped,
            "replay_documents": stats.replay_documents,
            "replay_tokens": stats.replay_tokens,
            **tok.identity.as_manifest(),
            "layout": "sharded" if sharded else "single",
            "shard_index": shard.index,
            "shard_count": shard.count,
        }
        write_json(target / "medllama-split.json", meta)
        report["splits"][split] = summary
        log.info(
            f"split {split}: documents={stats.documents} tokens={stats.tokens} blocks={stats.blocks} "
            f"dropped={stats.tail_tokens_dropped} rejected={stats.rejected}"
        )
    totals = {k: sum(s[k] for s in report["splits"].values()) for k in ("documents", "tokens", "text_bytes")}
    report["tokens_per_byte"] = round(totals["tokens"] / totals["text_bytes"], 6) if totals["text_bytes"] else 0.0
    report["rejected"] = len(rejections)
    if rejections or not sharded or shard.index == 0:
        rej = out / "rejected" / (f"part-{shard.suffix}.jsonl" if sharded else "part-00000.jsonl")
        rej.parent.mkdir(parents=True, exist_ok=True)
        tmp = rej.with_name(rej.name + ".tmp")
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            for r in rejections:
                fh.write(dumps(r) + "\n")
        os.replace(tmp, rej)
    name = f"tokenize-report-{shard.suffix}.json" if sharded else "tokenize-report.json"
    write_json(out / name, report)
    return report


def _fingerprint(sha: str, split: str, shard: Shard, stats: SplitStats) -> str:
    text = f"{sha}|{split}|{shard.suffix}|{stats.documents}|{stats.tokens}|{stats.blocks}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
