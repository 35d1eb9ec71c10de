"""PubMedQA loading, prompt, scoring on synthetic log-likelihoods and with known-answer models."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest
from test_evaluate_helpers import BigramLM, UniformLM

from medllama.evaluate import pubmedqa
from medllama.evaluate.pubmedqa import Item, Request

MINI = Path(__file__).resolve().parents[2] / "fixtures" / "pubmedqa-mini"


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


def test_choose_on_synthetic_log_likelihoods() -> None:
    assert pubmedqa.choose([-1.0, -2.0, -3.0]) == "yes"
    assert pubmedqa.choose([-5.0, -0.5, -3.0]) == "no"
    assert pubmedqa.choose([-5.0, -4.0, -0.1]) == "maybe"
    assert pubmedqa.choose([-1.0, -1.0, -1.0]) == "yes"  # ties: first label in yes/no/maybe order
    assert pubmedqa.choose([-2.0, -1.0, -1.0]) == "no"
    with pytest.raises(ValueError):
        pubmedqa.choose([-1.0, float("nan"), -2.0])
    with pytest.raises(ValueError):
        pubmedqa.choose([-1.0, -2.0])


def test_predictions_and_accuracy_on_synthetic_scores() -> None:
    from medllama.evaluate import stats

    items = [Item(str(k), "p", label) for k, label in enumerate(["yes", "no", "maybe", "yes"])]
    flat = [*(-1, -2, -3), *(-3, -1, -2), *(-1, -3, -2), *(-4, -1, -9)]  # yes/no/maybe per item
    pred = pubmedqa.predictions(items, [float(x) for x in flat])
    assert pred == ["yes", "no", "yes", "no"]
    assert stats.accuracy([i.label for i in items], pred) == 0.5
    with pytest.raises(ValueError):
        pubmedqa.predictions(items, [0.0] * 5)


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
    items = pubmedqa.load_pubmedqa(MINI, limit=2)
    reqs, truncated = pubmedqa.build_requests(tok, items, max_len=4096)
    assert truncated == 0 and len(reqs) == 6
    assert [[tok.tokenizer.id_to_token(i) for i in r.continuation] for r in reqs[:3]] == [
        ["▁yes"],
        ["▁no"],
        ["▁maybe"],
    ]
    assert reqs[0].context[0] == tok.bos_id
    assert tok.decode(reqs[0].context[1:]) == items[0].prompt
    short, truncated = pubmedqa.build_requests(tok, items, max_len=32)
    assert truncated == 2
    assert all(len(r.context) + len(r.continuation) <= 32 for r in short)
    assert short[0].context == reqs[0].context[-31:]  # truncation keeps the end (the question)
