"""``evaluation.json``: the Evaluate step's PropertyFile (versioned schema; docs/evaluation.md).

Top level::

    {"schema_version": "2.0.0", "step": "evaluate", "config": {...}, "inputs": {...}, "models": {...},
     "metrics": {"test_perplexity": {...}, "general_perplexity": {...}, "pubmedqa": {...},
                 "<task>": {...} for every other task of the suite (medqa, medmcqa, mmlu_<subject>,
                 mmlu_general, arc_challenge, hellaswag, winogrande),
                 "suites": {"medical": {...}, "general": {...}}},
     "training": {"source", "final_eval_loss", "final_eval_perplexity", ...},
     "not_computed": {"<metric path>": "<reason>"},
     "candidates": {"tuned": {"model", "metrics", "not_computed", "gate"}, "slerp-t0.5": {...}, ...},
     "gate": {"checks_computed": 1, "perplexity_improvement_lower": x, "pubmedqa_delta_lower": y,
              "general_regression_upper": z, "passed", "bound", "summary", "checks": {...}, "not_computed": {...},
              "chosen", "rule", "chosen_model_data", "metadata": {...}, "candidates": {...}}}

``metrics`` are the tuned model's comparisons with the base; ``candidates`` holds every candidate's (tuned first,
then the merge-back candidates), and ``gate`` is the chosen candidate's gate (docs/evaluation.md "The gate").

Rules: no NaN or ±Inf anywhere (a value that is not finite is removed and listed in ``not_computed``). The gate
(:mod:`medllama.evaluate.gate`) holds one bound per check, a finite number or null when not computed (never a
stand-in number), and ``checks_computed``. The QualityGate reads ``gate.*`` with ``Std:JsonGet`` (:func:`json_get`
here resolves the same dotted paths).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from medllama.evaluate import stats
from medllama.evaluate.gate import Thresholds, build_gate, check_gate, chosen_gate
from medllama.evaluate.perplexity import LN2, DocumentScore

SCHEMA_VERSION = "2.0.0"
# PubMedQA test (500): yes 276 / no 169 / maybe 55 (shared/data/pubmedqa/README.md)
PUBMEDQA_ALWAYS_YES = 276 / 500


def json_get(doc: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``gate.pubmedqa_delta``), as Std:JsonGet resolves it.
    Raises KeyError naming the first missing part."""
    node = doc
    walked = []
    for part in path.split("."):
        walked.append(part)
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(f"{path}: {'.'.join(walked)} not found")
    return node


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def non_finite_paths(obj: Any, path: str = "") -> list[str]:
    """Dotted paths of every float that is NaN or infinite."""
    if isinstance(obj, float):
        return [] if math.isfinite(obj) else [path or "."]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in non_finite_paths(v, f"{path}.{k}" if path else str(k))]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in non_finite_paths(v, f"{path}.{i}")]
    return []


