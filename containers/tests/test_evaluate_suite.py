"""The benchmark suite: loaders of MMLU, ARC-Challenge, HellaSwag and Winogrande (the harness' prompts, clear
errors naming file:line and field), the whole suite from one folder, acc_norm, and the per-suite average."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medllama.evaluate import arc, hellaswag, mmlu, report, stats, suite, winogrande
from medllama.evaluate.benchmark import BenchmarkError, Task, shared_context

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "benchmarks-mini"


def _write(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_fixture_folder_holds_the_whole_suite() -> None:
    tasks, absent = suite.load_suite(FIXTURES)
    assert absent == {}
    assert [t.name for t in tasks] == [*suite.MEDICAL_TASKS, *suite.GENERAL_TASKS]
    assert {t.name for t in tasks if t.suite == "medical"} == set(suite.MEDICAL_TASKS)
    assert len(suite.MEDICAL_TASKS) == 9 and len(suite.GENERAL_TASKS) == 4
    assert {t.name: t.metrics for t in tasks if "acc_norm" in t.metrics}.keys() == {
        "medqa",
        "medmcqa",
        "arc_challenge",
        "hellaswag",
    }


def test_absent_tasks_are_named_with_a_reason(tmp_path: Path) -> None:
    _write(tmp_path / "arc_challenge" / "test.jsonl", [json.loads(x) for x in (FIXTURES / "arc_challenge" / "test.jsonl").read_text().splitlines()])  # fmt: skip
    _write(tmp_path / "mmlu" / "philosophy" / "test.jsonl", [{"question": "q", "choices": list("abcd"), "answer": 1}])
    tasks, absent = suite.load_suite(tmp_path, suite.SuiteOptions(limit=2))
    assert [t.name for t in tasks] == ["arc_challenge"] and len(tasks[0].items) == 2
    assert tasks[0].items_available == 5
    assert set(absent) == {*suite.MEDICAL_TASKS, *suite.GENERAL_TASKS} - {"arc_challenge"}
    assert "pubmedqa" in absent and "ori_pqal.json" in absent["pubmedqa"]
    assert "high_school_macroeconomics" in absent[mmlu.GENERAL_TASK]  # a fixed subset is all or nothing
    assert "philosophy" not in absent[mmlu.GENERAL_TASK]


def test_mmlu_prompt_is_the_harness_description_and_question() -> None:
    tasks, absent = mmlu.load_tasks(FIXTURES / "mmlu")
    assert absent == {}
    anatomy = next(t for t in tasks if t.name == "mmlu_anatomy")
    second = anatomy.items[1]
    assert second.prompt == (
        "The following are multiple choice questions (with answers) about anatomy.\n\n"
        "The femur articulates proximally with which structure?\n"  # question.strip(): leading spaces dropped
        "A. Acetabulum\nB. Patella\nC. Tibia\nD. Sacrum\nAnswer:"
    )
    assert [c for _, c in second.pairs] == [" A", " B", " C", " D"] and second.label == "A"
    general = next(t for t in tasks if t.name == mmlu.GENERAL_TASK)
    assert general.suite == "general" and len(general.items) == 2 * len(mmlu.GENERAL_SUBJECTS)
    assert general.items[0].id.startswith("philosophy-")
    assert not set(mmlu.GENERAL_SUBJECTS) & set(mmlu.MEDICAL_SUBJECTS)


def test_arc_choices_are_the_texts_and_gold_is_the_answer_key() -> None:
    task = arc.load_task(FIXTURES / "arc_challenge")
    first = task.items[0]
    assert first.pairs[0] == ("Question: Which form of energy does a solar panel turn sunlight into?\nAnswer:", " electrical energy")  # fmt: skip
    assert [len(i.pairs) for i in task.items] == [4, 3, 4, 5, 4]
    assert task.items[2].labels == ("1", "2", "3", "4") and task.items[2].label == "4"


def test_acc_norm_divides_by_the_choice_length_in_characters() -> None:
    item = shared_context("x", "Question: q\nAnswer:", ["ab", "abcdefgh"], 0, ["A", "B"])
    task = Task("arc_challenge", "general", "test", "p", [item], 1, ("acc", "acc_norm"))
    pred = task.predict([-2.0, -4.0])  # acc: A (-2 > -4); acc_norm: -2/2 = -1 < -4/8 = -0.5, so B
    assert pred == {"acc": ["A"], "acc_norm": ["B"]}


def test_hellaswag_preprocess_is_the_harness() -> None:
    assert hellaswag.preprocess("  A [title] B [step] c  d ") == "A. B c d"
    task = hellaswag.load_task(FIXTURES / "hellaswag")
    assert task.items[0].prompt == "Making tea: A man fills a kettle with water and sets it on the stove. He"
    assert task.items[1].prompt.endswith(" She then")  # ctx_b.capitalize() lower-cases the rest
    assert task.items[4].prompt == "Playing the piano: A boy sits down at a piano and opens a book of music. "[:-1]
    wikihow = task.items[2]
    assert "[" not in wikihow.prompt and all("[" not in c for c in wikihow.choices)
    # the harness' quirks, kept: a leading "[title]" leaves a space, and "  " -> " " is one pass
    assert wikihow.choices[3] == " Freeze the plant.  Keep it there for a week."


def test_winogrande_varies_the_context_and_keeps_the_continuation() -> None:
    task = winogrande.load_task(FIXTURES / "winogrande")
    first = task.items[0]
    assert first.pairs == (
        ("The trophy would not fit in the suitcase because the trophy", " was too large."),
        ("The trophy would not fit in the suitcase because the suitcase", " was too large."),
    )
    assert first.label == "1" and task.items[1].label == "2" and task.metrics == ("acc",)


ARC_ONE = {"id": "a", "question": "q", "choices": {"text": ["x"], "label": ["A"]}, "answerKey": "A"}
ARC_KEY = {"id": "a", "question": "q", "choices": {"text": ["x", "y"], "label": ["A", "B"]}, "answerKey": "C"}
HS = {"activity_label": "a", "ctx_a": "b", "ctx_b": "c", "endings": ["1", "2", "3", "4"], "label": "0"}
WG = {"sentence": "a _ b", "option1": "a", "option2": "b", "answer": "1"}
BAD_RECORDS = [
    (arc, "arc_challenge", "test.jsonl", ARC_ONE, ":1: field 'choices'"),
    (arc, "arc_challenge", "test.jsonl", ARC_KEY, ":1: field 'answerKey'"),
    (hellaswag, "hellaswag", "validation.jsonl", {**HS, "label": ""}, ":1: field 'label'"),
    (hellaswag, "hellaswag", "validation.jsonl", {**HS, "endings": ["1"]}, ":1: field 'endings'"),
    (winogrande, "winogrande", "validation.jsonl", {**WG, "sentence": "no blank"}, ":1: field 'sentence'"),
    (winogrande, "winogrande", "validation.jsonl", {**WG, "answer": ""}, ":1: field 'answer'"),
]


@pytest.mark.parametrize(("module", "folder", "name", "record", "message"), BAD_RECORDS)
def test_bad_records_name_file_line_and_field(tmp_path: Path, module, folder, name, record, message) -> None:
    _write(tmp_path / folder / name, [record])
    with pytest.raises(BenchmarkError, match=message):
        module.load_task(tmp_path / folder)


def test_bad_mmlu_records_name_file_line_and_field(tmp_path: Path) -> None:
    _write(tmp_path / "anatomy" / "test.jsonl", [{"question": "q", "choices": list("abcd"), "answer": 1}, {"question": "q", "choices": list("abc"), "answer": 1}])  # fmt: skip
    with pytest.raises(BenchmarkError, match=r"anatomy/test.jsonl:2: field 'choices'"):
        mmlu.load_subject(tmp_path / "anatomy", "anatomy")
    _write(tmp_path / "anatomy" / "test.jsonl", [{"question": "q", "choices": list("abcd"), "answer": 4}])
    with pytest.raises(BenchmarkError, match=r":1: field 'answer'"):
        mmlu.load_subject(tmp_path / "anatomy", "anatomy")
    (tmp_path / "anatomy" / "test.jsonl").write_text("{not json\n")
    with pytest.raises(BenchmarkError, match=r":1: not valid JSON"):
        mmlu.load_subject(tmp_path / "anatomy", "anatomy")


def test_suite_average_weighs_tasks_equally_and_resamples_within_tasks() -> None:
    # task a: 10 items, base 5/10, tuned 10/10 (+0.5); task b: 2 items, base 2/2, tuned 2/2 (0)
    a = ("a", ["x"] * 10, ["x"] * 5 + ["y"] * 5, ["x"] * 10)
    b = ("b", ["x"] * 2, ["x"] * 2, ["x"] * 2)
    sec = report.suite_section([a, b], samples=500, seed=3)
    assert sec["tasks"] == ["a", "b"]
    assert sec["base"]["accuracy"]["value"] == pytest.approx((0.5 + 1.0) / 2)
    assert sec["tuned"]["accuracy"]["value"] == pytest.approx(1.0)
    assert sec["accuracy_delta"]["value"] == pytest.approx(0.25)  # not the item-weighted 5/12
    lo, hi = sec["accuracy_delta"]["ci95"]
    assert 0.0 < lo <= 0.25 <= hi <= 0.5  # task b never varies; task a's delta is between 0 and 1, halved
    assert sec["base"]["per_task"] == {"a": 0.5, "b": 1.0}
    same = stats.paired_bootstrap_task_mean_difference([np.ones(4)], [np.ones(4)], 100, 1)
    assert same.value == 0.0 and same.ci95 == (0.0, 0.0)
    with pytest.raises(ValueError):
        report.suite_section([], samples=10, seed=1)
