"""Dedup memory per document: peak RSS growth of medllama.dedup over N synthetic records, for two N.

    .venv/bin/python bench/dedup_memory.py [--docs 50000 200000] [--words 50]

Each record has a random signature (so LSH finds no candidates; clustering transients are still paid),
a text of ``--words`` words and an id like ``PMC0012345``. The slope of peak RSS between the two sizes,
divided by the extra documents, is the measured bytes per document (independent of ``--words``).
Runs each size in a fresh subprocess so peaks do not mix.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
from pathlib import Path


def child(n: int, words: int, tmp: Path) -> None:
    import logging

    from medllama.dedup import DedupConfig, run

    docs = tmp / "in" / "documents"
    docs.mkdir(parents=True)
    rng = random.Random(n)
    with open(docs / "part-00000-of-00001.jsonl", "w") as fh:
        for i in range(n):
            text = " ".join(f"w{rng.randrange(10**6)}" for _ in range(words))
            rec = {
                "id": f"PMC{i:07d}",
                "text": text,
                "text_hash": f"{rng.getrandbits(160):040x}",
                "minhash": [rng.getrandbits(32) for _ in range(112)],
                "words": words,
                "is_manuscript": False,
            }
            fh.write(json.dumps(rec) + "\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = run(
        DedupConfig(input_dir=str(tmp / "in"), output_dir=str(tmp / "out")),
        logging.getLogger("bench"),
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "n": n,
                "rss_before_kb": before,
                "rss_peak_kb": peak,
                "state_bytes": report["memory"]["state_bytes"],
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, nargs=2, default=[50_000, 200_000])
    ap.add_argument("--words", type=int, default=50)
    ap.add_argument("--child", type=int)
    ap.add_argument("--tmp")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.words, Path(args.tmp))
        return
    results = []
    for n in args.docs:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [
                sys.executable,
                __file__,
                "--child",
                str(n),
                "--words",
                str(args.words),
                "--tmp",
                tmp,
            ]
            out = (
                subprocess.run(cmd, check=True, capture_output=True, text=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            results.append(json.loads(out))
            print(out)
    a, b = results
    slope = (b["rss_peak_kb"] - a["rss_peak_kb"]) * 1024 / (b["n"] - a["n"])
    print(
        f"state bytes/doc: {b['state_bytes'] / b['n']:.0f}; peak RSS slope: {slope:.0f} bytes/doc"
    )


if __name__ == "__main__":
    main()
