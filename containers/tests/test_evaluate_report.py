"""evaluation.json assembly: json_get, the gate contract, no NaN/Inf, comparison sections."""

from __future__ import annotations

import json
import math

import pytest

from medllama.evaluate import gate, report
from medllama.evaluate.general import general_section
from medllama.evaluate.perplexity import DocumentScore, pool_by_unit


def _scores(nll_per_token: float, tokens=(10, 20, 30, 40)) -> list[DocumentScore]:
    return [DocumentScore(f"d{i}", n * nll_per_token, n, 4 * n, 1) for i, n in enumerate(tokens)]


def test_gate_paths_match_the_pipeline_contract() -> None:
    """The paths pipeline-steps/definition.ts reads (test/evaluation-contract.test.ts holds the TS side)."""
    assert gate.GATE_PATHS == (
        "gate.checks_computed",
        "gate.perplexity_improvement_lower",
        "gate.pubmedqa_delta_lower",
        "gate.general_regression_upper",
    )


def test_json_get() -> None:
    doc = {"gate": {"pubmedqa_delta_lower": 0.02, "general_regression_upper": None}, "a": [{"b": 1}]}
    assert report.json_get(doc, "gate.pubmedqa_delta_lower") == 0.02
    assert report.json_get(doc, "gate.general_regression_upper") is None  # a null is a value, not a missing path
    assert report.json_get(doc, "a.0.b") == 1
    with pytest.raises(KeyError, match=r"gate\.missing"):
        report.json_get(doc, "gate.missing")


def test_perplexity_comparison_known_values() -> None:
    section = report.perplexity_comparison(_scores(math.log(10)), _scores(math.log(8)), samples=200, seed=0)
    assert section["base"]["perplexity"]["value"] == pytest.approx(10)
    assert section["tuned"]["perplexity"]["value"] == pytest.approx(8)
    assert section["improvement"]["value"] == pytest.approx(0.2)
    assert section["regression_relative"]["value"] == pytest.approx(-0.2)
    # nll ln(10) nats per token, 4 bytes per token: log2(10) / 4 bits per byte
    assert section["base"]["bits_per_byte"]["value"] == pytest.approx(math.log2(10) / 4)
    assert section["bits_per_byte_delta"]["value"] == pytest.approx((math.log2(8) - math.log2(10)) / 4)
    assert section["median_document_ratio"]["value"] == pytest.approx(0.8)
    assert section["documents_improved"] == {"count": 4, "worse": 0, "fraction": 1.0, "sign_test_p": 0.125}
    assert section["resampling_unit"] == "document" and section["documents"] == 4
    assert section["improvement"]["p_value_floor"] == pytest.approx(2 / 201)
    general = general_section(
        _scores(math.log(10)), _scores(math.log(11)), ["a.txt", "a.txt", "b.txt", "c.txt"], samples=200, seed=0
    )
    assert general["regression"]["value"] == pytest.approx(0.1)
    assert (general["resampling_unit"], general["files"], general["documents"]) == ("file", 3, 4)
    assert general["files_improved"]["worse"] == 3 and "median_file_ratio" in general
    assert "improvement" not in general
    with pytest.raises(ValueError):
        report.perplexity_comparison(_scores(1.0), _scores(1.0, tokens=(1, 2)), samples=100, seed=0)


def test_pubmedqa_section() -> None:
    gold = ["yes", "no", "maybe", "yes", "no", "yes", "yes", "no"]
    base = ["yes"] * 8
    tuned = ["yes", "no", "yes", "yes", "no", "yes", "no", "no"]
    s = report.pubmedqa_section(
        [str(i) for i in range(8)], gold, base, tuned, samples=300, seed=0, truncated=1, total_test_items=8
    )
    assert s["base"]["accuracy"]["value"] == 0.5
    assert s["tuned"]["accuracy"]["value"] == 6 / 8
    assert s["accuracy_delta"]["value"] == pytest.approx(0.25)
    assert s["mcnemar"]["base_only_correct"] == 1 and s["mcnemar"]["tuned_only_correct"] == 3
    assert s["mcnemar"]["exact_p"] == pytest.approx(2 * (1 + 4) / 16)
    assert s["base"]["predicted"] == {"yes": 8, "no": 0, "maybe": 0}
    assert s["always_yes_accuracy"] == 0.5


