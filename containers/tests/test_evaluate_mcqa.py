"""MedMCQA / MedQA-4: file formats and their detection, harness prompts, scoring on synthetic
log-likelihoods, the report section and the training-summary section."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from test_evaluate_helpers import BigramLM

from medllama.evaluate import mcqa, report
from medllama.evaluate.benchmark import BenchmarkError, shared_context
from medllama.evaluate.requests import Request, continuation_logprobs

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "benchmarks-mini"


def _mcqa_row(i: int, cop, **extra) -> dict:
    return {"id": f"q{i}", "question": f"Question {i}?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": cop}


def _write(folder: Path, name: str, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_medmcqa_fixture_uses_the_harness_prompt() -> None:
    bench = mcqa.load_medmcqa(FIXTURES / "medmcqa")
    assert bench is not None and len(bench.items) == 8
    assert [i.id for i in bench.items] == sorted(i.id for i in bench.items)
    assert bench.source["cop_index"] == "0-3"
    first = json.loads((FIXTURES / "medmcqa" / "validation.jsonl").read_text().splitlines()[0])
    item = next(i for i in bench.items if i.id == first["id"])
    assert item.prompt == (
        f"Question: {first['question']}\nChoices:\nA. {first['opa']}\nB. {first['opb']}\n"
        f"C. {first['opc']}\nD. {first['opd']}\nAnswer:"
    )
    assert item.label == "ABCD"[first["cop"]]
    assert sorted(i.label for i in bench.items) == list("AABBCCDD")
    assert len(mcqa.load_medmcqa(FIXTURES / "medmcqa", limit=3).items) == 3 and bench.items_available == 8
    assert bench.metrics == ("acc", "acc_norm") and item.pairs[0] == (item.prompt, " A")


def test_medqa_fixture_uses_the_harness_prompt() -> None:
    bench = mcqa.load_medqa(FIXTURES / "medqa")
    assert bench is not None and bench.source["format"] == "options/answer_idx"
    first = json.loads((FIXTURES / "medqa" / "test.jsonl").read_text().splitlines()[0])
    o = first["options"]
    assert bench.items[0].prompt == (
        f"Question: {first['question']}\nA. {o['A']}\nB. {o['B']}\nC. {o['C']}\nD. {o['D']}\nAnswer:"
    )
    assert "Choices:" not in bench.items[0].prompt  # medqa_4options has no "Choices:" line
    assert [i.id for i in bench.items][:2] == ["test-000001", "test-000002"]
    assert [i.label for i in bench.items] == [
        json.loads(x)["answer_idx"] for x in (FIXTURES / "medqa" / "test.jsonl").read_text().splitlines()
    ]


def test_medqa_hf_format_is_detected(tmp_path: Path) -> None:
    rows = [
        {"id": 7, "sent1": "Which?", "ending0": "w", "ending1": "x", "ending2": "y", "ending3": "z", "label": 2},
        {"id": 8, "sent1": "Other?", "ending0": "w", "ending1": "x", "ending2": "y", "ending3": "z", "label": 0},
    ]
    _write(tmp_path / "medqa", "test.json", rows)
    bench = mcqa.load_medqa(tmp_path / "medqa")
    assert bench.source["format"] == "sent1/ending0-3/label"
    assert [(i.id, i.label) for i in bench.items] == [("7", "C"), ("8", "A")]
    assert bench.items[0].prompt == "Question: Which?\nA. w\nB. x\nC. y\nD. z\nAnswer:"


@pytest.mark.parametrize(
    "cops,setting,expected",
    [
        ([0, 1, 2, 3], "auto", "ABCD"),
        ([1, 2, 3, 4], "auto", "ABCD"),
        ([0, 0, 2, 2], "auto", "AACC"),
        (["4", "1", "2", "3"], "auto", "DABC"),  # digit strings as some exports write them
        ([1, 2, 3, 1], "1-4", "ABCA"),
        ([1, 2, 3, 1], "0-3", "BCDB"),
    ],
)
def test_medmcqa_cop_numbering(tmp_path: Path, cops: list, setting: str, expected: str) -> None:
    _write(tmp_path / "medmcqa", "dev.json", [_mcqa_row(i, c) for i, c in enumerate(cops)])
    bench = mcqa.load_medmcqa(tmp_path / "medmcqa", setting)
    assert "".join(i.label for i in sorted(bench.items, key=lambda x: int(x.id[1:]))) == expected


@pytest.mark.parametrize(
    "cops,setting,match",
    [
        ([1, 2, 3, 2], "auto", "fit both 0-3 and 1-4"),
        ([0, 4, 1, 2], "auto", "both 0 and 4"),
        ([0, 1, -1, 2], "auto", "hidden answer"),
        ([1, 2, 3, 4], "0-3", r"outside 0-3"),
        ([1, "b", 3, 4], "auto", "'cop' must be an integer"),
    ],
)
def test_medmcqa_bad_cop_is_a_clear_error(tmp_path: Path, cops: list, setting: str, match: str) -> None:
    _write(tmp_path / "medmcqa", "validation.jsonl", [_mcqa_row(i, c) for i, c in enumerate(cops)])
    with pytest.raises(BenchmarkError, match=match):
        mcqa.load_medmcqa(tmp_path / "medmcqa", setting)


def test_bad_files_are_clear_errors(tmp_path: Path) -> None:
    assert mcqa.load_medmcqa(tmp_path / "absent") is None
    assert mcqa.load_medqa(tmp_path / "absent") is None
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchmarkError, match="none of"):
        mcqa.load_medqa(tmp_path / "empty")
    two = tmp_path / "two"
    _write(two, "dev.json", [_mcqa_row(1, 0)])
    _write(two, "validation.jsonl", [_mcqa_row(1, 0)])
    with pytest.raises(BenchmarkError, match="several candidate files"):
        mcqa.load_medmcqa(two)
    _write(tmp_path / "dup", "dev.json", [_mcqa_row(1, 0), _mcqa_row(1, 3)])
    with pytest.raises(BenchmarkError, match="duplicate ids"):
        mcqa.load_medmcqa(tmp_path / "dup")
    bad = _write(tmp_path / "badline", "dev.json", [_mcqa_row(1, 0)])
    bad.write_text(bad.read_text() + "{oops\n")
    with pytest.raises(BenchmarkError, match=r"dev.json:2: not valid JSON"):
        mcqa.load_medmcqa(tmp_path / "badline")
    row = {"question": "q", "options": {"A": "a", "B": "b", "C": "c", "D": "d", "E": "e"}, "answer_idx": "E"}
    _write(tmp_path / "five", "test.jsonl", [row])
    with pytest.raises(BenchmarkError, match="exactly the keys A-D"):
        mcqa.load_medqa(tmp_path / "five")
    row = {"question": "q", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "answer_idx": "d"}
    _write(tmp_path / "lower", "test.jsonl", [row])
    with pytest.raises(BenchmarkError, match="answer_idx 'd'"):
        mcqa.load_medqa(tmp_path / "lower")
    hf = {"sent1": "q", "ending0": "a", "ending1": "b", "ending2": "c", "ending3": "d", "label": 1}
    _write(tmp_path / "mixed", "test.jsonl", [{**row, "answer_idx": "A"}, hf])
    with pytest.raises(BenchmarkError, match=r"test\.jsonl:2: record format differs"):
        mcqa.load_medqa(tmp_path / "mixed")
    _write(tmp_path / "unknown", "test.jsonl", [{"q": "?"}])
    with pytest.raises(BenchmarkError, match="unknown MedQA format"):
        mcqa.load_medqa(tmp_path / "unknown")


def test_json_array_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "medmcqa").mkdir()
    (tmp_path / "medmcqa" / "dev.json").write_text(json.dumps([_mcqa_row(1, 4), _mcqa_row(2, 1)]))
    bench = mcqa.load_medmcqa(tmp_path / "medmcqa")
    assert [i.label for i in bench.items] == ["D", "A"] and bench.source["cop_index"] == "1-4"


def _task(items):
    from medllama.evaluate.benchmark import Task

    return Task("medmcqa", "medical", "validation", "p", items, len(items), ("acc", "acc_norm"))


def test_predictions_on_synthetic_log_likelihoods() -> None:
    items = [shared_context(str(k), "p", mcqa.LETTERS, k) for k in range(4)]
    flat = [*(-1, -2, -3, -4), *(-3, -1, -2, -9), *(-1, -3, -2, -5), *(-4, -1, -9, -0.5)]
    pred = _task(items).predict([float(x) for x in flat])
    assert pred["acc"] == ["A", "B", "A", "D"]
    assert pred["acc_norm"] == pred["acc"]  # one-letter choices: dividing by 1 changes nothing
    tie = _task(items[:1]).predict([-2.0, -1.0, -1.0, -3.0])
    assert tie["acc"] == ["B"]  # ties: A, B, C, D order (np.argmax)
    with pytest.raises(ValueError):
        _task(items).predict([0.0] * 15)
    with pytest.raises(ValueError):
        _task(items[:1]).predict([-1.0, math.inf, -3.0, -4.0])


def test_letter_scoring_with_a_known_answer_model() -> None:
    # vocabulary 0..3 = the four letters; P(next | prev) from the table; context ends in token 3
    table = [[0.25] * 4, [0.25] * 4, [0.25] * 4, [0.1, 0.2, 0.6, 0.1]]
    reqs = [Request([3], [k]) for k in range(4)]
    lp = continuation_logprobs(BigramLM(table), reqs, batch_size=3)
    assert lp == pytest.approx([math.log(p) for p in table[3]], rel=1e-6)
    assert _task([shared_context("x", "p", mcqa.LETTERS, 2)]).predict(lp)["acc"] == ["C"]


def test_build_requests_with_the_llama_tokenizer(tiny_base_model: Path) -> None:
    from medllama.tokenizer import load_base_tokenizer

    tok = load_base_tokenizer(tiny_base_model)
    bench = mcqa.load_medqa(FIXTURES / "medqa", limit=2)
    bench.build_requests(tok, max_len=4096)
    reqs = bench.requests
    assert bench.truncated == 0 and len(reqs) == 8
    assert [[tok.tokenizer.id_to_token(i) for i in r.continuation] for r in reqs[:4]] == [
        ["▁A"],
        ["▁B"],
        ["▁C"],
        ["▁D"],
    ]
    assert reqs[0].context[0] == tok.bos_id  # Llama 2's tokenizer adds BOS, so the harness' framing has it
    assert tok.decode(reqs[0].context[1:]) == bench.items[0].prompt
    bench.build_requests(tok, max_len=16)
    assert bench.truncated == 2 and all(len(r.context) + len(r.continuation) <= 17 for r in bench.requests)
    assert all(r.tokens <= 16 for r in bench.requests)  # the model reads at most max_len positions


def test_multiple_choice_section_known_values() -> None:
    gold = list("AABBCCDDAA")
    base = list("AABBCCDDBB")  # 8 / 10
    tuned = list("AABBCCDDAB")  # 9 / 10: one tuned-only correct, none base-only
    sec = report.multiple_choice_section(
        [str(i) for i in range(10)], gold, base, tuned, samples=200, seed=1, truncated=0, total_items=12,
        split="validation", prompt=mcqa.PROMPTS["medmcqa"], choices=mcqa.LETTERS, source={"file": "f"},
    )  # fmt: skip
    assert sec["base"]["accuracy"]["value"] == pytest.approx(0.8)
    assert sec["tuned"]["accuracy"]["value"] == pytest.approx(0.9)
    assert sec["accuracy_delta"]["value"] == pytest.approx(0.1)
    assert (sec["mcnemar"]["base_only_correct"], sec["mcnemar"]["tuned_only_correct"]) == (0, 1)
    assert sec["mcnemar"]["exact_p"] == 1.0
    assert sec["gold"] == {"A": 4, "B": 2, "C": 2, "D": 2}
    assert sec["most_frequent_answer_accuracy"] == pytest.approx(0.4) and sec["chance_accuracy"] == 0.25
    assert sec["base"]["predicted"] == {"A": 2, "B": 4, "C": 2, "D": 2}
    assert sec["items_available"] == 12 and sec["choices"] == [" A", " B", " C", " D"]
    with pytest.raises(ValueError):
        report.multiple_choice_section(
            [], [], [], [], samples=10, seed=1, truncated=0, total_items=0, split="test", prompt="",
            choices=mcqa.LETTERS, source={},
        )  # fmt: skip


def test_training_section_from_a_training_summary() -> None:
    nc: dict[str, str] = {}
    summary = {"final_eval_loss": 2.0, "final_eval_perplexity": math.exp(2.0), "steps": 5, "versions": {"x": 1}}
    sec = report.training_section(summary, "/m/training_summary.json", nc)
    assert sec == {
        "source": "/m/training_summary.json",
        "steps": 5,
        "final_eval_loss": 2.0,
        "final_eval_perplexity": pytest.approx(math.exp(2.0)),
    }
    assert nc == {}
    # perplexity derived when the summary lacks it; a null loss is reported as not computed
    assert report.training_section({"final_eval_loss": 1.0}, "s", nc)["final_eval_perplexity"] == pytest.approx(math.e)
    sec = report.training_section({"final_eval_loss": None, "final_eval_perplexity": None}, "s", nc)
    assert "final_eval_loss" not in sec and "final_eval_perplexity" not in sec
    assert "final_eval_loss is None" in nc["training.final_eval_loss"]
    doc = report.assemble(config={}, inputs={}, models={}, metrics={}, not_computed=nc, training=sec)
    assert doc["training"] == {"source": "s"} and "training.final_eval_loss" in doc["not_computed"]
    assert "training" not in report.assemble(config={}, inputs={}, models={}, metrics={}, not_computed={})


def test_one_letter_tasks_read_each_question_once_with_the_llama_tokenizer(tiny_base_model: Path) -> None:
    # " A" .. " D" are one token each after "Answer:", so the four choices of a question share the model's input
    # and Evaluate runs one forward pass per question (requests.model_inputs), as the harness' cache does.
    from medllama.evaluate import mmlu, pubmedqa
    from medllama.evaluate.requests import model_inputs
    from medllama.tokenizer import load_base_tokenizer

    tok = load_base_tokenizer(tiny_base_model)
    benches = [
        mcqa.load_medqa(FIXTURES / "medqa"),
        mcqa.load_medmcqa(FIXTURES / "medmcqa"),
        pubmedqa.load_task(FIXTURES),
        *mmlu.load_tasks(FIXTURES / "mmlu")[0],
    ]
    assert len(benches) >= 4
    for bench in benches:
        bench.build_requests(tok, max_len=4096)
        seqs, _ = model_inputs(bench.requests)
        choices = len(bench.items[0].pairs)
        assert len(bench.requests) == choices * len(bench.items) and len(seqs) == len(bench.items), bench.name
        assert bench.tokens == sum(len(r.context) for r in bench.requests[::choices])
