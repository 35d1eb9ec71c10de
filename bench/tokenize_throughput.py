"""Tokenize + pack throughput on ONE core: medllama.tokenization vs a run_clm.py-style baseline, same run.

    .venv/bin/python bench/tokenize_throughput.py [--corpus DIR_OF_JSONL] [--seq_len 4096] [--repeat 3]

Corpus: ``--corpus`` (a folder of JSONL documents with ``text``, e.g. an ingest or dedup output), else the
body text of ../shared/data/pmc-oa-sample (crude lxml itertext of <body>), else generated text.
Ours: medllama.tokenization.pack_split (index + read JSONL + tokenizers batch API + frame + pack).
Baseline: what run_clm.py does: ``datasets.map(tokenize, batched=True)`` with the transformers fast tokenizer,
then ``map(group_texts, batched=True)``; when datasets cannot be imported, the same two functions are applied
to batches of 1000 documents held in Python lists (no Arrow round trips, so a faster baseline than the real one).
Both use one thread (RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false).
"""

from __future__ import annotations

import os

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse
import json
import logging
import random
import tempfile
import time
from itertools import chain
from pathlib import Path

import numpy as np
from medllama.resources import find_llama2_tokenizer, repo_root
from medllama.sagemaker_env import Shard
from medllama.tokenization import (
    TokenizationConfig,
    index_split,
    load_tokenizer,
    pack_split,
)


def corpus_texts(corpus: str | None) -> tuple[list[str], str]:
    if corpus:
        texts = []
        for p in sorted(Path(corpus).rglob("*.jsonl")):
            for line in p.read_text(encoding="utf-8").splitlines():
                try:
                    t = json.loads(line).get("text")
                except json.JSONDecodeError:
                    continue
                if isinstance(t, str) and t.strip():
                    texts.append(t)
        return texts, f"JSONL under {corpus}"
    sample = repo_root().parent / "shared" / "data" / "pmc-oa-sample"
    if sample.is_dir():
        from lxml import etree

        texts = []
        parser = etree.XMLParser(
            recover=True, resolve_entities=False, no_network=True, huge_tree=False
        )
        for p in sorted(sample.glob("*.*xml")):
            try:
                root = etree.parse(str(p), parser).getroot()
            except (etree.XMLSyntaxError, OSError):
                continue
            if root is None:
                continue
            bodies = root.findall(".//{*}body") or root.findall(".//body")
            text = "\n\n".join(
                " ".join(" ".join(b.itertext()).split(" ")) for b in bodies
            ).strip()
            if len(text) > 500:
                texts.append(text)
        return texts, f"body text of {len(texts)} articles in {sample}"
    rng = random.Random(0)
    vocab = [
        "patients",
        "treatment",
        "cells",
        "protein",
        "expression",
        "cohort",
        "significant",
        "increased",
        "analysis",
        "clinical",
    ]
    return [
        " ".join(rng.choice(vocab) for _ in range(5000)) for _ in range(300)
    ], "generated text"


def run_ours(
    texts: list[str], tokenizer: Path, seq_len: int, workdir: Path
) -> tuple[float, float, int]:
    split = workdir / "in" / "train"
    split.mkdir(parents=True)
    with open(split / "part-00000.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(
            json.dumps({"id": f"D{i:08d}", "text": t}, ensure_ascii=False) + "\n"
            for i, t in enumerate(texts)
        )
    cfg = TokenizationConfig(
        input_dir=str(workdir / "in"),
        output_dir=str(workdir / "out"),
        tokenizer=str(tokenizer),
    )
    cfg.seq_len = seq_len
    tok = load_tokenizer(tokenizer)
    rows: list[np.ndarray] = []
    log = logging.getLogger("bench")
    start, cpu = time.perf_counter(), time.process_time()
    index = index_split(split, workdir / "in")
    stats = pack_split(cfg, tok, index, Shard(), rows.append, log)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert sum(len(r) for r in rows) == stats.blocks
    return elapsed, cpu, stats.tokens


