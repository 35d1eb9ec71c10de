"""PubMedQA loading, prompt, scoring on synthetic log-likelihoods and with known-answer models."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest
from test_evaluate_helpers import BigramLM, UniformLM

from medllama.evaluate import pubmedqa
from medllama.evaluate.requests import Request

MINI = Path(__file__).resolve().parents[2] / "fixtures" / "benchmarks-mini"


def test_mini_fixture_loads_with_the_harness_prompt() -> None:
    items = pubmedqa.load_pubmedqa(MINI)
    assert [i.id for i in items] == sorted(json.loads((MINI / "test_ground_truth.json").read_text()))
    assert Counter(i.label for i in items) == {"yes": 4, "no": 3, "maybe": 1}
    ori = json.loads((MINI / "ori_pqal.json").read_text())
    first = ori[items[0].id]
    assert (
        items[0].prompt
        == "Abstract: " + "\n".join(first["CONTEXTS"]) + "\nQuestion: " + first["QUESTION"] + "\nAnswer:"
    )
    assert first["LONG_ANSWER"] not in items[0].prompt
    assert len(pubmedqa.load_pubmedqa(MINI, limit=3)) == 3


def test_real_pubmedqa_test_split(shared_dir: Path) -> None:
    folder = shared_dir / "data" / "pubmedqa"
    if not (folder / "ori_pqal.json").is_file():
        pytest.skip(f"{folder} absent")
    items = pubmedqa.load_pubmedqa(folder)
    assert len(items) == 500
    assert Counter(i.label for i in items) == {"yes": 276, "no": 169, "maybe": 55}
    assert all(i.prompt.startswith("Abstract: ") and i.prompt.endswith("\nAnswer:") for i in items)


def test_bad_benchmark_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(pubmedqa.BenchmarkError, match="missing"):
        pubmedqa.load_pubmedqa(tmp_path)
    (tmp_path / "ori_pqal.json").write_text(
        json.dumps({"1": {"QUESTION": "q?", "CONTEXTS": ["c"], "final_decision": "yes"}})
    )
    (tmp_path / "test_ground_truth.json").write_text(json.dumps({"1": "perhaps"}))
    with pytest.raises(pubmedqa.BenchmarkError, match="perhaps"):
        pubmedqa.load_pubmedqa(tmp_path)
    (tmp_path / "test_ground_truth.json").write_text(json.dumps({"2": "yes"}))
    with pytest.raises(pubmedqa.BenchmarkError, match="2 is missing"):
        pubmedqa.load_pubmedqa(tmp_path)
    (tmp_path / "test_ground_truth.json").write_text(json.dumps({"1": "no"}))
    with pytest.raises(pubmedqa.BenchmarkError, match="final_decision"):
        pubmedqa.load_pubmedqa(tmp_path)


def test_predictions_and_accuracy_on_synthetic_scores() -> None:
    from medllama.evaluate import stats

    task = pubmedqa.load_task(MINI, limit=4)
    gold = [i.label for i in task.items]
    flat = [*(-1, -2, -3), *(-3, -1, -2), *(-1, -3, -2), *(-4, -1, -9)]  # yes/no/maybe per item
    pred = task.predict([float(x) for x in flat])["acc"]
    assert pred == ["yes", "no", "yes", "no"]
    assert stats.accuracy(gold, pred) == sum(g == p for g, p in zip(gold, pred, strict=True)) / 4
    assert task.predict([-1.0, -1.0, -1.0] * 4)["acc"] == ["yes"] * 4  # ties: yes/no/maybe order
    with pytest.raises(ValueError):
        task.predict([0.0] * 5)
    with pytest.raises(ValueError):
        task.predict([-1.0, float("nan"), -2.0] * 4)


def test_continuation_logprobs_known_answers() -> None:
    reqs = [Request([1, 5, 6], [7]), Request([1, 5], [7, 8, 9]), Request([2], [3, 3])]
    got = pubmedqa.continuation_logprobs(UniformLM(10), reqs, batch_size=2)
    assert got == pytest.approx([-math.log(10), -3 * math.log(10), -2 * math.log(10)], rel=1e-6)
    table = [[0.1, 0.2, 0.3, 0.4], [0.5, 0.25, 0.125, 0.125], [0.25] * 4, [0.7, 0.1, 0.1, 0.1]]
    # context [1] then continuation [0, 3]: log P(0|1) + log P(3|0) = log 0.5 + log 0.4
    (lp,) = pubmedqa.continuation_logprobs(BigramLM(table), [Request([1], [0, 3])], batch_size=1)
    assert lp == pytest.approx(math.log(0.5) + math.log(0.4), rel=1e-6)


def test_build_requests_with_the_llama_tokenizer(tiny_base_model: Path) -> None:
    from medllama.tokenizer import load_base_tokenizer

    tok = load_base_tokenizer(tiny_base_model)
    task = pubmedqa.load_task(MINI, limit=2)
    task.build_requests(tok, max_len=4096)
    reqs = task.requests
    assert task.truncated == 0 and len(reqs) == 6
    assert [[tok.tokenizer.id_to_token(i) for i in r.continuation] for r in reqs[:3]] == [
        ["▁yes"],
        ["▁no"],
        ["▁maybe"],
    ]
    assert reqs[0].context[0] == tok.bos_id  # Llama 2's tokenizer adds BOS: the harness' framing has it
    assert tok.decode(reqs[0].context[1:]) == task.items[0].prompt
    task.build_requests(tok, max_len=32)
    assert task.truncated == 2
    assert all(r.tokens <= 32 for r in task.requests)  # the model reads at most max_len positions
    assert task.requests[0].context == reqs[0].context[-32:]  # truncation keeps the end (the question)
