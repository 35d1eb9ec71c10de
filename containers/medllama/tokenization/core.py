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

Replay: with ``--replay_uri``, the general-domain corpus under that S3 prefix (``.txt``: one document per file;
``.jsonl``: one ``text`` per line; other files such as SOURCE.md are not documents) is tokenized with the same
tokenizer and framing into a split of its own, ``replay`` (documents in path and line order, sharded like the
others). Nothing is mixed here: Train mixes replay blocks into its batches at ``replay_fraction``
(:mod:`medllama.train.data`), so the share can change without tokenizing again. Without it, ``replay`` is an
empty dataset, so that the Train channel that reads it always has objects.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from medllama.jsonl import dumps, jsonl_files, write_json
from medllama.logs import Progress
from medllama.s3_prefix import PrefixError, fetch_prefix
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
        for number, start, line in _nonblank_lines(path):
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


def _nonblank_lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(1-based line number, byte offset, raw line) of every line of a JSONL file that is not blank."""
    with open(path, "rb") as fh:
        offset = 0
        for number, line in enumerate(fh, start=1):
            start, offset = offset, offset + len(line)
            if line.strip():
                yield number, start, line


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
        if ref.length < 0:  # a replay .txt file: the whole file is the document
            out.append(fh.read().decode("utf-8", errors="replace"))
        else:
            out.append(json.loads(fh.read(ref.length))["text"])
    return out


REPLAY_SPLIT = "replay"


def index_replay(folder: Path) -> SplitIndex:
    """The replay documents under ``folder``: every non-empty ``.txt`` file (length -1: the whole file) and every
    line of a ``.jsonl`` file with a non-empty string ``text``, in path then line order; bad lines are rejections."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".txt", ".jsonl"))
    docs: list[DocRef] = []
    rejections: list[dict[str, Any]] = []
    for fi, path in enumerate(files):
        rel = path.relative_to(folder).as_posix()
        if path.suffix == ".txt":
            if path.read_bytes().strip():
                docs.append(DocRef(rel, fi, 0, -1))
            else:
                rejections.append({"source": f"replay/{rel}", "reason": "empty-text", "detail": "empty .txt file"})
            continue
        for number, start, line in _nonblank_lines(path):
            problem = _check_replay_line(line)
            if problem:
                rejections.append({"source": f"replay/{rel}:{number}", "reason": problem[0], "detail": problem[1]})
            else:
                docs.append(DocRef(f"{rel}:{number:012d}", fi, start, len(line)))
    docs.sort(key=lambda d: (d.sort_key, d.file, d.offset))
    return SplitIndex(files, docs, rejections)


def _check_replay_line(line: bytes) -> tuple[str, str] | None:
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return ("invalid-json", f"not a UTF-8 JSON line: {err}")
    text = obj.get("text") if isinstance(obj, dict) else None
    if not isinstance(text, str):
        return ("missing-field", "record has no string 'text'")
    return None if text.strip() else ("empty-text", "record has an empty text")


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
    what: str = "documents",
) -> SplitStats:
    stats = SplitStats()
    n_chunks = (len(index.docs) + cfg.chunk_docs - 1) // cfg.chunk_docs
    packer = Packer(cfg.seq_len, emit)
    handles: dict[int, Any] = {}
    progress = Progress(log, what, every=10000)
    try:
        for c in chunk_range(n_chunks, shard):
            stats.chunks += 1
            refs = index.docs[c * cfg.chunk_docs : (c + 1) * cfg.chunk_docs]
            for b in range(0, len(refs), cfg.batch_docs):
                texts = read_texts(index, refs[b : b + cfg.batch_docs], handles)
                framed = frame_batch(tok.encode_many(texts), tok.bos_id, tok.eos_id)
                for text, doc in zip(texts, framed, strict=True):
                    packer.add(doc)
                    stats.documents += 1
                    stats.tokens += len(doc)
                    stats.text_bytes += len(text.encode("utf-8"))
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
    tok = load_tokenizer(cfg.tokenizer, cfg.tokenizer_config or None)
    log.info(f"tokenizer {tok.path} sha256={tok.sha256[:12]} {tok.identity.describe()}")
    root = Path(cfg.input_dir)
    if not any((root / s).is_dir() for s in cfg.splits):
        raise InputError(
            f"--input_dir {root}: none of the split folders {cfg.splits} exists (expected the dedup output)"
        )
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
        report["splits"][split] = _write_split(cfg, tok, split, index, shard, out, log)
    totals = {k: sum(s[k] for s in report["splits"].values()) for k in ("documents", "tokens", "text_bytes")}
    report["tokens_per_byte"] = round(totals["tokens"] / totals["text_bytes"], 6) if totals["text_bytes"] else 0.0
    with tempfile.TemporaryDirectory(prefix="replay-") as scratch:
        index = _replay_index(cfg.replay_uri, Path(scratch), log)
        rejections.extend(index.rejections if shard.index == 0 else [])
        report[REPLAY_SPLIT] = {
            "source": cfg.replay_uri,
            **_write_split(cfg, tok, REPLAY_SPLIT, index, shard, out, log, source=cfg.replay_uri),
        }
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


