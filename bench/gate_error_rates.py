"""False-pass and false-fail rates of the quality gate's rules at the real set sizes (docs/evaluation.md).

    .venv/bin/python bench/gate_error_rates.py [--sims 2000] [--bootstrap 10000] [--seed 17] [--smoke]

Each rule is simulated as Evaluate applies it: the same bootstrap counts (``stats.bootstrap_counts`` with Evaluate's
default seed, so the very replicates a run would draw), the same statistics and the same percentile bound; only the
data are simulated. For each true effect the script prints how often the rule passes, for the current rule (the
conservative CI bound) and for the old one (the point estimate):

- false pass: P(pass) when the true value is on the wrong side of the threshold (at the threshold itself, the
  largest false-pass rate any worse model can have);
- false fail: P(fail) = 1 - P(pass) when the true value is on the right side.

Set sizes: the PMC test split the defaults produce (TestFraction 0.01 of ~5M kept articles, capped at dedup's
max_test_docs 2000: 2000 documents), PubMedQA's 500 test items, the project's general-text set (22 files x 4
paragraphs, 135 tokens each on average). What the data look like is an assumption, stated in the flags:

- PMC: tokens per document log-normal (median 5800, sigma 0.8: a mean of 8000, as 45B tokens over 5.6M articles);
  the per-document change in loss (nats per token) is normal around the true mean with sd ``--doc-sd``.
- PubMedQA: paired yes/no correctness; ``--discordance`` is the share of items exactly one model gets right.
- General text: the change in loss of a paragraph is the true mean + a topic effect shared by its file (sd
  ``--topic-sd``) + its own noise (sd ``--paragraph-sd``); the script also prints the coverage of the 95% CI when
  the bootstrap resamples files (what Evaluate does) or paragraphs (what it did before).

A real run's test-documents.jsonl (per-document NLL of both models) gives the actual spread to rerun with.
Deterministic: the simulated data come from ``--seed``; ``--smoke`` is a seconds-long run on small sizes that also
checks the vectorized rules against medllama.evaluate's own functions (used by the tests).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from medllama.evaluate import stats
from medllama.evaluate.gate import Thresholds

EVALUATE_SEED = (
    1234  # medllama.evaluate's default --seed: the bootstrap counts a run draws
)
PMC_DOCUMENTS = 2000
PUBMEDQA_ITEMS = 500
GENERAL_FILES, GENERAL_PARAGRAPHS_PER_FILE, GENERAL_TOKENS_PER_PARAGRAPH = 22, 4, 135
SIM_CHUNK = 200  # simulated data sets per matrix product (bounds memory at bootstrap x SIM_CHUNK)


@dataclass(frozen=True)
class Bounds:
    """Point value and the 2.5th / 97.5th percentiles of the bootstrap replicates, one entry per simulated set."""

    value: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def counts_matrix(n: int, samples: int, seed: int = EVALUATE_SEED) -> np.ndarray:
    """The resampling counts Evaluate draws for ``n`` units, as one (samples, n) matrix."""
    return np.vstack(list(stats.bootstrap_counts(n, samples, seed)))


def _percentiles(reps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.percentile(reps, [2.5, 97.5], axis=0)
    return lo, hi


def improvement_bounds(
    counts: np.ndarray, base: np.ndarray, tuned: np.ndarray, tokens: np.ndarray
) -> Bounds:
    """(PPL_base - PPL_tuned) / PPL_base of each column (units x sims), with the paired percentile CI
    (``stats.paired_bootstrap_relative_change``, vectorized over simulated sets)."""
    value = -np.expm1((tuned.sum(0) - base.sum(0)) / tokens.sum(0))
    reps = -np.expm1((counts @ tuned - counts @ base) / (counts @ tokens))
    return Bounds(value, *_percentiles(reps))


def mean_difference_bounds(counts: np.ndarray, diff: np.ndarray) -> Bounds:
    """Mean of each column of ``diff`` with the percentile CI (``stats.paired_bootstrap_mean_difference``)."""
    n = diff.shape[0]
    return Bounds(diff.mean(0), *_percentiles((counts @ diff) / n))


def in_chunks(sims: int, run: Callable[[int], Bounds]) -> Bounds:
    parts = [run(min(SIM_CHUNK, sims - start)) for start in range(0, sims, SIM_CHUNK)]
    return Bounds(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ("value", "lo", "hi"))
    )


# --- simulated data ------------------------------------------------------------------------------------------


def pmc_sets(
    rng: np.random.Generator, n: int, improvement: float, doc_sd: float, sims: int
):
    """Per-document NLL of base and tuned and scored tokens (each n x sims) for a true corpus improvement."""
    tokens = np.rint(rng.lognormal(math.log(5800), 0.8, (n, sims))) + 1
    base_loss = rng.normal(1.9, 0.3, (n, sims))
    gain = rng.normal(
        -math.log1p(-improvement), doc_sd, (n, sims)
    )  # nats per token the tuned model saves
    return tokens * base_loss, tokens * (base_loss - gain), tokens


def pubmedqa_sets(
    rng: np.random.Generator, n: int, delta: float, discordance: float, sims: int
) -> np.ndarray:
    """tuned_correct - base_correct per item (n x sims) for a true accuracy delta and discordance rate."""
    tuned_only, base_only = (discordance + delta) / 2, (discordance - delta) / 2
    if min(tuned_only, base_only) < 0:
        raise ValueError(f"discordance {discordance} cannot hold a delta of {delta}")
    u = rng.random((n, sims))
    return (u < tuned_only).astype(np.float64) - (
        (u >= tuned_only) & (u < tuned_only + base_only)
    )


def general_sets(
    rng: np.random.Generator,
    regression: float,
    topic_sd: float,
    paragraph_sd: float,
    sims: int,
):
    """Per-paragraph NLL of base and tuned and tokens (paragraphs x sims), paragraphs grouped by file."""
    shape = (GENERAL_FILES * GENERAL_PARAGRAPHS_PER_FILE, sims)
    tokens = np.full(shape, float(GENERAL_TOKENS_PER_PARAGRAPH))
    base_loss = rng.normal(2.2, 0.3, shape)
    topic = np.repeat(
        rng.normal(0.0, topic_sd, (GENERAL_FILES, sims)),
        GENERAL_PARAGRAPHS_PER_FILE,
        axis=0,
    )
    rise = math.log1p(regression) + topic + rng.normal(0.0, paragraph_sd, shape)
    return tokens * base_loss, tokens * (base_loss + rise), tokens


def by_file(values: np.ndarray) -> np.ndarray:
    """Paragraph rows summed per file (the pooling medllama.evaluate.perplexity.pool_by_unit does)."""
    return values.reshape(GENERAL_FILES, GENERAL_PARAGRAPHS_PER_FILE, -1).sum(1)


# --- the rules ------------------------------------------------------------------------------------------------


def rate(passed: np.ndarray) -> float:
    return float(np.mean(passed))


def pmc_row(
    args, counts, improvement: float, doc_sd: float, threshold: float, rng
) -> tuple[float, float]:
    """(P(pass) bound rule, P(pass) point rule) of the perplexity check at a true improvement."""

    def run(k: int) -> Bounds:
        return improvement_bounds(
            counts, *pmc_sets(rng, PMC_DOCUMENTS, improvement, doc_sd, k)
        )

    b = in_chunks(args.sims, run)
    return rate(b.lo >= threshold), rate(b.value >= threshold)


def pubmedqa_row(
    args, counts, delta: float, discordance: float, threshold: float, rng
) -> tuple[float, float]:
    """(P(pass) bound rule, P(pass) point rule) of the PubMedQA check at a true accuracy delta."""

    def run(k: int) -> Bounds:
        return mean_difference_bounds(
            counts, pubmedqa_sets(rng, PUBMEDQA_ITEMS, delta, discordance, k)
        )

    b = in_chunks(args.sims, run)
    return rate(b.lo >= threshold), rate(b.value >= threshold)


def general_row(
    args, counts_files, counts_paragraphs, regression: float, threshold: float, rng
):
    """(P(pass) bound rule, P(pass) point rule, CI coverage resampling files, coverage resampling paragraphs)."""
    truth = regression
    files, paragraphs = [], []

    def run(k: int) -> Bounds:
        base, tuned, tokens = general_sets(
            rng, regression, args.topic_sd, args.paragraph_sd, k
        )
        paragraphs.append(improvement_bounds(counts_paragraphs, base, tuned, tokens))
        files.append(
            improvement_bounds(
                counts_files, by_file(base), by_file(tuned), by_file(tokens)
            )
        )
        return files[-1]

    b = in_chunks(args.sims, run)
    p = Bounds(
        *(
            np.concatenate([getattr(x, f) for x in paragraphs])
            for f in ("value", "lo", "hi")
        )
    )
    upper = (
        -b.lo
    )  # regression = -improvement: its upper bound is minus the improvement's lower one

    def coverage(x: Bounds) -> float:
        return rate((-x.hi <= truth) & (truth <= -x.lo))

    return (
        rate(upper <= threshold),
        rate(-b.value <= threshold),
        coverage(b),
        coverage(p),
    )


# --- output ---------------------------------------------------------------------------------------------------


def verdict(true_value: float, threshold: float, side: str) -> str:
    good = true_value >= threshold if side == "lower" else true_value <= threshold
    if math.isclose(true_value, threshold, abs_tol=1e-12):
        return "false pass (at the threshold)"
    return "false fail" if good else "false pass"


def error(p_pass: float, kind: str) -> float:
    return 1.0 - p_pass if kind == "false fail" else p_pass


def table(head: Sequence[str], rows: list[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(head) + " |",
        "| " + " | ".join("---" for _ in head) + " |",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def gate_rows(values, threshold, side, run) -> list[list[str]]:
    rows = []
    for v in values:
        bound_pass, point_pass, *_ = run(v)
        kind = verdict(v, threshold, side)
        rows.append(
            [
                f"{v:+.3f}",
                kind,
                pct(error(bound_pass, kind)),
                pct(error(point_pass, kind)),
            ]
        )
    return rows


HEAD = (
    "true value",
    "error if passed / failed",
    "rate: bound rule (current)",
    "rate: point rule (before)",
)


def perplexity_tables(args, t: Thresholds, rng: np.random.Generator) -> None:
    counts = counts_matrix(PMC_DOCUMENTS, args.bootstrap)
    threshold = t.min_perplexity_improvement
    improvements = (
        [0.04, 0.06] if args.smoke else [0.03, 0.04, 0.045, 0.05, 0.055, 0.06, 0.07]
    )
    for sd in args.doc_sd:
        print(
            f"## perplexity_improvement >= {threshold:g}: {PMC_DOCUMENTS} PMC test documents, "
            f"per-document sd {sd:g} nats\n"
        )
        rows = gate_rows(
            improvements,
            threshold,
            "lower",
            lambda v, sd=sd: pmc_row(args, counts, v, sd, threshold, rng),
        )
        print(table(HEAD, rows) + "\n")


def pubmedqa_tables(args, t: Thresholds, rng: np.random.Generator) -> None:
    counts = counts_matrix(PUBMEDQA_ITEMS, args.bootstrap)
    threshold = t.min_pubmedqa_delta
    deltas = (
        [-0.06, 0.0]
        if args.smoke
        else [-0.08, -0.06, -0.05, -0.04, -0.02, 0.0, 0.02, 0.04]
    )
    for q in args.discordance:
        print(
            f"## pubmedqa_delta >= {threshold:g} (non-inferiority, margin {-threshold:g}): "
            f"{PUBMEDQA_ITEMS} items, discordance {q:g}\n"
        )
        rows = gate_rows(
            deltas,
            threshold,
            "lower",
            lambda v, q=q: pubmedqa_row(args, counts, v, q, threshold, rng),
        )
        print(table(HEAD, rows) + "\n")
    gain, q = 0.02, args.discordance[0]
    print(
        f"## pubmedqa_delta >= +{gain:g} (superiority, margin {gain:g}): {PUBMEDQA_ITEMS} items, discordance {q:g}\n"
    )
    gains = [0.06] if args.smoke else [0.0, 0.02, 0.04, 0.06, 0.08]
    rows = gate_rows(
        gains, gain, "lower", lambda v: pubmedqa_row(args, counts, v, q, gain, rng)
    )
    print(table(HEAD, rows) + "\n")


def general_table(args, t: Thresholds, rng: np.random.Generator) -> None:
    counts_files = counts_matrix(GENERAL_FILES, args.bootstrap)
    counts_paragraphs = counts_matrix(
        GENERAL_FILES * GENERAL_PARAGRAPHS_PER_FILE, args.bootstrap
    )
    threshold = t.max_general_regression
    print(
        f"## general_regression <= {threshold:g}: {GENERAL_FILES} files x {GENERAL_PARAGRAPHS_PER_FILE} paragraphs, "
        f"topic sd {args.topic_sd:g}, paragraph sd {args.paragraph_sd:g} nats\n"
    )
    rows = []
    for v in [0.0, 0.05] if args.smoke else [0.0, 0.01, 0.02, 0.025, 0.03, 0.04, 0.05]:
        bound_pass, point_pass, cover_files, cover_paragraphs = general_row(
            args, counts_files, counts_paragraphs, v, threshold, rng
        )
        kind = verdict(v, threshold, "upper")
        rates = (
            error(bound_pass, kind),
            error(point_pass, kind),
            cover_files,
            cover_paragraphs,
        )
        rows.append([f"{v:+.3f}", kind, *map(pct, rates)])
    print(
        table([*HEAD, "95% CI coverage: files", "95% CI coverage: paragraphs"], rows)
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sims", type=int, default=2000, help="simulated evaluations per true value"
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=10000,
        help="bootstrap replicates (Evaluate's default)",
    )
    parser.add_argument(
        "--seed", type=int, default=17, help="seed of the simulated data"
    )
    parser.add_argument(
        "--doc-sd",
        type=float,
        nargs="+",
        default=[0.06, 0.12],
        help="PMC per-document sd (nats)",
    )
    parser.add_argument(
        "--discordance",
        type=float,
        nargs="+",
        default=[0.15, 0.30],
        help="PubMedQA discordance",
    )
    parser.add_argument(
        "--topic-sd", type=float, default=0.03, help="general text: per-file sd (nats)"
    )
    parser.add_argument(
        "--paragraph-sd",
        type=float,
        default=0.03,
        help="general text: per-paragraph sd (nats)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="small sizes, and check the rules against Evaluate's",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.sims, args.bootstrap = 40, 400
    started = time.monotonic()
    rng = np.random.default_rng(args.seed)
    if args.smoke:
        check_against_evaluate(args.bootstrap, rng)
    print(
        f"# Gate error rates: {args.sims} simulated evaluations per row, {args.bootstrap} bootstrap replicates "
        f"(Evaluate's seed {EVALUATE_SEED}), data seed {args.seed}; Monte Carlo standard error <= "
        f"{pct(0.5 / math.sqrt(args.sims))}\n"
    )
    thresholds = Thresholds()
    perplexity_tables(args, thresholds, rng)
    pubmedqa_tables(args, thresholds, rng)
    general_table(args, thresholds, rng)
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


def check_against_evaluate(samples: int, rng: np.random.Generator) -> None:
    """The vectorized rules equal medllama.evaluate's own statistics on the same data (raises AssertionError)."""
    from medllama.evaluate.general import general_section
    from medllama.evaluate.perplexity import DocumentScore
    from medllama.evaluate.report import perplexity_comparison

    def scores(nll: np.ndarray, tokens: np.ndarray, prefix: str) -> list[DocumentScore]:
        return [
            DocumentScore(f"{prefix}{i:03d}", float(x), int(t), 4 * int(t), 1)
            for i, (x, t) in enumerate(zip(nll, tokens, strict=True))
        ]

    base, tuned, tokens = pmc_sets(rng, 60, 0.05, 0.06, 2)
    mine = improvement_bounds(counts_matrix(60, samples), base, tuned, tokens)
    for s in range(2):
        theirs = perplexity_comparison(
            scores(base[:, s], tokens[:, s], "d"),
            scores(tuned[:, s], tokens[:, s], "d"),
            samples=samples,
            seed=EVALUATE_SEED,
        )["improvement"]
        assert np.allclose(
            [mine.value[s], mine.lo[s], mine.hi[s]],
            [theirs["value"], *theirs["ci95"]],
            rtol=1e-12,
        )
    diff = pubmedqa_sets(rng, 80, -0.02, 0.2, 2)
    mine = mean_difference_bounds(counts_matrix(80, samples), diff)
    for s in range(2):
        base_correct = (diff[:, s] < 0).astype(float)
        theirs = stats.paired_bootstrap_mean_difference(
            base_correct, base_correct + diff[:, s], samples, EVALUATE_SEED
        )
        assert np.allclose(
            [mine.value[s], mine.lo[s], mine.hi[s]],
            [theirs.value, *theirs.ci95],
            rtol=1e-12,
        )
    base, tuned, tokens = general_sets(rng, 0.01, 0.03, 0.03, 1)
    mine = improvement_bounds(
        counts_matrix(GENERAL_FILES, samples),
        by_file(base),
        by_file(tuned),
        by_file(tokens),
    )
    sources = [
        f"f{i // GENERAL_PARAGRAPHS_PER_FILE:02d}.txt" for i in range(base.shape[0])
    ]
    theirs = general_section(
        scores(base[:, 0], tokens[:, 0], "p"),
        scores(tuned[:, 0], tokens[:, 0], "p"),
        sources,
        samples=samples,
        seed=EVALUATE_SEED,
    )["regression"]
    assert np.allclose(
        [-mine.value[0], -mine.hi[0], -mine.lo[0]],
        [theirs["value"], *theirs["ci95"]],
        rtol=1e-12,
    )
    print(
        "checked: the simulated rules equal medllama.evaluate's statistics on the same data",
        file=sys.stderr,
    )


if __name__ == "__main__":
    raise SystemExit(main())
