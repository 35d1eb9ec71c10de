"""Statistics for base-vs-tuned comparisons: bootstrap CIs over documents/items, paired tests, F1.

Everything is a pure function of numpy arrays and a seed, so the same inputs give the same numbers.
Conventions:
- 95% percentile bootstrap CIs (2.5th and 97.5th percentiles of the replicate statistic).
- A paired bootstrap resamples the *same* indices for base and tuned, so document difficulty cancels.
- Two-sided bootstrap p-value for "difference = 0": 2·min(P(d* ≤ 0), P(d* ≥ 0)) with the (k+1)/(B+1)
  correction, so it is never exactly 0. Its floor is 2/(B+1) (:func:`p_value_floor`): every estimate with a
  p-value also carries its floor, so a p-value at the floor reads as "at most this", not as a measurement.
- The resampling unit is whatever the arrays index: documents, items, or (for general text) source files, whose
  documents are pooled first (:func:`medllama.evaluate.perplexity.pool_by_unit`). For a ratio of sums, resampling
  pooled units *is* the cluster bootstrap.
- McNemar on the discordant pairs b (base right, tuned wrong) and c (base wrong, tuned right): the exact
  binomial test and the chi-square test with continuity correction (Edwards 1948).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

CHUNK = 64  # bootstrap replicates drawn per block, to bound memory at CHUNK × n


def bootstrap_counts(n: int, samples: int, seed: int) -> Iterator[np.ndarray]:
    """Yields blocks of resampling counts (shape ``[k, n]``, each row sums to ``n``): row r says how many
    times each item appears in replicate r. Seeded, so the blocks are the same on every run."""
    if n < 1:
        raise ValueError("bootstrap needs at least one item")
    rng = np.random.default_rng(seed)
    done = 0
    probs = np.full(n, 1.0 / n)
    while done < samples:
        k = min(CHUNK, samples - done)
        yield rng.multinomial(n, probs, size=k).astype(np.float64)
        done += k


def percentile_ci(replicates: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(replicates, [2.5, 97.5])
    return float(lo), float(hi)


def p_value_floor(samples: int) -> float:
    """The smallest p-value :func:`bootstrap_p_value` can give with ``samples`` replicates: 2/(B+1)."""
    return min(1.0, 2.0 / (samples + 1))


def bootstrap_p_value(replicates: np.ndarray, null: float = 0.0) -> float:
    """Two-sided p-value that the statistic equals ``null`` from its bootstrap distribution."""
    b = len(replicates)
    below = int(np.sum(replicates <= null))
    above = int(np.sum(replicates >= null))
    return float(min(1.0, 2.0 * (min(below, above) + 1) / (b + 1)))


@dataclass(frozen=True)
class Estimate:
    value: float
    ci95: tuple[float, float]
    p_value: float | None = None
    p_value_floor: float | None = None  # 2/(B+1): a p_value equal to it means "p <= floor"

    def to_json(self) -> dict:
        out: dict = {"value": self.value, "ci95": [self.ci95[0], self.ci95[1]]}
        if self.p_value is not None:
            out["p_value"] = self.p_value
            out["p_value_floor"] = self.p_value_floor
        return out


def _tested(value: float, replicates: np.ndarray) -> Estimate:
    """An estimate of a difference: percentile CI, two-sided p-value for 0, and that p-value's floor."""
    return Estimate(value, percentile_ci(replicates), bootstrap_p_value(replicates), p_value_floor(len(replicates)))


def bootstrap_ratio_of_sums(
    numerators: Sequence[float] | np.ndarray,
    denominators: Sequence[float] | np.ndarray,
    transform: Callable[[np.ndarray], np.ndarray],
    samples: int,
    seed: int,
) -> Estimate:
    """Statistic ``transform(sum(num) / sum(den))`` with a bootstrap CI over items.

    Corpus perplexity is ``exp(Σ nll / Σ tokens)``: resampling documents keeps each document's tokens
    together, which is what a CI "over documents" means."""
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    value = float(transform(np.array([num.sum() / den.sum()]))[0])
    reps = []
    for counts in bootstrap_counts(len(num), samples, seed):
        reps.append(transform((counts @ num) / (counts @ den)))
    return Estimate(value, percentile_ci(np.concatenate(reps)))


