"""Evaluate with merge-back candidates: the tiny base, a perturbed tuned copy and two candidates MergeBack built
from them, scored on the same items; the selection rule on hand-made gates (passing, ties, none passing)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from test_evaluate_e2e import _perturbed_copy, _run

from medllama.evaluate.gate import CHECKS, METADATA_VALUE, SELECTION_RULE, choose, chosen_gate
from medllama.evaluate.report import json_get

pytestmark = pytest.mark.slow

PERMISSIVE = [
    "--min_perplexity_improvement", "-1", "--min_pubmedqa_delta", "-1", "--max_general_regression", "10",
]  # fmt: skip


@pytest.fixture(scope="module")
def built(tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import torch

    from medllama.merge_back.run import main as merge_back

    torch.set_num_threads(1)
    tuned = _perturbed_copy(tiny_base_model, tmp_path_factory.mktemp("tuned") / "model")
    out = tmp_path_factory.mktemp("candidates")
    argv = ["--base_model_dir", str(tiny_base_model), "--tuned_model_dir", str(tuned), "--output_dir", str(out)]
    assert merge_back([*argv, "--candidates", "slerp:t=0.5 linear:t=0.25"]) == 0
    return tuned, out


@pytest.fixture(scope="module")
def evaluation(tiny_base_model: Path, built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    from test_evaluate_e2e import DOCS

    tuned, candidates = built
    split = tmp_path_factory.mktemp("split")
    (split / "part-0.jsonl").write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in DOCS))
    prompts = tmp_path_factory.mktemp("prompts") / "p.jsonl"
    prompts.write_text(json.dumps({"id": "p1", "category": "x", "prompt": "Metformin is"}) + "\n")
    bench = tmp_path_factory.mktemp("bench")
    mini = Path(__file__).resolve().parents[2] / "fixtures" / "benchmarks-mini"
    for name in ("ori_pqal.json", "test_ground_truth.json"):
        (bench / name).symlink_to(mini / name)
    out = tmp_path_factory.mktemp("eval")
    uris = ["--tuned_model_uri", "s3://b/training/job/output/model", "--candidates_uri", "s3://b/ex/MergeBack/"]
    code = _run(
        tiny_base_model, tuned, split, out, prompts, (bench, []),
        "--candidates_dir", str(candidates), *uris, *PERMISSIVE,
    )  # fmt: skip
    assert code == 0
    return json.loads((out / "evaluation.json").read_text())


def test_every_candidate_is_compared_with_the_base_on_the_same_items(evaluation: dict) -> None:
    cands = evaluation["candidates"]
    assert evaluation["gate"]["candidate_order"] == ["tuned", "slerp-t0.5", "linear-t0.25"]
    assert set(cands) == set(evaluation["gate"]["candidate_order"])
    assert cands["tuned"]["metrics"] == evaluation["metrics"]  # today's keys stay the tuned model's
    for name, entry in cands.items():
        assert set(entry["metrics"]) == set(evaluation["metrics"]), name
        for key in ("test_perplexity", "general_perplexity", "pubmedqa"):
            # the same base numbers and item counts: only the candidate's side differs
            ours, tuned = entry["metrics"][key], evaluation["metrics"][key]
            assert json.dumps(ours.get("base")) == json.dumps(tuned.get("base")), (name, key)
        assert entry["gate"]["checks_computed"] == 1, name
    assert cands["slerp-t0.5"]["model"]["model_data"] == "s3://b/ex/MergeBack/slerp-t0.5"
    assert cands["tuned"]["model"]["model_data"] == "s3://b/training/job/output/model"


def test_the_gate_is_the_chosen_candidates(evaluation: dict) -> None:
    gate, cands = evaluation["gate"], evaluation["candidates"]
    bounds = {n: e["gate"]["perplexity_improvement_lower"] for n, e in cands.items()}
    best = max(bounds.values())
    assert gate["chosen"] == next(n for n in gate["candidate_order"] if bounds[n] == best)
    assert gate["passed"] is True and gate["rule"] == SELECTION_RULE
    for check in CHECKS:
        assert gate[check.key] == cands[gate["chosen"]]["gate"][check.key]
    assert gate["chosen_model_data"] == cands[gate["chosen"]]["model"]["model_data"]
    assert json_get(evaluation, "gate.metadata.candidate") == gate["chosen"]
    for value in gate["metadata"].values():
        assert METADATA_VALUE.fullmatch(value), value


def _gate(bounds: tuple[float | None, float | None, float | None], passed: tuple[bool, bool, bool]) -> dict:
    checks = {
        c.name: {
            "computed": b is not None,
            "passed": p,
            "bound": b,
            "threshold": 0.0,
            "value": b,
            "reason": "no --general_dir given",
        }
        for c, b, p in zip(CHECKS, bounds, passed, strict=True)
    }
    return {
        "checks_computed": int(None not in bounds),
        **{c.key: b for c, b in zip(CHECKS, bounds, strict=True)},
        "passed": all(passed),
        "summary": "s",
        "checks": checks,
    }


def test_selection_rule_largest_bound_among_passing_ties_to_the_earlier() -> None:
    ok = (True, True, True)
    gates = {
        "tuned": _gate((0.1, 0, 0), ok),
        "a": _gate((0.2, 0, 0), ok),
        "b": _gate((0.3, 0, 0), (True, False, True)),
    }
    assert choose(gates) == ("a", True)
    gates["c"] = _gate((0.2, 0, 0), ok)
    assert choose(gates) == ("a", True)  # tie: the earlier
    assert choose({"tuned": _gate((0.2, 0, 0), ok), "a": _gate((0.2, 0, 0), ok)}) == ("tuned", True)


def test_none_passing_names_every_candidates_failing_check() -> None:
    gates = {
        "tuned": _gate((0.01, 0, None), (False, True, False)),
        "slerp-t0.5": _gate((0.02, -0.1, 0.0), (False, False, True)),
    }
    assert choose(gates) == ("slerp-t0.5", False)  # 1 check passed each: the larger bound
    models = {n: {"model_data": f"s3://b/{n}", "spec": n} for n in gates}
    gate = chosen_gate(gates, models)
    assert gate["chosen"] == "slerp-t0.5" and gate["passed"] is False
    assert gate["summary"].startswith("no candidate passed (showing slerp-t0.5): tuned: perplexity_improvement")
    assert "general_regression NOT COMPUTED (no --general_dir given)" in gate["summary"]
    assert "slerp-t0.5: perplexity_improvement lower bound 0.02" in gate["summary"]
    assert "pubmedqa_delta lower bound -0.1" in gate["summary"]
    assert gate["metadata"]["general_regression_upper"] == "0"
    assert gate["candidates"]["tuned"]["general_regression_upper"] is None
    assert not math.isnan(gate["perplexity_improvement_lower"])
