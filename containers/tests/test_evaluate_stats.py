"""Known-answer tests for medllama.evaluate.stats (textbook values computed by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medllama.evaluate import stats


def test_mcnemar_textbook_b10_c2() -> None:
    # exact: 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * (1 + 12 + 66) / 4096 = 79 / 2048
    result = stats.mcnemar(10, 2)
    assert result.exact_p == pytest.approx(79 / 2048, abs=1e-15)
    # continuity-corrected chi-square: (|10 - 2| - 1)^2 / 12 = 49 / 12; p = P(chi2_1 > 4.0833) = 0.04331
    assert result.chi2 == pytest.approx(49 / 12)
    assert result.chi2_p == pytest.approx(0.043308, abs=1e-5)
    assert stats.mcnemar(2, 10).exact_p == result.exact_p  # symmetric


def test_mcnemar_degenerate_and_balanced() -> None:
    assert stats.mcnemar(0, 0).exact_p == 1.0
    assert stats.mcnemar(0, 0).chi2_p == 1.0
    assert stats.mcnemar(5, 5).exact_p == 1.0
    # b=0, c=6: 2 * 0.5^6
    assert stats.mcnemar(0, 6).exact_p == pytest.approx(2 / 64)
    with pytest.raises(ValueError):
        stats.mcnemar(-1, 3)


def test_mcnemar_from_paired_outcomes() -> None:
    base = [True, True, False, False, True]
    tuned = [True, False, True, True, True]
    m = stats.mcnemar_from_correct(base, tuned)
    assert (m.b, m.c) == (1, 2)


def test_sign_test() -> None:
    assert stats.binomial_two_sided_p(0, 5) == pytest.approx(2 / 32)
    assert stats.binomial_two_sided_p(5, 10) == 1.0
    assert stats.binomial_two_sided_p(0, 0) == 1.0


def test_accuracy_and_macro_f1_by_hand() -> None:
    gold = ["yes", "no", "maybe", "yes", "no", "yes"]
    pred = ["yes", "no", "yes", "no", "no", "yes"]
    assert stats.accuracy(gold, pred) == pytest.approx(4 / 6)
    # yes: tp 2 fp 1 fn 1 -> 4/6; no: tp 2 fp 1 fn 0 -> 4/5; maybe: tp 0 -> 0
    assert stats.macro_f1(gold, pred) == pytest.approx((4 / 6 + 4 / 5 + 0) / 3)
    # a label set restricts / extends the classes (sklearn labels=)
    assert stats.macro_f1(["yes", "no"], ["yes", "no"]) == 1.0
    assert stats.macro_f1(["yes", "no"], ["yes", "no"], labels=["yes", "no", "maybe"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        stats.macro_f1([], [])


def test_vectorized_macro_f1_matches_plain() -> None:
    rng = np.random.default_rng(0)
    labels = ["yes", "no", "maybe"]
    gold = [labels[i] for i in rng.integers(0, 3, 60)]
    pred = [labels[i] for i in rng.integers(0, 3, 60)]
    g, (p,), k = stats._encode(gold, pred)
    ones = np.ones((1, len(gold)))
    assert stats._weighted_macro_f1(ones, g, p, k)[0] == pytest.approx(stats.macro_f1(gold, pred))
    # weights = a resample: compare with the metric on the explicitly repeated lists
    counts = rng.multinomial(len(gold), np.full(len(gold), 1 / len(gold)))
    idx = np.repeat(np.arange(len(gold)), counts)
    expected = stats.macro_f1([gold[i] for i in idx], [pred[i] for i in idx])
    assert stats._weighted_macro_f1(counts[None, :].astype(float), g, p, k)[0] == pytest.approx(expected)


def test_bootstrap_constant_data_has_zero_width_ci() -> None:
    est = stats.bootstrap_mean([3.0] * 20, samples=500, seed=1)
    assert est.value == 3.0
    assert est.ci95 == pytest.approx((3.0, 3.0))


def test_bootstrap_mean_matches_normal_theory() -> None:
    # textbook: the 95% CI of a mean of n iid N(0,1) is about mean ± 1.96 / sqrt(n)
    x = np.random.default_rng(42).standard_normal(400)
    est = stats.bootstrap_mean(x, samples=4000, seed=7)
    half = (est.ci95[1] - est.ci95[0]) / 2
    assert half == pytest.approx(1.96 * x.std(ddof=1) / math.sqrt(len(x)), rel=0.1)
    assert est.ci95[0] < x.mean() < est.ci95[1]


def test_bootstrap_is_seeded() -> None:
    x = np.arange(30, dtype=float)
    assert stats.bootstrap_mean(x, 300, seed=5) == stats.bootstrap_mean(x, 300, seed=5)
    assert stats.bootstrap_mean(x, 300, seed=5).ci95 != stats.bootstrap_mean(x, 300, seed=6).ci95


def test_paired_bootstrap_detects_a_clear_difference_and_not_a_null_one() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=200)
    clear = stats.paired_bootstrap_mean_difference(a, a + 0.5 + rng.normal(scale=0.1, size=200), 1000, seed=1)
    assert clear.value == pytest.approx(0.5, abs=0.05)
    assert clear.p_value is not None and clear.p_value < 0.01
    assert clear.ci95[0] > 0
    same = stats.paired_bootstrap_mean_difference(a, a, 1000, seed=1)
    assert same.value == 0.0 and same.p_value == 1.0


def test_paired_relative_change_of_perplexity() -> None:
    # base nll/token = ln 8 everywhere, tuned = ln 6: ppl 8 -> 6, improvement 0.25, regression -0.25
    tokens = np.array([10.0, 20.0, 30.0])
    base = tokens * math.log(8)
    tuned = tokens * math.log(6)
    imp, reg = stats.paired_bootstrap_relative_change(base, tuned, tokens, 500, seed=0)
    assert imp.value == pytest.approx(0.25)
    assert imp.ci95 == pytest.approx((0.25, 0.25))
    assert reg.value == pytest.approx(-0.25)
    assert imp.p_value == pytest.approx(2 / 501)


def test_ratio_of_sums_is_token_weighted() -> None:
    est = stats.bootstrap_ratio_of_sums([10.0, 0.0], [10.0, 90.0], lambda v: v, 200, seed=0)
    assert est.value == pytest.approx(0.1)  # (10 + 0) / (10 + 90), not the mean of 1.0 and 0.0


def test_median_and_metric_difference() -> None:
    assert stats.bootstrap_median([1, 2, 3, 4, 100], 300, seed=0).value == 3.0
    gold = ["yes", "no"] * 10
    d = stats.paired_bootstrap_macro_f1_difference(gold, ["yes"] * 20, gold, 300, seed=0)
    assert d.value == pytest.approx(1.0 - stats.macro_f1(gold, ["yes"] * 20))
    assert d.p_value is not None and d.p_value < 0.01


def test_p_value_floor_is_reported_with_every_bootstrap_p_value() -> None:
    """A difference far from 0 puts no replicate on the other side: the p-value is the floor 2/(B+1), and says so."""
    base = np.zeros(50)
    tuned = np.ones(50)
    est = stats.paired_bootstrap_mean_difference(base, tuned, 999, 0)
    assert est.p_value == stats.p_value_floor(999) == pytest.approx(2 / 1000)
    assert est.to_json()["p_value_floor"] == est.p_value
    assert "p_value_floor" not in stats.bootstrap_mean(tuned, 100, 0).to_json()  # no test, no floor


def _clustered_general(files: int, per_file: int, seed: int) -> tuple[list, list, list[str]]:
    """Paragraph scores where the tuned model's change is shared within a file (a topic effect) and varies little
    inside it: what a general-text set looks like when one topic is written by one hand."""
    from medllama.evaluate.perplexity import DocumentScore

    rng = np.random.default_rng(seed)
    base, tuned, sources = [], [], []
    for f in range(files):
        topic = rng.normal(0.0, 0.05)  # change in nats per token shared by the file's paragraphs
        for p in range(per_file):
            tokens = 150
            delta = topic + rng.normal(0.0, 0.005)
            base.append(DocumentScore(f"f{f}.txt#{p}", 2.0 * tokens, tokens, 600, 1))
            tuned.append(DocumentScore(f"f{f}.txt#{p}", (2.0 + delta) * tokens, tokens, 600, 1))
            sources.append(f"f{f}.txt")
    return base, tuned, sources


def test_general_text_bootstrap_resamples_files_not_paragraphs() -> None:
    """With a topic effect, resampling paragraphs as if independent gives a CI about √(paragraphs per file)
    narrower than resampling files; the general section must use the files."""
    from medllama.evaluate.general import general_section

    base, tuned, sources = _clustered_general(files=20, per_file=8, seed=3)
    by_file = general_section(base, tuned, sources, samples=2000, seed=0)["regression"]["ci95"]
    by_paragraph = general_section(base, tuned, [s.id for s in base], samples=2000, seed=0)["regression"]["ci95"]
    width_file, width_paragraph = by_file[1] - by_file[0], by_paragraph[1] - by_paragraph[0]
    assert width_file > 2.0 * width_paragraph, (by_file, by_paragraph)