def _replay_index(uri: str, scratch: Path, log: logging.Logger) -> SplitIndex:
    """The replay corpus's documents (none without ``uri``); a prefix without any is an :class:`InputError`."""
    if not uri:
        log.info("replay: no --replay_uri; writing an empty replay split")
        return SplitIndex([], [])
    try:
        folder = fetch_prefix(uri, scratch, flag="--replay_uri")
    except PrefixError as err:
        raise InputError(str(err)) from None
    index = index_replay(folder)
    if not index.docs:
        raise InputError(
            f"--replay_uri {uri}: no replay documents (expected .txt files, or .jsonl lines with a 'text'; "
            f"{len(index.files)} such file(s), {len(index.rejections)} rejected line(s))"
        )
    log.info(f"replay: {len(index.docs)} documents in {len(index.files)} file(s) from {uri}")
    return index


def _write_split(
    cfg: TokenizationConfig,
    tok: BaseTokenizer,
    split: str,
    index: SplitIndex,
    shard: Shard,
    out: Path,
    log: logging.Logger,
    **manifest: Any,
) -> dict[str, Any]:
    """Packs one split into ``out/<split>`` (or its shard folder) with its medllama-split.json; its summary."""
    from .writer import BlockWriter

    sharded = shard.count > 1
    target = out / split / f"shard-{shard.suffix}" if sharded else out / split
    writer = BlockWriter(target, cfg.seq_len)
    try:
        stats = pack_split(cfg, tok, index, shard, writer.write, log, what=f"{split} documents")
    except BaseException:
        writer.abort()
        raise
    stats.rejected = len(index.rejections) if shard.index == 0 else 0
    writer.close(fingerprint=_fingerprint(tok.sha256, split, shard, stats))
    meta = {
        "split": split,
        "seq_len": cfg.seq_len,
        "documents": stats.documents,
        "tokens": stats.tokens,
        "blocks": stats.blocks,
        "tail_tokens_dropped": stats.tail_tokens_dropped,
        **manifest,
        **tok.identity.as_manifest(),
        "layout": "sharded" if sharded else "single",
        "shard_index": shard.index,
        "shard_count": shard.count,
    }
    write_json(target / "medllama-split.json", meta)
    log.info(
        f"split {split}: documents={stats.documents} tokens={stats.tokens} blocks={stats.blocks} "
        f"dropped={stats.tail_tokens_dropped} rejected={stats.rejected}"
    )
    return stats.as_dict(cfg.seq_len)


def _fingerprint(sha: str, split: str, shard: Shard, stats: SplitStats) -> str:
    text = f"{sha}|{split}|{shard.suffix}|{stats.documents}|{stats.tokens}|{stats.blocks}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