def _assemble(metrics: dict, not_computed: dict | None = None, **kw) -> dict:
    return report.assemble(
        config={"seed": 1}, inputs={}, models={}, metrics=metrics, not_computed=not_computed or {}, **kw
    )


def _metrics(improvement=(0.12, 0.10, 0.14), delta=(0.01, -0.03, 0.05), regression=(0.01, -0.01, 0.02)) -> dict:
    """The three gated estimates as (value, ci low, ci high), with their unit counts."""

    def est(v: tuple[float, float, float]) -> dict:
        return {"value": v[0], "ci95": [v[1], v[2]], "p_value": 0.01, "p_value_floor": 0.002}

    return {
        "test_perplexity": {"documents": 2000, "improvement": est(improvement)},
        "pubmedqa": {"items": 500, "accuracy_delta": est(delta)},
        "general_perplexity": {"files": 24, "documents": 96, "regression": est(regression)},
    }


def test_gate_compares_the_conservative_bound_of_each_check() -> None:
    doc = _assemble(_metrics())
    g = doc["gate"]
    assert (g["checks_computed"], g["passed"], g["not_computed"]) == (1, True, {})
    assert g["perplexity_improvement_lower"] == 0.10  # lower end of the improvement's CI
    assert g["pubmedqa_delta_lower"] == -0.03  # lower end: non-inferiority with margin 0.04
    assert g["general_regression_upper"] == 0.02  # upper end of the regression's CI
    check = g["checks"]["pubmedqa_delta"]
    assert check == {
        "source": "metrics.pubmedqa.accuracy_delta",
        "bound_side": "lower",
        "comparison": ">=",
        "threshold": -0.04,
        "parameter": "MinPubMedQADelta",
        "rule": "non-inferiority, margin 0.04: lower bound of (tuned - base) accuracy >= -0.04",
        "value": 0.01,
        "ci95": [-0.03, 0.05],
        "bound": -0.03,
        "units": 500,
        "computed": True,
        "passed": True,
    }
    assert doc["schema_version"] == report.SCHEMA_VERSION == "2.0.0"
    for path in gate.GATE_PATHS:
        assert report.is_number(report.json_get(doc, path))


@pytest.mark.parametrize(
    ("metrics", "failing"),
    [
        # point estimates on the right side of every threshold, bounds on the wrong side
        (_metrics(improvement=(0.06, 0.04, 0.08)), "perplexity_improvement lower bound 0.04 >= 0.05"),
        (_metrics(delta=(0.0, -0.05, 0.05)), "pubmedqa_delta lower bound -0.05 >= -0.04"),
        (_metrics(regression=(0.02, 0.0, 0.04)), "general_regression upper bound 0.04 <= 0.03"),
    ],
)
def test_a_good_point_estimate_with_a_bad_bound_fails(metrics: dict, failing: str) -> None:
    g = _assemble(metrics)["gate"]
    assert g["checks_computed"] == 1 and g["passed"] is False
    assert f"{failing} " in g["summary"] and g["summary"].count("FAIL") == 1


def test_superiority_is_a_positive_pubmedqa_threshold() -> None:
    thresholds = gate.Thresholds(min_pubmedqa_delta=0.02)
    g = _assemble(_metrics(delta=(0.05, 0.01, 0.09)), thresholds=thresholds)["gate"]
    assert g["checks"]["pubmedqa_delta"]["rule"].startswith("superiority, margin 0.02:")
    assert g["passed"] is False  # lower bound 0.01 < +0.02
    assert _assemble(_metrics(delta=(0.07, 0.03, 0.11)), thresholds=thresholds)["gate"]["passed"] is True