def paired_bootstrap_relative_change(
    num_a: np.ndarray, num_b: np.ndarray, den: np.ndarray, samples: int, seed: int
) -> tuple[Estimate, Estimate]:
    """For corpus perplexities ``A = exp(Σa/Σden)``, ``B = exp(Σb/Σden)`` over the same items:

    returns (improvement = (A - B) / A, regression = (B - A) / A) with paired bootstrap CIs and
    p-values. The two are negatives of each other; both are given for readable reports."""
    num_a = np.asarray(num_a, dtype=np.float64)
    num_b = np.asarray(num_b, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)

    def improvement(sa: np.ndarray, sb: np.ndarray, sd: np.ndarray) -> np.ndarray:
        # (A - B) / A = 1 - exp((Σb - Σa) / Σden): stable even when A is huge.
        return -np.expm1((sb - sa) / sd)

    value = float(improvement(np.array([num_a.sum()]), np.array([num_b.sum()]), np.array([den.sum()]))[0])
    reps = []
    for counts in bootstrap_counts(len(den), samples, seed):
        reps.append(improvement(counts @ num_a, counts @ num_b, counts @ den))
    r = np.concatenate(reps)
    improved = _tested(value, r)
    lo, hi = improved.ci95
    return improved, Estimate(-value, (-hi, -lo), improved.p_value, improved.p_value_floor)


def paired_bootstrap_ratio_difference(
    num_a: np.ndarray, num_b: np.ndarray, den: np.ndarray, samples: int, seed: int
) -> Estimate:
    """``Σb/Σden - Σa/Σden`` (e.g. the change in bits per byte) with a paired bootstrap CI and p-value."""
    num_a = np.asarray(num_a, dtype=np.float64)
    num_b = np.asarray(num_b, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    value = float((num_b.sum() - num_a.sum()) / den.sum())
    reps = np.concatenate(
        [(counts @ num_b - counts @ num_a) / (counts @ den) for counts in bootstrap_counts(len(den), samples, seed)]
    )
    return _tested(value, reps)


def bootstrap_median(values: Sequence[float] | np.ndarray, samples: int, seed: int) -> Estimate:
    v = np.asarray(values, dtype=np.float64)
    reps = []
    for block in bootstrap_counts(len(v), samples, seed):
        for counts in block:
            reps.append(np.median(np.repeat(v, counts.astype(np.int64))))
    return Estimate(float(np.median(v)), percentile_ci(np.asarray(reps)))


def bootstrap_mean(values: Sequence[float] | np.ndarray, samples: int, seed: int) -> Estimate:
    v = np.asarray(values, dtype=np.float64)
    reps = [(counts @ v) / len(v) for counts in bootstrap_counts(len(v), samples, seed)]
    return Estimate(float(v.mean()), percentile_ci(np.concatenate(reps)))


def paired_bootstrap_mean_difference(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, samples: int, seed: int
) -> Estimate:
    """mean(b) - mean(a) over paired items, with a paired bootstrap CI and two-sided p-value."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    reps = np.concatenate([(counts @ d) / len(d) for counts in bootstrap_counts(len(d), samples, seed)])
    return _tested(float(d.mean()), reps)


def _task_mean_replicates(groups: Sequence[np.ndarray], samples: int, seed: int) -> np.ndarray:
    """Bootstrap replicates of the mean over groups of each group's mean, items resampled within each group
    (group k uses seed ``seed + k``, so the draws are fixed per group and independent between groups)."""
    if not groups:
        raise ValueError("no groups")
    total = np.zeros(samples, dtype=np.float64)
    for k, values in enumerate(groups):
        reps = np.concatenate(
            [(counts @ values) / len(values) for counts in bootstrap_counts(len(values), samples, seed + k)]
        )
        total += reps
    return total / len(groups)


def bootstrap_task_mean(groups: Sequence[Sequence[float] | np.ndarray], samples: int, seed: int) -> Estimate:
    """The mean of per-group means (each task weighs the same), with a bootstrap CI that resamples items within
    each group."""
    arrays = [np.asarray(g, dtype=np.float64) for g in groups]
    value = float(np.mean([a.mean() for a in arrays]))
    return Estimate(value, percentile_ci(_task_mean_replicates(arrays, samples, seed)))


def paired_bootstrap_task_mean_difference(
    a: Sequence[Sequence[float] | np.ndarray], b: Sequence[Sequence[float] | np.ndarray], samples: int, seed: int
) -> Estimate:
    """mean over groups of (mean(b_k) − mean(a_k)), paired within each group's items, with a bootstrap CI and a
    two-sided p-value that resample items within each group."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} groups vs {len(b)}")
    diffs = []
    for x, y in zip(a, b, strict=True):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if x.shape != y.shape:
            raise ValueError("paired groups must have the same items")
        diffs.append(y - x)
    value = float(np.mean([d.mean() for d in diffs]))
    return _tested(value, _task_mean_replicates(diffs, samples, seed))


