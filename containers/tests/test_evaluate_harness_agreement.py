"""Per-item agreement with EleutherAI's lm-evaluation-harness 0.4.13 (docs/evaluation.md "Agreement with the harness").

Evaluate does not run the harness (it fetches data from the Hub at run time and scores one model at a time); it
re-implements the suite's prompts and scoring. This test runs the harness' OWN task configs (each YAML here
``include``s the installed harness task and overrides only where the data comes from: our fixture files, offline)
on the tiny Llama model, once with a tokenizer that adds BOS (Llama 2's policy) and once with one that does not
(SmolLM2's), and holds for every item of every task of the suite:

- the (context, continuation) strings are the harness' ``arguments``, character for character;
- our log-likelihood of every choice equals the harness' to 1e-4 nats;
- our ``acc`` (and ``acc_norm`` where reported) per item equals the harness' per-sample metric.

And the held-out bits per byte equal the harness' ``loglikelihood_rolling`` (wikitext-style) within 0.1 %.
The checks can fail: scoring with the other BOS policy moves the log-likelihoods far past the tolerance.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval (requirements-dev.txt) is not installed")

from medllama.evaluate import mmlu, suite  # noqa: E402
from medllama.evaluate.perplexity import LN2, frame_document, score_documents  # noqa: E402
from medllama.evaluate.requests import continuation_logprobs  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "benchmarks-mini"
GENERAL_TEXT = REPO / "fixtures" / "general-text"
MAX_LEN = 512  # the tiny model's max_position_embeddings
LL_TOLERANCE = 1e-4


def _harness_tasks(work: Path) -> dict[str, list[tuple[str, Path]]]:
    """Our task name -> the harness tasks (in item order) with the data file each reads. PubMedQA and MedQA are
    rewritten into the harness' sources' schemas (bigbio/pubmed_qa, GBaker/MedQA-USMLE-4-options-hf)."""
    data = work / "data"
    data.mkdir()
    ori = json.loads((FIXTURES / "ori_pqal.json").read_text())
    truth = json.loads((FIXTURES / "test_ground_truth.json").read_text())
    rows = [
        {"QUESTION": ori[k]["QUESTION"], "CONTEXTS": ori[k]["CONTEXTS"], "final_decision": v}
        for k, v in sorted(truth.items())
    ]
    (data / "pubmedqa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    medqa = []
    for line in (FIXTURES / "medqa" / "test.jsonl").read_text().splitlines():
        rec = json.loads(line)
        endings = {f"ending{k}": rec["options"][c] for k, c in enumerate("ABCD")}
        medqa.append({"sent1": rec["question"], **endings, "label": "ABCD".index(rec["answer_idx"])})
    (data / "medqa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in medqa))
    out = {
        "pubmedqa": [("pubmedqa/pubmedqa.yaml", data / "pubmedqa.jsonl")],
        "medqa": [("medqa/medqa.yaml", data / "medqa.jsonl")],
        "medmcqa": [("medmcqa/medmcqa.yaml", FIXTURES / "medmcqa" / "validation.jsonl")],
        "arc_challenge": [("arc/arc_challenge.yaml", FIXTURES / "arc_challenge" / "test.jsonl")],
        "hellaswag": [("hellaswag/hellaswag.yaml", FIXTURES / "hellaswag" / "validation.jsonl")],
        "winogrande": [("winogrande/default.yaml", FIXTURES / "winogrande" / "validation.jsonl")],
        mmlu.GENERAL_TASK: [
            (f"mmlu/default/mmlu_{s}.yaml", FIXTURES / "mmlu" / s / "test.jsonl") for s in mmlu.GENERAL_SUBJECTS
        ],
    }
    for s in mmlu.MEDICAL_SUBJECTS:
        out[f"mmlu_{s}"] = [(f"mmlu/default/mmlu_{s}.yaml", FIXTURES / "mmlu" / s / "test.jsonl")]
    return out


def _write_configs(work: Path, tasks: dict[str, list[tuple[str, Path]]]) -> dict[str, list[str]]:
    """One YAML per harness task: the harness' config, reading our file (the split its config evaluates)."""
    harness_dir = Path(lm_eval.__file__).parent / "tasks"
    configs = work / "configs"
    configs.mkdir()
    names: dict[str, list[str]] = {}
    for ours, parts in tasks.items():
        for k, (yaml_file, data_file) in enumerate(parts):
            name = f"medllama_check_{ours}_{k}"
            split = "validation" if ours in ("medmcqa", "hellaswag", "winogrande") else "test"
            text = (
                f"include: {harness_dir / yaml_file}\ntask: {name}\ntag: []\ndataset_path: json\ndataset_name: null\n"
                f"dataset_kwargs:\n  data_files:\n    {split}: {data_file}\n"
                "training_split: null\nfewshot_split: null\n" + ("validation_split: null\n" if split == "test" else "")
            )
            (configs / f"{name}.yaml").write_text(text)
            names.setdefault(ours, []).append(name)
    return names


