"""How much cross-document attention packing gives Train: the share of packed tokens that can see another document.

    .venv/bin/python bench/packing_exposure.py [--docs DIR_OF_JSONL] [--seq_len 4096]

Tokenize concatenates ``<s> doc </s>`` streams and cuts them into blocks of ``seq_len`` tokens; Train attends
causally over the whole block, so a token that follows a document boundary inside its block also sees the end of the
previous, unrelated document (docs/training.md "Packing"). This packs a corpus with the Tokenize step's own
functions (``frame_batch``, ``Packer``; documents in id order, one chunk) and counts, per block, the tokens after a
BOS that is not the block's first token, and how many foreign tokens each of them can see.

Corpus: ``--docs`` (JSONL with ``id`` and ``text``, e.g. an ingest or dedup output), else the body text of the
articles in ../shared/data/pmc-oa-sample (a crude lxml text of <body>, as bench/tokenize_throughput.py reads it).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from medllama.resources import find_llama2_tokenizer, repo_root
from medllama.tokenization.core import Packer, frame_batch
from medllama.tokenizer import load_base_tokenizer


@dataclass(frozen=True)
class Exposure:
    """What causal attention over packed blocks lets tokens see of other documents."""

    blocks: int
    tokens: int
    tokens_seeing_another_document: int
    mean_foreign_tokens_seen: float  # over the tokens that see any
    documents_starting_mid_block: int
    documents_starting: int

    @property
    def share(self) -> float:
        return self.tokens_seeing_another_document / self.tokens if self.tokens else 0.0


def exposure(rows: np.ndarray, bos_id: int) -> Exposure:
    """Counts on packed rows (blocks x seq_len): a token sees another document when a BOS other than at position 0
    precedes it (or is it) in its block, and then sees the tokens before that BOS (the last one before it)."""
    seeing, foreign, mid, starting = 0, 0, 0, 0
    for row in rows:
        starts = np.flatnonzero(row == bos_id)
        starting += len(starts)
        inner = starts[starts > 0]
        mid += len(inner)
        if not len(inner):
            continue
        positions = np.arange(inner[0], len(row))
        last_start = inner[np.searchsorted(inner, positions, side="right") - 1]
        seeing += len(positions)
        foreign += int(
            last_start.sum()
        )  # the tokens before the token's own document began in this block
    return Exposure(
        blocks=len(rows),
        tokens=int(rows.size),
        tokens_seeing_another_document=seeing,
        mean_foreign_tokens_seen=foreign / seeing if seeing else 0.0,
        documents_starting_mid_block=mid,
        documents_starting=starting,
    )


def pack(lengths_ids: list[list[int]], seq_len: int, bos: int, eos: int) -> np.ndarray:
    rows: list[np.ndarray] = []
    packer = Packer(seq_len, rows.append)
    for doc in frame_batch(lengths_ids, bos, eos):
        packer.add(doc)
    packer.end_chunk()
    return np.concatenate(rows) if rows else np.zeros((0, seq_len), dtype=np.int32)


def corpus(docs: str | None) -> tuple[list[tuple[str, str]], str]:
    if docs:
        out = []
        for path in sorted(Path(docs).rglob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line) if line.strip() else {}
                if isinstance(record.get("text"), str) and record["text"].strip():
                    out.append((str(record.get("id", len(out))), record["text"]))
        return sorted(out), f"{len(out)} JSONL documents under {docs}"
    sample = repo_root().parent / "shared" / "data" / "pmc-oa-sample"
    from lxml import etree

    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    out = []
    for path in sorted(sample.glob("*.*xml")):
        root = etree.parse(str(path), parser).getroot()
        bodies = [] if root is None else root.findall(".//{*}body")
        text = "\n\n".join(
            " ".join(" ".join(b.itertext()).split()) for b in bodies
        ).strip()
        if len(text) > 500:
            out.append((path.stem, text))
    return out, f"body text of {len(out)} articles in {sample}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", help="folder of JSONL documents (id, text)")
    parser.add_argument("--seq_len", type=int, nargs="+", default=[4096, 2048])
    args = parser.parse_args(argv)
    tok = load_base_tokenizer(find_llama2_tokenizer())
    docs, what = corpus(args.docs)
    ids = tok.encode_many([text for _, text in docs])
    lengths = np.array([len(x) + 2 for x in ids])
    print(
        f"corpus: {what}; framed tokens per document: mean {lengths.mean():,.0f}, median {np.median(lengths):,.0f}"
    )
    for seq_len in args.seq_len:
        e = exposure(pack(ids, seq_len, tok.bos_id, tok.eos_id), tok.bos_id)
        print(
            f"seq_len {seq_len}: {e.share:.1%} of {e.tokens:,} packed tokens see part of another document "
            f"(on average {e.mean_foreign_tokens_seen:,.0f} foreign tokens); {e.documents_starting_mid_block} of "
            f"{e.documents_starting} documents start mid-block; T/(2 x mean length) = "
            f"{seq_len / 2 / lengths.mean():.1%}"
        )
        print(json.dumps({"seq_len": seq_len, **asdict(e), "share": e.share}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
