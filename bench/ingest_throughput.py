"""Ingest extraction throughput on one core vs pubmed_parser, same files, same run (DESIGN §6).

    .venv/bin/python bench/ingest_throughput.py [--sample ../shared/data/pmc-oa-sample] [--repeat 5]

Ours: read bytes → safety checks/repairs → lxml parse → JATS walk (title, abstracts, body) → clean text.
pubmed_parser: ``parse_pubmed_xml`` (title, abstract, metadata) + ``parse_pubmed_paragraph(all_paragraph=True)``
(body paragraphs) on the same paths: both sides parse and produce title, abstract and body text.

Fairness: a file on which pubmed_parser raises costs it less time (it stops early and skips the body), so the
ratio is computed only over the files that BOTH sides extract successfully (found in an untimed first pass that
also warms both up); each side's failures are reported separately, with their exception types. Each repeat times
both sides on those files back to back (so load from other jobs hits both alike; who goes first alternates, and
garbage is collected before each timing). The ratio of each repeat is taken and the median over the repeats is
reported, with the median and best wall times (perf_counter) of each side; this VM's CPU-time clocks
(process_time, thread_time) were seen to exceed wall time, so they are not used.
Language ID and MinHash are timed separately, on our texts.

Ours runs as the ingest step does: with the C speedups (medllama/_speedups/, built first if missing or
stale), and the line "speedups:" says so. ``MEDLLAMA_SPEEDUPS=0`` gives the pure-Python figure (same texts).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import io
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "containers"))


def extract_one(path: Path) -> str:
    """What the ingest step does with one file, with its defaults (process.py): parse, then extract."""
    from medllama.ingest.jats import extract
    from medllama.ingest.safety import parse

    parsed = parse(path.read_bytes(), 64 << 20, cut_tables=True, mark_citations=True)
    return extract(parsed.root).text


def ours(paths: list[Path]) -> tuple[float, list[str]]:
    texts: list[str] = []
    start = time.perf_counter()
    for path in paths:
        texts.append(extract_one(path))
    return time.perf_counter() - start, texts


def theirs(paths: list[Path]) -> float:
    import pubmed_parser as pp

    start = time.perf_counter()
    for path in paths:
        pp.parse_pubmed_xml(str(path))
        pp.parse_pubmed_paragraph(str(path), all_paragraph=True)
    return time.perf_counter() - start


def triage(
    paths: list[Path],
) -> tuple[list[Path], collections.Counter, collections.Counter]:
    """Untimed pass: the files both sides extract, and each side's failures by kind."""
    import pubmed_parser as pp
    from medllama.ingest.safety import Rejected

    our_fail: collections.Counter = collections.Counter()
    their_fail: collections.Counter = collections.Counter()
    both: list[Path] = []
    for path in paths:
        ok = True
        try:
            extract_one(path)
        except Rejected as r:
            our_fail[r.reason] += 1
            ok = False
        try:
            pp.parse_pubmed_xml(str(path))
            pp.parse_pubmed_paragraph(str(path), all_paragraph=True)
        except Exception as err:  # noqa: BLE001 - pubmed_parser raises many kinds; each is counted by type
            their_fail[f"{type(err).__name__}: {str(err)[:40]}"] += 1
            ok = False
        if ok:
            both.append(path)
    return both, our_fail, their_fail


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--sample", default=str(ROOT.parent / "shared" / "data" / "pmc-oa-sample")
    )
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    paths = sorted(
        p for p in Path(args.sample).iterdir() if p.suffix in {".xml", ".nxml"}
    )
    if not paths:
        print(f"no .xml/.nxml files under {args.sample}", file=sys.stderr)
        return 2
    from medllama.speedups import ensure

    # as the step's entry point does, before the extractor is imported
    speedups = ensure()
    warnings.filterwarnings("ignore")
    with contextlib.redirect_stdout(
        io.StringIO()
    ):  # pubmed_parser prints on unreadable files
        both, our_fail, their_fail = triage(paths)
    mb = sum(p.stat().st_size for p in both) / 1e6
    print(f"files: {len(paths)} under {args.sample}")
    print(f"speedups: {speedups}")
    print(f"  ours rejected {sum(our_fail.values())}: {dict(our_fail)}")
    print(f"  pubmed_parser raised on {sum(their_fail.values())}: {dict(their_fail)}")
    print(
        f"timed: the {len(both)} files ({mb:.1f} MB) both extract; {args.repeat} interleaved repeats"
    )

    our_t: list[float] = []
    their_t: list[float] = []
    texts: list[str] = []
    for i in range(args.repeat):
        for side in (
            ("ours", "theirs") if i % 2 == 0 else ("theirs", "ours")
        ):  # alternate who goes first
            gc.collect()  # neither side pays for the other's garbage
            if side == "ours":
                t, texts = ours(both)
                our_t.append(t)
            else:
                their_t.append(theirs(both))
    ratios = [b / a for a, b in zip(our_t, their_t, strict=True)]
    n = len(both)
    for name, ts in (("ours", our_t), ("pubmed_parser", their_t)):
        med = statistics.median(ts)
        print(
            f"{name + ':':15}{n / med:8.1f} articles/s  (median {med:.3f} s, best {min(ts):.3f} s)"
        )
    print(
        f"ratio: {statistics.median(ratios):.2f}x pubmed_parser (median of {len(ratios)} repeats; "
        f"each: {', '.join(f'{r:.2f}' for r in ratios)})"
    )

    from medllama.ingest.language import detect_language

    start = time.perf_counter()
    for text in texts:
        detect_language(text)
    lang_s = time.perf_counter() - start
    print(f"language id:   {len(texts) / lang_s:8.1f} docs/s  ({lang_s:.3f} s)")
    try:
        from medllama.minhash import fingerprint
    except ImportError as err:
        print(f"minhash: not available ({err})")
        return 0
    fingerprint(texts[0])
    start = time.perf_counter()
    for text in texts:
        fingerprint(text)  # exact hash + signature, as ingest emits them
    mh_s = time.perf_counter() - start
    words = sum(len(t.split()) for t in texts)
    print(
        f"minhash+hash:  {len(texts) / mh_s:8.1f} docs/s  ({mh_s:.3f} s, {words / mh_s / 1e6:.2f} M words/s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
