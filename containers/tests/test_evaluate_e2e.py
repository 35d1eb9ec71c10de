"""End to end: the tiny model as base and a perturbed copy as tuned, on fixture data (CPU)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from medllama.evaluate import main
from medllama.evaluate.report import GATE_PATHS, is_number, json_get, non_finite_paths

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MINI = REPO / "fixtures" / "pubmedqa-mini"
GENERAL = REPO / "fixtures" / "general-text"

DOCS = [
    (
        "PMC100001",
        "Metformin is a biguanide used as first-line therapy in type 2 diabetes. It lowers hepatic glucose production.",
    ),
    (
        "PMC100002",
        "Background: Sepsis is a life-threatening organ dysfunction caused by a dysregulated host response to infection. "
        * 3,
    ),
    (
        "PMC100003",
        "Warfarin interacts with many antibiotics; ciprofloxacin can raise the INR and increase bleeding risk.",
    ),
    (
        "PMC100004",
        "Results: Of 412 patients randomized, 398 completed follow-up. The primary outcome occurred in 12% vs 19%. "
        * 5,
    ),
    ("PMC100005", "Ångström-scale structures and naïve T cells: UTF-8 text counts bytes, not characters — ±5 µm."),
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The tiny model is too small to gain from threads; on a shared 2-core box they only contend."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _perturbed_copy(src: Path, dst: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(src)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.02)
    model.save_pretrained(dst)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)
    return dst


@pytest.fixture(scope="module")
def tuned_model(tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _perturbed_copy(tiny_base_model, tmp_path_factory.mktemp("tuned") / "model")


@pytest.fixture(scope="module")
def test_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("test-split")
    with open(folder / "part-00000.jsonl", "w", encoding="utf-8") as out:
        for doc_id, text in DOCS:
            out.write(json.dumps({"id": doc_id, "text": text, "split": "test"}, ensure_ascii=False) + "\n")
        out.write("{not json\n")
        out.write(json.dumps({"id": "PMC9", "text": "   "}) + "\n")
    return folder


@pytest.fixture(scope="module")
def prompts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 8 packaged prompts (generation dominates CPU time; the full set is checked elsewhere)."""
    from medllama.evaluate.qualitative import default_prompts_path

    path = tmp_path_factory.mktemp("prompts") / "prompts.jsonl"
    path.write_text("".join(default_prompts_path().read_text(encoding="utf-8").splitlines(keepends=True)[:8]))
    return path


def _benchmarks() -> tuple[Path, list[str]]:
    shared = REPO.parent / "shared" / "data" / "pubmedqa"
    if (shared / "ori_pqal.json").is_file():
        return shared, ["--pubmedqa_limit", "12"]  # the real split, first 12 items (CPU time)
    return MINI, []


def _run(base: Path, tuned: Path, test_dir: Path, out: Path, prompts: Path, *extra: str) -> int:
    bench, bench_args = _benchmarks()
    return main(
        [
            "--base_model_dir", str(base), "--tuned_model_dir", str(tuned), "--test_dir", str(test_dir),
            "--general_dir", str(GENERAL), "--benchmarks_dir", str(bench), "--output_dir", str(out),
            "--seq_len", "64", "--batch_size", "4", "--max_new_tokens", "6", "--bootstrap_samples", "200",
            "--max_general_documents", "8", "--prompts", str(prompts), *bench_args, *extra,
        ]
    )  # fmt: skip