def test_uncomputed_checks_are_null_and_stop_the_gate() -> None:
    metrics = _metrics()
    del metrics["pubmedqa"], metrics["general_perplexity"]
    doc = _assemble(
        metrics,
        {"metrics.pubmedqa": "no --benchmarks_dir given", "metrics.general_perplexity": "no --general_dir given"},
    )
    g = doc["gate"]
    assert g["checks_computed"] == 0 and g["passed"] is False
    assert g["pubmedqa_delta_lower"] is None and g["general_regression_upper"] is None  # never a stand-in 0.0
    assert g["perplexity_improvement_lower"] == 0.10
    assert g["not_computed"] == {
        "pubmedqa_delta": "no --benchmarks_dir given",
        "general_regression": "no --general_dir given",
    }
    regression = g["checks"]["general_regression"]
    assert (regression["value"], regression["bound"], regression["computed"], regression["passed"]) == (
        None,
        None,
        False,
        False,
    )
    assert regression["threshold"] == 0.03 and regression["reason"] == "no --general_dir given"
    assert g["summary"] == (
        "1/3 checks computed; perplexity_improvement lower bound 0.1 >= 0.05 (value 0.12): pass; "
        "pubmedqa_delta NOT COMPUTED (no --benchmarks_dir given); "
        "general_regression NOT COMPUTED (no --general_dir given)"
    )
    assert json.loads(json.dumps(doc, allow_nan=False))["gate"]["general_regression_upper"] is None


def test_one_resampling_unit_is_not_a_bound() -> None:
    """A bootstrap over one file has a zero-width CI: its 'bound' is the point value, which must not decide."""
    metrics = _metrics(regression=(0.01, 0.01, 0.01))
    metrics["general_perplexity"]["files"] = 1
    g = _assemble(metrics)["gate"]
    assert g["checks_computed"] == 0 and g["general_regression_upper"] is None
    assert g["not_computed"]["general_regression"] == (
        "metrics.general_perplexity.files is 1: a bootstrap bound needs at least 2 files"
    )


def test_gate_contract_is_enforced() -> None:
    with pytest.raises(ValueError, match=r"gate.checks_computed is 1, expected 0"):
        gate.check_gate({"checks_computed": 1, "perplexity_improvement_lower": 0.1, "pubmedqa_delta_lower": None,
                         "general_regression_upper": 0.0})  # fmt: skip
    with pytest.raises(ValueError, match=r"gate.pubmedqa_delta_lower is 'x': expected a finite number or null"):
        gate.check_gate({"checks_computed": 1, "perplexity_improvement_lower": 0.1, "pubmedqa_delta_lower": "x",
                         "general_regression_upper": 0.0})  # fmt: skip
    with pytest.raises(ValueError, match=r"min_pubmedqa_delta: got nan"):
        gate.Thresholds(min_pubmedqa_delta=math.nan)


def test_pool_by_unit_sums_documents_of_a_file() -> None:
    pooled = pool_by_unit(_scores(1.0), ["b.txt", "a.txt", "b.txt", "a.txt"])
    assert [(p.id, p.tokens, p.bytes, p.windows) for p in pooled] == [("a.txt", 60, 240, 2), ("b.txt", 40, 160, 2)]
    with pytest.raises(ValueError, match="4 scores but 1 unit labels"):
        pool_by_unit(_scores(1.0), ["a"])


def test_non_finite_values_are_removed_and_listed() -> None:
    metrics = {
        "test_perplexity": {
            "base": {
                "perplexity": {"value": math.inf, "ci95": [1.0, math.inf]},
                "loss": {"value": 2.0, "ci95": [1.9, 2.1]},
            },
            "improvement": {"value": math.nan, "ci95": [0.0, 0.1], "p_value": 0.5},
            "tokens": 10,
        }
    }
    doc = _assemble(metrics)
    text = json.dumps(doc, allow_nan=False)  # raises if anything non-finite is left
    assert "Infinity" not in text and "NaN" not in text
    assert "perplexity" not in doc["metrics"]["test_perplexity"]["base"]
    assert doc["metrics"]["test_perplexity"]["base"]["loss"]["value"] == 2.0
    assert "metrics.test_perplexity.base.perplexity" in doc["not_computed"]
    assert "metrics.test_perplexity.improvement" in doc["not_computed"]
    assert doc["gate"]["perplexity_improvement_lower"] is None
    assert "not a finite number" in doc["gate"]["not_computed"]["perplexity_improvement"]


def test_negative_zero_is_written_as_zero() -> None:
    doc = _assemble(_metrics(improvement=(-0.0, -0.0, 0.0)))
    assert json.dumps(doc["gate"]["perplexity_improvement_lower"]) == "0.0"


def test_non_finite_outside_metrics_is_an_error() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        report.assemble(config={"x": math.nan}, inputs={}, models={}, metrics={}, not_computed={})