def positive_zero(obj: Any) -> Any:
    """``-0.0`` → ``0.0`` everywhere (``1 - exp(0)`` is ``-0.0``; readers should not see a signed zero)."""
    if isinstance(obj, float):
        return obj + 0.0
    if isinstance(obj, dict):
        return {k: positive_zero(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [positive_zero(v) for v in obj]
    return obj


def prune_non_finite(obj: dict, path: str, not_computed: dict[str, str]) -> dict:
    """A copy of ``obj`` without non-finite values. The unit removed is the smallest enclosing estimate
    (a dict with ``value``), list, or bare number; each removal is recorded in ``not_computed``."""
    out = {}
    for key, value in obj.items():
        here = f"{path}.{key}"
        bad = non_finite_paths(value)
        if not bad:
            out[key] = value
        elif isinstance(value, dict) and "value" not in value:
            out[key] = prune_non_finite(value, here, not_computed)
        else:
            not_computed[here] = (
                f"not a finite number ({', '.join(here + '.' + b if b != '.' else here for b in bad)})"
            )
    return out


def _estimate(value: float, lo: float, hi: float) -> dict:
    return {"value": value, "ci95": [lo, hi]}


def perplexity_comparison(
    base: Sequence[DocumentScore],
    tuned: Sequence[DocumentScore],
    *,
    samples: int,
    seed: int,
    unit: str = "document",
) -> dict:
    """Corpus perplexity, bits per byte and mean loss of both models with bootstrap CIs over the resampling units
    (``unit``: one score per document, or per file after :func:`~medllama.evaluate.perplexity.pool_by_unit`);
    relative change (paired bootstrap, p-value); median per-unit perplexity ratio; sign test over units."""
    if [s.id for s in base] != [s.id for s in tuned]:
        raise ValueError(f"base and tuned scores must cover the same {unit}s in the same order")
    if not base:
        raise ValueError(f"no {unit}s")
    tokens = np.array([s.tokens for s in base], dtype=np.float64)
    nbytes = np.array([s.bytes for s in base], dtype=np.float64)
    if tokens.sum() <= 0:
        raise ValueError("no scored tokens")
    section: dict[str, Any] = {
        "resampling_unit": unit,
        f"{unit}s": len(base),
        "tokens": int(tokens.sum()),
        "bytes": int(nbytes.sum()),
        "windows": int(sum(s.windows for s in base)),
    }
    nll = {}
    for role, scores in (("base", base), ("tuned", tuned)):
        nll[role] = np.array([s.nll for s in scores], dtype=np.float64)
        with np.errstate(over="ignore"):
            ppl = stats.bootstrap_ratio_of_sums(nll[role], tokens, np.exp, samples, seed)
        loss = stats.bootstrap_ratio_of_sums(nll[role], tokens, lambda x: x, samples, seed)
        bpb = stats.bootstrap_ratio_of_sums(nll[role], nbytes * LN2, lambda x: x, samples, seed)
        section[role] = {"perplexity": ppl.to_json(), "loss": loss.to_json(), "bits_per_byte": bpb.to_json()}
    improvement, regression = stats.paired_bootstrap_relative_change(nll["base"], nll["tuned"], tokens, samples, seed)
    section["improvement"] = improvement.to_json()
    section["regression_relative"] = regression.to_json()
    section["bits_per_byte_delta"] = stats.paired_bootstrap_ratio_difference(
        nll["base"], nll["tuned"], nbytes * LN2, samples, seed
    ).to_json()
    scored = tokens > 0
    with np.errstate(over="ignore"):
        ratios = np.exp((nll["tuned"][scored] - nll["base"][scored]) / tokens[scored])
    median = stats.bootstrap_median(ratios, samples, seed)
    improved = int(np.sum(nll["tuned"][scored] < nll["base"][scored]))
    worse = int(np.sum(nll["tuned"][scored] > nll["base"][scored]))
    section[f"median_{unit}_ratio"] = median.to_json()
    section[f"{unit}s_improved"] = {
        "count": improved,
        "worse": worse,
        "fraction": improved / int(scored.sum()),
        "sign_test_p": stats.binomial_two_sided_p(improved, improved + worse),
    }
    return section


def paired_accuracy(
    gold: Sequence[str],
    base_pred: Sequence[str],
    tuned_pred: Sequence[str],
    labels: Sequence[str],
    *,
    samples: int,
    seed: int,
) -> dict:
    """Per model: accuracy (bootstrap CI over items) and predicted-label counts; then the paired accuracy
    delta (tuned − base, paired bootstrap) and McNemar on the per-item correctness."""
    out: dict[str, Any] = {}
    correct = {}
    for role, pred in (("base", base_pred), ("tuned", tuned_pred)):
        correct[role] = np.array([g == p for g, p in zip(gold, pred, strict=True)], dtype=np.float64)
        out[role] = {
            "accuracy": stats.bootstrap_mean(correct[role], samples, seed).to_json(),
            "predicted": {label: sum(p == label for p in pred) for label in labels},
        }
    out["accuracy_delta"] = stats.paired_bootstrap_mean_difference(
        correct["base"], correct["tuned"], samples, seed
    ).to_json()
    out["mcnemar"] = stats.mcnemar_from_correct(
        [bool(x) for x in correct["base"]], [bool(x) for x in correct["tuned"]]
    ).to_json()
    return out


def pubmedqa_section(
    ids: Sequence[str],
    gold: Sequence[str],
    base_pred: Sequence[str],
    tuned_pred: Sequence[str],
    *,
    samples: int,
    seed: int,
    truncated: int,
    total_test_items: int,
) -> dict:
    """Accuracy and macro-F1 per model (bootstrap CIs over items), paired deltas, McNemar."""
    if not (len(ids) == len(gold) == len(base_pred) == len(tuned_pred)) or not ids:
        raise ValueError("PubMedQA needs equally long, non-empty id, gold and prediction lists")
    section: dict[str, Any] = {
        "items": len(ids),
        "test_items_available": total_test_items,
        "truncated_items": truncated,
        "prompt": "Abstract: {CONTEXTS joined by newline}\nQuestion: {QUESTION}\nAnswer:",
        "choices": [" yes", " no", " maybe"],
        "always_yes_accuracy": sum(g == "yes" for g in gold) / len(gold),
    }
    section.update(paired_accuracy(gold, base_pred, tuned_pred, ("yes", "no", "maybe"), samples=samples, seed=seed))
    for role, pred in (("base", base_pred), ("tuned", tuned_pred)):
        section[role]["macro_f1"] = stats.bootstrap_macro_f1(gold, pred, samples, seed).to_json()
    section["macro_f1_delta"] = stats.paired_bootstrap_macro_f1_difference(
        gold, base_pred, tuned_pred, samples, seed
    ).to_json()
    return section


def multiple_choice_section(
    ids: Sequence[str],
    gold: Sequence[str],
    base_pred: Sequence[str],
    tuned_pred: Sequence[str],
    *,
    samples: int,
    seed: int,
    truncated: int,
    total_items: int,
    split: str,
    prompt: str,
    choices: Sequence[str],
    source: dict,
    suite: str | None = None,
    chance_accuracy: float | None = None,
    norm: tuple[Sequence[str], Sequence[str]] | None = None,
) -> dict:
    """A multiple-choice benchmark of the suite: accuracy per model (bootstrap CI over items), paired accuracy
    delta (paired bootstrap p-value), McNemar, and the chance and most-frequent-answer baselines. ``choices`` are
    the label names counted in ``gold`` / ``predicted``; ``chance_accuracy`` defaults to 1/len(choices) (give the
    mean of 1/choices per item when items differ). ``norm`` = (base, tuned) ``acc_norm`` predictions, reported
    under ``acc_norm`` with the same statistics, for the tasks whose harness config reports it."""
    if not (len(ids) == len(gold) == len(base_pred) == len(tuned_pred)) or not ids:
        raise ValueError("a multiple-choice benchmark needs equally long, non-empty id, gold and prediction lists")
    counts = {c: sum(g == c for g in gold) for c in choices}
    section: dict[str, Any] = {
        "items": len(ids),
        "items_available": total_items,
        "split": split,
        **({"suite": suite} if suite is not None else {}),
        "truncated_items": truncated,
        "prompt": prompt,
        "choices": [" " + c for c in choices],
        "source": source,
        "gold": counts,
        "chance_accuracy": chance_accuracy if chance_accuracy is not None else 1 / len(choices),
        "most_frequent_answer_accuracy": max(counts.values()) / len(gold),
    }
    section.update(paired_accuracy(gold, base_pred, tuned_pred, choices, samples=samples, seed=seed))
    if norm is not None:
        section["acc_norm"] = paired_accuracy(gold, norm[0], norm[1], choices, samples=samples, seed=seed)
    return section


def suite_section(
    tasks: Sequence[tuple[str, Sequence[str], Sequence[str], Sequence[str]]], *, samples: int, seed: int
) -> dict:
    """The suite's average accuracy (``acc``) per model and its paired delta (tuned − base) over ``tasks`` =
    (name, gold, base_pred, tuned_pred): every task weighs the same (the mean of the task accuracies, as peers
    average benchmarks), and the bootstrap resamples items within each task (:func:`stats.
    paired_bootstrap_task_mean_difference`), so a 1,000-item task and a 100-item one each carry their own noise."""
    if not tasks:
        raise ValueError("a suite average needs at least one task")
    correct = {"base": [], "tuned": []}
    for _, gold, base_pred, tuned_pred in tasks:
        for role, pred in (("base", base_pred), ("tuned", tuned_pred)):
            correct[role].append(np.array([g == p for g, p in zip(gold, pred, strict=True)], dtype=np.float64))
    section: dict[str, Any] = {
        "tasks": [name for name, *_ in tasks],
        "weighting": "each task equally; items resampled within each task",
    }
    for role in ("base", "tuned"):
        section[role] = {
            "accuracy": stats.bootstrap_task_mean(correct[role], samples, seed).to_json(),
            "per_task": {name: float(c.mean()) for (name, *_), c in zip(tasks, correct[role], strict=True)},
        }
    section["accuracy_delta"] = stats.paired_bootstrap_task_mean_difference(
        correct["base"], correct["tuned"], samples, seed
    ).to_json()
    return section


TRAINING_FIELDS = ("method", "steps", "tokens_seen", "seq_len", "eval_blocks", "final_train_loss")


def training_section(summary: Any, source: str, not_computed: dict[str, str]) -> dict:
    """The tuned model's validation loss from medllama.train's ``training_summary.json``: ``final_eval_loss``
    (mean token NLL in nats over the packed validation split) and its perplexity, with the source file.
    A missing or non-finite loss is left out and recorded in ``not_computed``."""
    if not isinstance(summary, dict):
        raise ValueError(f"{source}: expected a JSON object")
    section: dict[str, Any] = {"source": source}
    for key in TRAINING_FIELDS:
        value = summary.get(key)
        if isinstance(value, str) or is_number(value):
            section[key] = value
    loss = summary.get("final_eval_loss")
    if is_number(loss):
        section["final_eval_loss"] = float(loss)
        ppl = summary.get("final_eval_perplexity")
        if not is_number(ppl):
            ppl = math.exp(loss) if loss < 700 else None
        if ppl is not None:
            section["final_eval_perplexity"] = float(ppl)
    else:
        not_computed["training.final_eval_loss"] = (
            f"{source}: final_eval_loss is {loss!r} (no validation split in training, or a non-finite loss)"
        )
    return section


def candidate_entry(model: dict, metrics: dict, not_computed: dict[str, str], thresholds: Thresholds) -> dict:
    """One merge-back candidate's ``candidates.<name>`` object: its metrics (non-finite values pruned into its own
    ``not_computed``, which starts from the inputs' reasons) and its gate, judged like the tuned model's."""
    nc = dict(not_computed)
    pruned = positive_zero(prune_non_finite(metrics, "metrics", nc))
    gate = positive_zero(build_gate({"metrics": pruned}, nc, thresholds))
    check_gate(gate)
    return {"model": model, "metrics": pruned, "not_computed": dict(sorted(nc.items())), "gate": gate}


def assemble(
    *,
    config: dict,
    inputs: dict,
    models: dict,
    metrics: dict,
    not_computed: dict[str, str],
    training: dict | None = None,
    thresholds: Thresholds | None = None,
    tuned_model: dict | None = None,
    candidates: dict[str, dict] | None = None,
) -> dict:
    """The whole evaluation.json (the gate judged with ``thresholds``, default the pipeline's defaults); raises
    ValueError if anything non-finite slipped through or the gate breaks its contract.

    ``metrics`` are the tuned model's paired comparisons with the base (today's keys); ``candidates`` (name →
    ``{"model", "metrics"}``) the merge-back candidates' own, compared with the base by the same functions. Each
    candidate, tuned first, gets ``candidates.<name>.{model, metrics, not_computed, gate}``; the top-level ``gate``
    is the chosen candidate's (:func:`medllama.evaluate.gate.chosen_gate`). ``model`` holds ``model_data`` (the S3
    URI Register registers) and ``spec``."""
    nc = dict(not_computed)
    pruned = positive_zero(prune_non_finite(metrics, "metrics", nc))
    extra = {} if training is None else {"training": positive_zero(prune_non_finite(training, "training", nc))}
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "step": "evaluate",
        "config": config,
        "inputs": inputs,
        "models": models,
        "metrics": pruned,
        **extra,
        "not_computed": dict(sorted(nc.items())),
    }
    thresholds = thresholds or Thresholds()
    tuned_gate = positive_zero(build_gate(document, document["not_computed"], thresholds))
    check_gate(tuned_gate)
    tuned = {"model_data": models.get("tuned", {}).get("path"), "spec": "tuned", **(tuned_model or {})}
    entries = {
        "tuned": {
            "model": tuned,
            "metrics": document["metrics"],
            "not_computed": document["not_computed"],
            "gate": tuned_gate,
        }
    }
    for name, candidate in (candidates or {}).items():
        entries[name] = candidate_entry(candidate["model"], candidate["metrics"], not_computed, thresholds)
    document["candidates"] = entries
    document["gate"] = chosen_gate(
        {n: e["gate"] for n, e in entries.items()}, {n: e["model"] for n, e in entries.items()}
    )
    bad = non_finite_paths(document)
    if bad:
        raise ValueError(f"evaluation.json would contain non-finite values at {bad}")
    check_gate(document["gate"])
    return document