def binomial_two_sided_p(k: int, n: int) -> float:
    """Exact two-sided binomial test of ``k`` successes in ``n`` trials at p = 1/2 (sign test)."""
    if n == 0:
        return 1.0
    m = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(m + 1))
    return min(1.0, 2 * tail / 2**n)


@dataclass(frozen=True)
class McNemar:
    b: int  # base correct, tuned wrong
    c: int  # base wrong, tuned correct
    exact_p: float
    chi2: float
    chi2_p: float

    def to_json(self) -> dict:
        return {
            "base_only_correct": self.b,
            "tuned_only_correct": self.c,
            "exact_p": self.exact_p,
            "chi2_corrected": self.chi2,
            "chi2_p": self.chi2_p,
        }


def mcnemar(b: int, c: int) -> McNemar:
    """McNemar's test from the discordant counts. With b + c = 0 the models agree everywhere: p = 1."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b} c={c}")
    n = b + c
    exact = binomial_two_sided_p(min(b, c), n)
    if n == 0:
        return McNemar(b, c, 1.0, 0.0, 1.0)
    chi2 = (abs(b - c) - 1) ** 2 / n if abs(b - c) >= 1 else 0.0
    # survival function of chi-square with 1 degree of freedom
    chi2_p = math.erfc(math.sqrt(chi2 / 2))
    return McNemar(b, c, exact, chi2, chi2_p)


def mcnemar_from_correct(base_correct: Sequence[bool], tuned_correct: Sequence[bool]) -> McNemar:
    if len(base_correct) != len(tuned_correct):
        raise ValueError("paired outcomes must have the same length")
    b = sum(1 for x, y in zip(base_correct, tuned_correct, strict=True) if x and not y)
    c = sum(1 for x, y in zip(base_correct, tuned_correct, strict=True) if y and not x)
    return mcnemar(b, c)


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    if len(gold) != len(pred) or not gold:
        raise ValueError("accuracy needs equally long, non-empty gold and prediction lists")
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Unweighted mean of per-class F1. Classes: ``labels`` if given, else those in gold ∪ pred (as
    scikit-learn's ``f1_score(average="macro")``, which PubMedQA's official evaluation.py uses).
    A class with no true positives has F1 = 0."""
    if len(gold) != len(pred) or not gold:
        raise ValueError("macro_f1 needs equally long, non-empty gold and prediction lists")
    classes = sorted(set(labels) if labels is not None else set(gold) | set(pred))
    scores = []
    for cls in classes:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == cls and p == cls)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != cls and p == cls)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == cls and p != cls)
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores)


def _encode(gold: Sequence[str], *preds: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray], int]:
    classes = sorted(set(gold).union(*[set(p) for p in preds]))
    index = {c: i for i, c in enumerate(classes)}
    return (
        np.array([index[g] for g in gold], dtype=np.int64),
        [np.array([index[x] for x in p], dtype=np.int64) for p in preds],
        len(classes),
    )


def _weighted_macro_f1(weights: np.ndarray, gold: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Macro-F1 of each replicate (row of ``weights`` = how often each item is drawn), vectorized.
    A class counts in a replicate when it occurs in that replicate's gold or predictions."""
    f1s, present = [], []
    for c in range(k):
        g, p = gold == c, pred == c
        tp = weights @ (g & p)
        fp = weights @ (~g & p)
        fn = weights @ (g & ~p)
        f1s.append(np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1e-300), 0.0))
        present.append((weights @ (g | p)) > 0)
    f1 = np.stack(f1s, axis=1)
    mask = np.stack(present, axis=1)
    return (f1 * mask).sum(axis=1) / mask.sum(axis=1)


def bootstrap_macro_f1(gold: Sequence[str], pred: Sequence[str], samples: int, seed: int) -> Estimate:
    """Macro-F1 with a bootstrap CI over items."""
    g, (p,), k = _encode(gold, pred)
    reps = [_weighted_macro_f1(counts, g, p, k) for counts in bootstrap_counts(len(g), samples, seed)]
    return Estimate(macro_f1(gold, pred), percentile_ci(np.concatenate(reps)))


def paired_bootstrap_macro_f1_difference(
    gold: Sequence[str], pred_a: Sequence[str], pred_b: Sequence[str], samples: int, seed: int
) -> Estimate:
    """macro_f1(b) - macro_f1(a) with the same resampled items for both, CI and two-sided p-value."""
    g, (a, b), k = _encode(gold, pred_a, pred_b)
    reps = [
        _weighted_macro_f1(counts, g, b, k) - _weighted_macro_f1(counts, g, a, k)
        for counts in bootstrap_counts(len(g), samples, seed)
    ]
    r = np.concatenate(reps)
    return _tested(macro_f1(gold, pred_b) - macro_f1(gold, pred_a), r)
