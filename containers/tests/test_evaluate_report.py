"""evaluation.json assembly: json_get, the gate contract, no NaN/Inf, comparison sections."""

from __future__ import annotations

import json
import math

import pytest

from medllama.evaluate import report
from medllama.evaluate.general import general_section
from medllama.evaluate.perplexity import DocumentScore


def _scores(nll_per_token: float, tokens=(10, 20, 30, 40)) -> list[DocumentScore]:
    return [DocumentScore(f"d{i}", n * nll_per_token, n, 4 * n, 1) for i, n in enumerate(tokens)]


def test_gate_keys_match_common_contract() -> None:
    assert report.GATE_PATHS == (
        "gate.perplexity_improvement",
        "gate.pubmedqa_delta",
        "gate.general_perplexity_regression",
    )


def test_json_get() -> None:
    doc = {"gate": {"pubmedqa_delta": 0.02}, "a": [{"b": 1}]}
    assert report.json_get(doc, "gate.pubmedqa_delta") == 0.02
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
    general = general_section(_scores(math.log(10)), _scores(math.log(11)), samples=200, seed=0)
    assert general["regression"]["value"] == pytest.approx(0.1)
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


def _assemble(metrics: dict, not_computed: dict | None = None) -> dict:
    return report.assemble(config={"seed": 1}, inputs={}, models={}, metrics=metrics, not_computed=not_computed or {})


def test_gate_reads_metrics_and_falls_back_to_zero_with_reasons() -> None:
    metrics = {"test_perplexity": {"improvement": {"value": 0.12, "ci95": [0.1, 0.14], "p_value": 0.001}}}
    doc = _assemble(metrics, {"metrics.pubmedqa": "no --benchmarks_dir given"})
    assert doc["gate"]["perplexity_improvement"] == 0.12
    assert doc["gate"]["pubmedqa_delta"] == 0.0
    assert doc["gate"]["general_perplexity_regression"] == 0.0
    assert doc["gate"]["not_computed"]["pubmedqa_delta"] == "no --benchmarks_dir given"
    assert "general_perplexity_regression" in doc["gate"]["not_computed"]
    assert "perplexity_improvement" not in doc["gate"]["not_computed"]
    assert doc["schema_version"] == report.SCHEMA_VERSION
    for path in report.GATE_PATHS:
        assert report.is_number(report.json_get(doc, path))


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
    assert doc["gate"]["perplexity_improvement"] == 0.0
    assert "not a finite number" in doc["gate"]["not_computed"]["perplexity_improvement"]


def test_negative_zero_is_written_as_zero() -> None:
    doc = _assemble({"test_perplexity": {"improvement": {"value": -0.0, "ci95": [-0.0, 0.0]}}})
    assert json.dumps(doc["gate"]["perplexity_improvement"]) == "0.0"


def test_non_finite_outside_metrics_is_an_error() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        report.assemble(config={"x": math.nan}, inputs={}, models={}, metrics={}, not_computed={})