@pytest.fixture(scope="module")
def evaluation(
    tiny_base_model: Path,
    tuned_model: Path,
    test_split: Path,
    prompts_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    out = tmp_path_factory.mktemp("eval")
    assert _run(tiny_base_model, tuned_model, test_split, out, prompts_file) == 0
    return out


def test_evaluation_json_is_valid_and_finite(evaluation: Path) -> None:
    text = (evaluation / "evaluation.json").read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-finite constant {c}"))
    assert non_finite_paths(doc) == []
    assert doc["schema_version"] == "1.0.0"
    ppl = doc["metrics"]["test_perplexity"]
    assert ppl["documents"] == len(DOCS)
    assert doc["inputs"]["test"]["rejected"] == {"bad-line": 1, "empty-text": 1}
    for role in ("base", "tuned"):
        lo, hi = ppl[role]["perplexity"]["ci95"]
        assert lo <= ppl[role]["perplexity"]["value"] <= hi
        # an untrained 32k-vocabulary model is close to uniform: perplexity near the vocabulary size
        assert 5_000 < ppl[role]["perplexity"]["value"] < 200_000
        assert ppl[role]["loss"]["value"] == pytest.approx(math.log(ppl[role]["perplexity"]["value"]))
    assert ppl["improvement"]["value"] != 0.0  # the perturbed copy scores differently
    assert 0.0 <= ppl["improvement"]["p_value"] <= 1.0
    assert doc["metrics"]["general_perplexity"]["documents"] == 8
    qa = doc["metrics"]["pubmedqa"]
    assert qa["items"] in (8, 12)
    assert set(qa["mcnemar"]) >= {"exact_p", "chi2_p"}
    assert doc["not_computed"] == {}
    assert doc["gate"]["not_computed"] == {}


def test_gate_paths_resolve_to_numbers(evaluation: Path) -> None:
    """Contract with the pipeline's QualityGate (Std:JsonGet on the EvaluationReport PropertyFile)."""
    doc = json.loads((evaluation / "evaluation.json").read_text(encoding="utf-8"))
    for path in GATE_PATHS:
        assert is_number(json_get(doc, path)), path
    assert doc["gate"]["perplexity_improvement"] == doc["metrics"]["test_perplexity"]["improvement"]["value"]
    assert doc["gate"]["pubmedqa_delta"] == doc["metrics"]["pubmedqa"]["accuracy_delta"]["value"]
    assert doc["gate"]["general_perplexity_regression"] == doc["metrics"]["general_perplexity"]["regression"]["value"]


def test_qualitative_has_both_answers_per_prompt(evaluation: Path, prompts_file: Path) -> None:
    from medllama.evaluate.qualitative import load_prompts

    records = [
        json.loads(line) for line in (evaluation / "qualitative.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert [r["id"] for r in records] == [p.id for p in load_prompts(prompts_file)]
    assert len(records) == 8
    for r in records:
        assert isinstance(r["base_answer"], str) and isinstance(r["tuned_answer"], str)
        assert 0 < r["base_new_tokens"] <= 6 and 0 < r["tuned_new_tokens"] <= 6
    assert any(r["base_answer"] != r["tuned_answer"] for r in records)


def test_side_outputs(evaluation: Path) -> None:
    per_doc = [json.loads(line) for line in (evaluation / "test-documents.jsonl").read_text().splitlines()]
    assert sorted(d["id"] for d in per_doc) == sorted(d for d, _ in DOCS)
    assert all(d["tokens"] > 0 and d["base_nll"] > 0 for d in per_doc)
    rejected = [json.loads(line) for line in (evaluation / "rejected.jsonl").read_text().splitlines()]
    assert sorted(r["reason"] for r in rejected) == ["bad-line", "empty-text"]
    runtime = json.loads((evaluation / "runtime.json").read_text())
    assert runtime["base"]["test_perplexity"]["tokens_per_second"] > 0
    assert runtime["expected_perplexity_seconds_both_models"] > 0


def test_deterministic_and_optional_inputs(
    evaluation: Path, tiny_base_model: Path, tuned_model: Path, test_split: Path, prompts_file: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    assert _run(tiny_base_model, tuned_model, test_split, again, prompts_file) == 0
    for name in ("evaluation.json", "qualitative.jsonl", "test-documents.jsonl"):
        assert (again / name).read_bytes() == (evaluation / name).read_bytes(), name
    # without the optional channels the gate still has three numbers, with reasons
    bare = tmp_path / "bare"
    code = main(
        [
            "--base_model_dir", str(tiny_base_model), "--tuned_model_dir", str(tuned_model),
            "--test_dir", str(test_split), "--output_dir", str(bare), "--seq_len", "64",
            "--max_new_tokens", "2", "--bootstrap_samples", "100", "--prompts", str(prompts_file),
        ]
    )  # fmt: skip
    assert code == 0
    doc = json.loads((bare / "evaluation.json").read_text())
    assert set(doc["gate"]["not_computed"]) == {"pubmedqa_delta", "general_perplexity_regression"}
    assert doc["gate"]["pubmedqa_delta"] == 0.0
    assert "pubmedqa" not in doc["metrics"] and "metrics.pubmedqa" in doc["not_computed"]


def test_vocabulary_mismatch_is_rejected(tiny_base_model: Path, test_split: Path, tmp_path: Path) -> None:
    cfg = json.loads((tiny_base_model / "config.json").read_text())
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({**cfg, "vocab_size": 32001}))
    code = main(
        [
            "--base_model_dir",
            str(tiny_base_model),
            "--tuned_model_dir",
            str(other),
            "--test_dir",
            str(test_split),
            "--output_dir",
            str(tmp_path / "o"),
        ]
    )
    assert code == 1
    assert not (tmp_path / "o" / "evaluation.json").exists()


def test_entry_script_help() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "containers" / "evaluate.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0
    for flag in (
        "--base_model_dir",
        "--tuned_model_dir",
        "--test_dir",
        "--benchmarks_dir",
        "--seq_len",
        "--pubmedqa_limit",
    ):
        assert flag in proc.stdout
