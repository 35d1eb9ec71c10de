"""End to end: the tiny model as base and a perturbed copy as tuned, on fixture data (CPU)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from medllama.evaluate import main
from medllama.evaluate.gate import CHECKS, GATE_PATHS
from medllama.evaluate.report import is_number, json_get, non_finite_paths

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MINI = REPO / "fixtures" / "benchmarks-mini"
# what medllama.train writes into the model folder (loop.py); only these fields matter here
TRAINING_SUMMARY = {"method": "lora", "steps": 10, "final_train_loss": 2.5, "final_eval_loss": 2.25, "eval_blocks": 4}
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
    model = _perturbed_copy(tiny_base_model, tmp_path_factory.mktemp("tuned") / "model")
    (model / "training_summary.json").write_text(json.dumps(TRAINING_SUMMARY))
    return model


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


@pytest.fixture(scope="module")
def benchmarks(tmp_path_factory: pytest.TempPathFactory, optional_shared_dir: Path | None) -> tuple[Path, list[str]]:
    """One benchmarks folder as the pipeline's channel: PubMedQA files at the root (the real split when
    ../shared has it, else the authored mini fixture), every other task's folder linked to the authored fixtures."""
    shared = optional_shared_dir / "data" / "pubmedqa" if optional_shared_dir else MINI
    real = shared != MINI and (shared / "ori_pqal.json").is_file()
    folder = tmp_path_factory.mktemp("benchmarks")
    for name in ("ori_pqal.json", "test_ground_truth.json"):
        (folder / name).symlink_to((shared if real else MINI) / name)
    for task in (p for p in MINI.iterdir() if p.is_dir()):
        (folder / task.name).symlink_to(task, target_is_directory=True)
    # the real split: first 12 items (CPU time)
    return folder, ["--pubmedqa_limit", "12"] if real else []