def _no_bos_copy(model_dir: Path, out: Path) -> Path:
    """The tiny model with a tokenizer that adds no BOS and names EOS as its BOS (SmolLM2's GPT-2-style policy)."""
    shutil.copytree(model_dir, out)
    tok = json.loads((out / "tokenizer.json").read_text())
    tok["post_processor"] = None
    (out / "tokenizer.json").write_text(json.dumps(tok))
    cfg = json.loads((out / "tokenizer_config.json").read_text())
    cfg["bos_token"] = "</s>"
    (out / "tokenizer_config.json").write_text(json.dumps(cfg))
    return out


@pytest.fixture(scope="module", params=["adds-bos", "no-bos"])
def models(request, tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medllama.tokenizer import load_base_tokenizer

    folder = tiny_base_model
    if request.param == "no-bos":
        folder = _no_bos_copy(tiny_base_model, tmp_path_factory.mktemp("no-bos") / "model")
    ours = load_base_tokenizer(folder)
    theirs = AutoTokenizer.from_pretrained(folder)
    adds_bos = theirs.encode("x")[0] == theirs.bos_token_id
    assert adds_bos == (request.param == "adds-bos") == (ours.bos_id is not None)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    return request.param, model, ours, theirs


@pytest.fixture(scope="module")
def harness_run(models, tmp_path_factory: pytest.TempPathFactory):
    """The harness' per-sample records for every task of the suite, from its own task configs."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    _, model, _, theirs = models
    work = tmp_path_factory.mktemp("harness")
    names = _write_configs(work, _harness_tasks(work))
    manager = TaskManager(include_path=str(work / "configs"), include_defaults=False)
    lm = HFLM(pretrained=model, tokenizer=theirs, batch_size=16, max_length=MAX_LEN)
    wanted = [n for parts in names.values() for n in parts]
    result = lm_eval.simple_evaluate(model=lm, tasks=wanted, task_manager=manager, log_samples=True, num_fewshot=0)
    samples = {
        ours: [s for n in parts for s in sorted(result["samples"][n], key=lambda s: s["doc_id"])]
        for ours, parts in names.items()
    }
    return samples, lm


@pytest.fixture(scope="module")
def our_run(models):
    _, model, tok, _ = models
    tasks, absent = suite.load_suite(FIXTURES)
    assert absent == {}, absent
    out = {}
    for task in tasks:
        task.build_requests(tok, MAX_LEN)
        logprobs = continuation_logprobs(model, task.requests, batch_size=16, pad_id=tok.pad_id)
        out[task.name] = (task, logprobs, task.predict(logprobs))
    return out


def test_every_task_agrees_item_by_item(harness_run, our_run, models) -> None:
    samples, _ = harness_run
    assert set(samples) == set(our_run) == {*suite.MEDICAL_TASKS, *suite.GENERAL_TASKS}
    worst = 0.0
    compared = 0
    for name, (task, logprobs, preds) in our_run.items():
        theirs = samples[name]
        assert len(theirs) == len(task.items), name
        at = 0
        for k, (item, sample) in enumerate(zip(task.items, theirs, strict=True)):
            where = f"{models[0]} {name} item {item.id}"
            assert [tuple(a) for a in sample["arguments"]] == list(item.pairs), where
            lls = logprobs[at : at + len(item.pairs)]
            at += len(item.pairs)
            harness_lls = [r[0] for r in sample["filtered_resps"]]
            diff = max(abs(a - b) for a, b in zip(lls, harness_lls, strict=True))
            worst = max(worst, diff)
            assert diff < LL_TOLERANCE, f"{where}: {lls} vs {harness_lls}"
            for metric in task.metrics:
                assert (preds[metric][k] == item.label) == bool(sample[metric]), f"{where} {metric}"
            compared += 1
    print(f"{models[0]}: {compared} items of {len(our_run)} tasks agree; largest log-likelihood gap {worst:.2e} nats")


def test_the_other_bos_policy_would_disagree(harness_run, our_run, models) -> None:
    """Sensitivity: framing PubMedQA and ARC with the opposite BOS policy misses the harness by far more than
    the tolerance, so the agreement above is not vacuous."""
    import dataclasses

    samples, _ = harness_run
    policy, model, tok, _ = models
    flipped = _FlippedBos(tok)
    for name in ("pubmedqa", "arc_challenge"):
        task = dataclasses.replace(our_run[name][0], requests=[])
        task.build_requests(flipped, MAX_LEN)
        logprobs = continuation_logprobs(model, task.requests, batch_size=16, pad_id=tok.pad_id)
        harness_lls = [r[0] for s in samples[name] for r in s["filtered_resps"]]
        gap = max(abs(a - b) for a, b in zip(logprobs, harness_lls, strict=True))
        assert gap > 100 * LL_TOLERANCE, f"{policy} {name}: flipping BOS changed nothing ({gap:.2e})"


class _FlippedBos:
    """A tokenizer that follows the opposite BOS policy of ``tok``."""

    def __init__(self, tok) -> None:
        self._tok = tok
        self.prefix = [] if tok.prefix else [tok.start_id]

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text)


def test_bits_per_byte_equal_the_harness_rolling_loglikelihood(harness_run, models) -> None:
    """Held-out documents scored in windows of 48 positions (several per document): per-document log-likelihood
    within 1e-3 nats of ``loglikelihood_rolling`` and corpus bits per byte within 0.1 %."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    policy, model, tok, theirs = models
    texts = [p.read_text(encoding="utf-8").strip() for p in sorted(GENERAL_TEXT.glob("*.txt"))[:4]]
    texts.append("Short one.")
    window = 48
    lm = HFLM(pretrained=model, tokenizer=theirs, batch_size=8, max_length=window)
    requests = [Instance("loglikelihood_rolling", {}, (t,), k) for k, t in enumerate(texts)]
    harness_ll = lm.loglikelihood_rolling(requests, disable_tqdm=True)
    docs = [(str(k), *frame_document(tok, t)) for k, t in enumerate(texts)]
    assert all(len(ids) > 2 * window for _, _, ids in docs[:4])  # several windows each
    scores = score_documents(model, docs, seq_len=window, batch_size=8, prefix_id=tok.start_id, pad_id=tok.pad_id)
    for score, ll in zip(scores, harness_ll, strict=True):
        assert -score.nll == pytest.approx(ll, abs=1e-3), f"{policy} doc {score.id}"
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    ours = sum(s.nll for s in scores) / LN2 / nbytes
    harness = -sum(harness_ll) / math.log(2) / nbytes
    print(f"{policy}: bits/byte ours {ours:.6f} harness {harness:.6f} ({(ours / harness - 1) * 100:+.5f} %)")
    assert ours == pytest.approx(harness, rel=1e-3)
