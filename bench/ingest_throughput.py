"""Ingest extraction throughput on one core vs pubmed_parser, same files, same run (DESIGN §6).

    .venv/bin/python bench/ingest_throughput.py [--sample ../shared/data/pmc-oa-sample] [--repeat 3]

Ours: read bytes → safety checks/repairs → lxml parse → JATS walk (title, abstracts, body) → clean text.
pubmed_parser: ``parse_pubmed_xml`` + ``parse_pubmed_paragraph(all_paragraph=True)`` on the same paths
(its failures are counted and still timed). Language ID and MinHash are timed separately, on our texts.
Each side runs ``--repeat`` times interleaved; the best time of each is reported (least disturbed by
other load on the machine). Prints articles/s and the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "containers"))


def ours(paths: list[Path]) -> tuple[float, int, list[str]]:
    from medllama.ingest.jats import extract
    from medllama.ingest.safety import Rejected, parse

    texts: list[str] = []
    failed = 0
    start = time.perf_counter()
    for path in paths:
        try:
            doc = extract(parse(path.read_bytes(), 64 << 20).root)
            texts.append(doc.text)
        except Rejected:
            failed += 1
    return time.perf_counter() - start, failed, texts


def theirs(paths: list[Path]) -> tuple[float, int]:
    import pubmed_parser as pp

    failed = 0
    start = time.perf_counter()
    for path in paths:
        ok = False
        with contextlib.suppress(
            Exception
        ):  # pubmed_parser raises many kinds; a failure is counted, as in ours
            pp.parse_pubmed_xml(str(path))
            pp.parse_pubmed_paragraph(str(path), all_paragraph=True)
            ok = True
        failed += not ok
    return time.perf_counter() - start, failed


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--sample", default=str(ROOT.parent / "shared" / "data" / "pmc-oa-sample")
    )
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    paths = sorted(
        p for p in Path(args.sample).iterdir() if p.suffix in {".xml", ".nxml"}
    )
    if not paths:
        print(f"no .xml/.nxml files under {args.sample}", file=sys.stderr)
        return 2
    mb = sum(p.stat().st_size for p in paths) / 1e6
    warnings.filterwarnings("ignore")

    best_ours = best_theirs = float("inf")
    their_failed = our_failed = 0
    texts: list[str] = []
    for _ in range(args.repeat):
        t, our_failed, texts = ours(paths)
        best_ours = min(best_ours, t)
        with contextlib.redirect_stdout(io.StringIO()):
            t, their_failed = theirs(paths)
        best_theirs = min(best_theirs, t)
    n = len(paths)
    print(f"files: {n} ({mb:.1f} MB) from {args.sample}")
    print(
        f"ours:          {n / best_ours:8.1f} articles/s  ({best_ours:.3f} s, {our_failed} rejected as unparseable)"
    )
    print(
        f"pubmed_parser: {n / best_theirs:8.1f} articles/s  ({best_theirs:.3f} s, {their_failed} raised)"
    )
    print(f"ratio: {best_theirs / best_ours:.2f}x pubmed_parser")

    from medllama.ingest.language import detect_language

    start = time.perf_counter()
    for text in texts:
        detect_language(text)
    lang_s = time.perf_counter() - start
    print(f"language id:   {len(texts) / lang_s:8.1f} docs/s  ({lang_s:.3f} s)")
    try:
        from medllama.minhash import exact_hash, signature
    except ImportError as err:
        print(f"minhash: not available ({err})")
        return 0
    signature(texts[0])
    start = time.perf_counter()
    for text in texts:
        exact_hash(text)
        signature(text)
    mh_s = time.perf_counter() - start
    words = sum(len(t.split()) for t in texts)
    print(
        f"minhash+hash:  {len(texts) / mh_s:8.1f} docs/s  ({mh_s:.3f} s, {words / mh_s / 1e6:.2f} M words/s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