def _run(
    base: Path, tuned: Path, test_dir: Path, out: Path, prompts: Path, benchmarks: tuple[Path, list[str]], *extra: str
) -> int:
    bench, bench_args = benchmarks
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
    benchmarks: tuple[Path, list[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    out = tmp_path_factory.mktemp("eval")
    assert _run(tiny_base_model, tuned_model, test_split, out, prompts_file, benchmarks) == 0
    return out


def test_evaluation_json_is_valid_and_finite(evaluation: Path) -> None:
    text = (evaluation / "evaluation.json").read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-finite constant {c}"))
    assert non_finite_paths(doc) == []
    assert doc["schema_version"] == "2.0.0"
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
    general = doc["metrics"]["general_perplexity"]
    assert general["documents"] == 8 and general["resampling_unit"] == "file"
    assert 2 <= general["files"] <= 8  # the bootstrap resamples files; 8 paragraphs come from several files
    assert general["files_improved"]["count"] + general["files_improved"]["worse"] <= general["files"]
    qa = doc["metrics"]["pubmedqa"]
    assert qa["items"] in (8, 12)
    assert set(qa["mcnemar"]) >= {"exact_p", "chi2_p"}
    assert doc["not_computed"] == {}
    assert doc["gate"]["not_computed"] == {} and doc["gate"]["checks_computed"] == 1


def test_gate_paths_resolve_to_numbers(evaluation: Path) -> None:
    """Contract with the pipeline's QualityGate (Std:JsonGet on the EvaluationReport PropertyFile): every path is a
    number, and each bound is the conservative side of its metric's CI."""
    doc = json.loads((evaluation / "evaluation.json").read_text(encoding="utf-8"))
    for path in GATE_PATHS:
        assert is_number(json_get(doc, path)), path
    ppl, qa, general = (doc["metrics"][k] for k in ("test_perplexity", "pubmedqa", "general_perplexity"))
    assert doc["gate"]["perplexity_improvement_lower"] == ppl["improvement"]["ci95"][0]
    assert doc["gate"]["pubmedqa_delta_lower"] == qa["accuracy_delta"]["ci95"][0]
    assert doc["gate"]["general_regression_upper"] == general["regression"]["ci95"][1]
    for check in CHECKS:
        entry = doc["gate"]["checks"][check.name]
        assert entry["computed"] is True and entry["value"] == json_get(doc, check.estimate + ".value")
        assert entry["threshold"] == {"perplexity_improvement": 0.05, "pubmedqa_delta": -0.04}.get(check.name, 0.03)
    assert doc["gate"]["summary"].startswith("3/3 checks computed; perplexity_improvement lower bound ")


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
    evaluation: Path,
    tiny_base_model: Path,
    tuned_model: Path,
    test_split: Path,
    prompts_file: Path,
    benchmarks: tuple[Path, list[str]],
    tmp_path: Path,
) -> None:
    again = tmp_path / "again"
    assert _run(tiny_base_model, tuned_model, test_split, again, prompts_file, benchmarks) == 0
    for name in ("evaluation.json", "qualitative.jsonl", "test-documents.jsonl", "medmcqa-predictions.jsonl"):
        assert (again / name).read_bytes() == (evaluation / name).read_bytes(), name
    # Without --general_dir and --benchmarks_dir those checks are not computed: null bounds with the reasons, and
    # checks_computed 0, which the QualityGate requires to be 1: a run that did not measure cannot pass.
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
    gate = doc["gate"]
    assert gate["checks_computed"] == 0 and gate["passed"] is False
    assert gate["not_computed"] == {
        "pubmedqa_delta": "no --benchmarks_dir given",
        "general_regression": "no --general_dir given",
    }
    assert gate["pubmedqa_delta_lower"] is None and gate["general_regression_upper"] is None
    assert is_number(gate["perplexity_improvement_lower"])
    assert gate["checks"]["general_regression"] == {**gate["checks"]["general_regression"], "value": None,
                                                    "bound": None, "computed": False, "passed": False}  # fmt: skip
    assert "general_regression NOT COMPUTED (no --general_dir given)" in gate["summary"]
    assert gate["summary"].startswith("1/3 checks computed; ")
    assert "pubmedqa" not in doc["metrics"] and "metrics.pubmedqa" in doc["not_computed"]
    for name in ("medmcqa", "medqa"):
        assert name not in doc["metrics"] and doc["not_computed"][f"metrics.{name}"] == "no --benchmarks_dir given"
    # the default training summary is <tuned_model_dir>/training_summary.json: present here
    assert doc["training"]["final_eval_loss"] == 2.25


def test_multiple_choice_benchmarks_and_training_loss(evaluation: Path, benchmarks: tuple[Path, list[str]]) -> None:
    doc = json.loads((evaluation / "evaluation.json").read_text(encoding="utf-8"))
    for name, items, split in (("medmcqa", 8, "validation"), ("medqa", 6, "test")):
        sec = doc["metrics"][name]
        assert (sec["items"], sec["items_available"], sec["split"]) == (items, items, split)
        assert sec["choices"] == [" A", " B", " C", " D"] and sec["chance_accuracy"] == 0.25
        for role in ("base", "tuned"):
            acc = sec[role]["accuracy"]
            assert acc["ci95"][0] <= acc["value"] <= acc["ci95"][1]
            assert sum(sec[role]["predicted"].values()) == items
        assert 0.0 <= sec["accuracy_delta"]["p_value"] <= 1.0
        assert set(sec["mcnemar"]) >= {"exact_p", "chi2_p"}
        preds = [json.loads(line) for line in (evaluation / f"{name}-predictions.jsonl").read_text().splitlines()]
        assert len(preds) == items
        acc_base = sum(p["label"] == p["base"] for p in preds) / items
        assert sec["base"]["accuracy"]["value"] == pytest.approx(acc_base)
    assert doc["metrics"]["medmcqa"]["source"]["cop_index"] == "0-3"
    assert doc["metrics"]["medqa"]["source"]["format"] == "options/answer_idx"
    assert doc["inputs"]["medmcqa"]["file"] == str(benchmarks[0] / "medmcqa" / "validation.jsonl")
    training = doc["training"]
    assert training["final_eval_loss"] == 2.25
    assert training["final_eval_perplexity"] == pytest.approx(math.exp(2.25))
    assert training["source"].endswith("training_summary.json") and training["method"] == "lora"


def test_the_whole_suite_is_scored(evaluation: Path) -> None:
    from medllama.evaluate.suite import GENERAL_TASKS, MEDICAL_TASKS

    doc = json.loads((evaluation / "evaluation.json").read_text(encoding="utf-8"))
    for name in (*MEDICAL_TASKS, *GENERAL_TASKS):
        assert name in doc["metrics"], name
        assert (evaluation / f"{name}-predictions.jsonl").is_file(), name
    arc = doc["metrics"]["arc_challenge"]
    assert arc["suite"] == "general" and set(arc["acc_norm"]) >= {"base", "tuned", "accuracy_delta", "mcnemar"}
    assert 0.2 < arc["chance_accuracy"] < 0.34  # items with 3, 4 and 5 choices
    assert "acc_norm" not in doc["metrics"]["winogrande"] and "acc_norm" not in doc["metrics"]["mmlu_anatomy"]
    suites = doc["metrics"]["suites"]
    assert suites["medical"]["tasks"] == list(MEDICAL_TASKS) and suites["general"]["tasks"] == list(GENERAL_TASKS)
    for sec in suites.values():
        per_task = sec["base"]["per_task"]
        assert sec["base"]["accuracy"]["value"] == pytest.approx(sum(per_task.values()) / len(per_task))
        lo, hi = sec["accuracy_delta"]["ci95"]
        assert lo <= sec["accuracy_delta"]["value"] <= hi
    preds = [json.loads(line) for line in (evaluation / "hellaswag-predictions.jsonl").read_text().splitlines()]
    assert set(preds[0]) == {"id", "label", "base", "tuned", "base_acc_norm", "tuned_acc_norm"}


def test_limits_and_explicit_training_summary(
    tiny_base_model: Path,
    tuned_model: Path,
    test_split: Path,
    prompts_file: Path,
    benchmarks: tuple[Path, list[str]],
    tmp_path: Path,
) -> None:
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"final_eval_loss": None, "steps": 3}))
    out = tmp_path / "out"
    extra = ("--medmcqa_limit", "3", "--medqa_limit", "2", "--training_summary", str(summary))
    assert _run(tiny_base_model, tuned_model, test_split, out, prompts_file, benchmarks, *extra) == 0
    doc = json.loads((out / "evaluation.json").read_text())
    assert (doc["metrics"]["medmcqa"]["items"], doc["metrics"]["medmcqa"]["items_available"]) == (3, 8)
    assert doc["metrics"]["medqa"]["items"] == 2
    assert "final_eval_loss" not in doc["training"] and doc["training"]["steps"] == 3
    assert "final_eval_loss is None" in doc["not_computed"]["training.final_eval_loss"]
    missing = tmp_path / "nope.json"
    assert _run(tiny_base_model, tuned_model, test_split, tmp_path / "o2", prompts_file, benchmarks,
                "--training_summary", str(missing)) == 1  # fmt: skip


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
        "--medmcqa_limit",
        "--medqa_limit",
        "--training_summary",
    ):
        assert flag in proc.stdout


