"""``evaluation.json``: the Evaluate step's PropertyFile (versioned schema; docs/evaluation.md).

Top level::

    {"schema_version": "1.0.0", "step": "evaluate", "config": {...}, "inputs": {...}, "models": {...},
     "metrics": {"test_perplexity": {...}, "general_perplexity": {...}, "pubmedqa": {...},
                 "medmcqa": {...}, "medqa": {...}},
     "training": {"source", "final_eval_loss", "final_eval_perplexity", ...},
     "not_computed": {"<metric path>": "<reason>"},
     "gate": {"perplexity_improvement": x, "pubmedqa_delta": y, "general_perplexity_regression": z,
              "not_computed": {"<gate key>": "<reason>"}}}

Rules: no NaN or ±Inf anywhere (a value that is not finite is removed and listed in ``not_computed``);
the three gate values are always finite numbers (0.0 when not computed, and then listed in
``gate.not_computed``). The QualityGate reads ``gate.*`` with ``Std:JsonGet`` (:func:`json_get` here
resolves the same dotted paths).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from medllama.evaluate import stats
from medllama.evaluate.perplexity import LN2, DocumentScore

SCHEMA_VERSION = "1.0.0"
GATE_KEYS = ("perplexity_improvement", "pubmedqa_delta", "general_perplexity_regression")
GATE_PATHS = tuple(f"gate.{key}" for key in GATE_KEYS)
# where each gate value comes from in "metrics"
GATE_SOURCES = {
    "perplexity_improvement": "metrics.test_perplexity.improvement.value",
    "pubmedqa_delta": "metrics.pubmedqa.accuracy_delta.value",
    "general_perplexity_regression": "metrics.general_perplexity.regression.value",
}
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
    base: Sequence[DocumentScore], tuned: Sequence[DocumentScore], *, samples: int, seed: int
) -> dict:
    """Corpus perplexity, bits per byte and mean loss of both models with bootstrap CIs over documents;
    relative change (paired bootstrap, p-value); median per-document perplexity ratio; sign test."""
    if [s.id for s in base] != [s.id for s in tuned]:
        raise ValueError("base and tuned scores must cover the same documents in the same order")
    if not base:
        raise ValueError("no documents")
    tokens = np.array([s.tokens for s in base], dtype=np.float64)
    nbytes = np.array([s.bytes for s in base], dtype=np.float64)
    if tokens.sum() <= 0:
        raise ValueError("no scored tokens")
    section: dict[str, Any] = {
        "documents": len(base),
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
    per_doc = tokens > 0
    with np.errstate(over="ignore"):
        ratios = np.exp((nll["tuned"][per_doc] - nll["base"][per_doc]) / tokens[per_doc])
    median = stats.bootstrap_median(ratios, samples, seed)
    improved = int(np.sum(nll["tuned"][per_doc] < nll["base"][per_doc]))
    worse = int(np.sum(nll["tuned"][per_doc] > nll["base"][per_doc]))
    section["median_document_ratio"] = median.to_json()
    section["documents_improved"] = {
        "count": improved,
        "worse": worse,
        "fraction": improved / int(per_doc.sum()),
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
) -> dict:
    """MedMCQA / MedQA-4: accuracy per model (bootstrap CI over items), paired accuracy delta (paired
    bootstrap p-value), McNemar, and the chance and most-frequent-answer baselines."""
    if not (len(ids) == len(gold) == len(base_pred) == len(tuned_pred)) or not ids:
        raise ValueError("a multiple-choice benchmark needs equally long, non-empty id, gold and prediction lists")
    counts = {c: sum(g == c for g in gold) for c in choices}
    section: dict[str, Any] = {
        "items": len(ids),
        "items_available": total_items,
        "split": split,
        "truncated_items": truncated,
        "prompt": prompt,
        "choices": [" " + c for c in choices],
        "source": source,
        "gold": counts,
        "chance_accuracy": 1 / len(choices),
        "most_frequent_answer_accuracy": max(counts.values()) / len(gold),
    }
    section.update(paired_accuracy(gold, base_pred, tuned_pred, choices, samples=samples, seed=seed))
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


def build_gate(document: dict, not_computed: dict[str, str]) -> dict:
    """The gate object: each value read from its metric, else 0.0 with the reason."""
    gate: dict[str, Any] = {}
    gate_missing: dict[str, str] = {}
    for key in GATE_KEYS:
        source = GATE_SOURCES[key]
        try:
            value = json_get(document, source)
        except KeyError:
            value = None
        if is_number(value):
            gate[key] = float(value)
        else:
            gate[key] = 0.0
            section = source.rsplit(".", 2)[0]
            reason = not_computed.get(source.rsplit(".", 1)[0]) or not_computed.get(section)
            gate_missing[key] = reason or f"{source} is absent"
    gate["not_computed"] = dict(sorted(gate_missing.items()))
    return gate


def assemble(
    *,
    config: dict,
    inputs: dict,
    models: dict,
    metrics: dict,
    not_computed: dict[str, str],
    training: dict | None = None,
) -> dict:
    """The whole evaluation.json; raises ValueError if anything non-finite slipped through."""
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
    document["gate"] = positive_zero(build_gate(document, document["not_computed"]))
    bad = non_finite_paths(document)
    if bad:
        raise ValueError(f"evaluation.json would contain non-finite values at {bad}")
    for path in GATE_PATHS:
        if not is_number(json_get(document, path)):
            raise ValueError(f"{path} is not a finite number")
    return document