def run_baseline(
    texts: list[str], tokenizer: Path, seq_len: int
) -> tuple[float, float, int, str]:
    from transformers import PreTrainedTokenizerFast

    tk = PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer), bos_token="<s>", eos_token="</s>"
    )

    def tokenize_function(examples):
        return tk(examples["text"])

    def group_texts(examples):
        concatenated = {k: list(chain(*examples[k])) for k in examples}
        total = len(concatenated["input_ids"]) // seq_len * seq_len
        return {
            k: [t[i : i + seq_len] for i in range(0, total, seq_len)]
            for k, t in concatenated.items()
        }

    try:
        import datasets

        ds = datasets.Dataset.from_dict({"text": texts})
        start, cpu = time.perf_counter(), time.process_time()
        tokd = ds.map(
            tokenize_function,
            batched=True,
            remove_columns=["text"],
            load_from_cache_file=False,
        )
        grouped = tokd.map(group_texts, batched=True, load_from_cache_file=False)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        tokens = sum(len(x) for x in tokd["input_ids"])
        assert all(len(x) == seq_len for x in grouped["input_ids"][:5])
        return elapsed, cpu, tokens, "datasets.map (run_clm.py)"
    except ImportError:
        pass
    start, cpu = time.perf_counter(), time.process_time()
    tokens = 0
    for b in range(0, len(texts), 1000):  # datasets.map's default batch_size
        tokd = tokenize_function({"text": texts[b : b + 1000]})
        tokens += sum(len(x) for x in tokd["input_ids"])
        group_texts(dict(tokd))
    return (
        time.perf_counter() - start,
        time.process_time() - cpu,
        tokens,
        "run_clm.py functions on Python lists (datasets not importable)",
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus")
    ap.add_argument("--seq_len", type=int, default=4096)
    ap.add_argument(
        "--repeat", type=int, default=3, help="copies of the corpus (timing stability)"
    )
    args = ap.parse_args()
    tokenizer = find_llama2_tokenizer()
    texts, what = corpus_texts(args.corpus)
    texts = texts * args.repeat
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(
        f"corpus: {what} x{args.repeat}: {len(texts)} documents, {mb:.1f} MB; seq_len {args.seq_len}; 1 thread"
    )
    with tempfile.TemporaryDirectory() as tmp:
        w_ours, c_ours, n_ours = run_ours(texts, tokenizer, args.seq_len, Path(tmp))
    w_base, c_base, n_base, kind = run_baseline(texts, tokenizer, args.seq_len)
    raw = load_tokenizer(tokenizer).tokenizer
    cpu = time.process_time()
    n_raw = sum(
        len(e.ids) for e in raw.encode_batch_fast(texts, add_special_tokens=False)
    )
    c_raw = time.process_time() - cpu
    # CPU time of this process (one thread) is the per-core cost; wall time is also shown (shared machines)
    ours, base = n_ours / c_ours, n_base / c_base
    print(
        f"ours:     {n_ours} tokens, cpu {c_ours:.2f}s (wall {w_ours:.2f}s) = {ours / 1e6:.3f}M tokens/s/core"
    )
    print(
        f"baseline: {n_base} tokens, cpu {c_base:.2f}s (wall {w_base:.2f}s) = {base / 1e6:.3f}M tokens/s/core [{kind}]"
    )
    print(
        f"ceiling:  tokenizers encode_batch_fast alone: {n_raw / c_raw / 1e6:.3f}M tokens/s/core (cpu {c_raw:.2f}s)"
    )
    print(
        f"ratio: {ours / base:.2f}x by cpu time, {(n_ours / w_ours) / (n_base / w_base):.2f}x by wall time"
    )
    print("bar: >= 1M tokens/s per core and >= 2x the baseline")


if __name__ == "__main__":
    main()