def test_tuned_model_as_sagemaker_model_tar_gz(
    evaluation: Path,
    tiny_base_model: Path,
    tuned_model: Path,
    test_split: Path,
    prompts_file: Path,
    benchmarks: tuple[Path, list[str]],
    tmp_path: Path,
) -> None:
    """The pipeline hands Evaluate the Train step's ModelArtifacts: one model.tar.gz of model_dir (files at
    the archive root, training_summary.json among them). Same numbers as the unpacked folder."""
    import tarfile

    channel = tmp_path / "tuned_model"
    channel.mkdir()
    with tarfile.open(channel / "model.tar.gz", "w:gz") as tar:
        for f in sorted(tuned_model.iterdir()):
            tar.add(f, arcname=f.name)
    out = tmp_path / "out"
    # PubMedQA alone: the archive is what this test is about, and the whole suite ran in the `evaluation` fixture
    pubmedqa = tmp_path / "pubmedqa"
    pubmedqa.mkdir()
    for name in ("ori_pqal.json", "test_ground_truth.json"):
        (pubmedqa / name).symlink_to(benchmarks[0] / name)
    assert _run(tiny_base_model, channel, test_split, out, prompts_file, (pubmedqa, benchmarks[1])) == 0
    doc = json.loads((out / "evaluation.json").read_text())
    ref = json.loads((evaluation / "evaluation.json").read_text())
    assert doc["metrics"]["test_perplexity"] == ref["metrics"]["test_perplexity"]
    assert doc["metrics"]["pubmedqa"] == ref["metrics"]["pubmedqa"]
    assert doc["models"]["tuned"]["path"] == str(channel)
    assert doc["training"]["final_eval_loss"] == 2.25
    assert doc["training"]["source"] == str(tmp_path / "tuned_model.extracted" / "training_summary.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(tiny_base_model, empty, test_split, tmp_path / "o", prompts_file, benchmarks) == 1
