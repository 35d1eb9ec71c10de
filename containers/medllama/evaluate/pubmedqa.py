"""PubMedQA (PQA-L, official 500-item test split) scored like lm-evaluation-harness ``pubmedqa``.

Prompt (the harness' ``doc_to_text``): ``Abstract: {CONTEXTS joined by \\n}\\nQuestion: {QUESTION}\\nAnswer:``;
choices `` yes`` / `` no`` / `` maybe`` (``doc_to_choice`` after the default one-space target delimiter);
prediction = the choice with the highest summed log-likelihood of its tokens given the prompt (``acc``). The
conclusion (LONG_ANSWER) is never shown. Requests are framed as the harness frames them
(:mod:`medllama.evaluate.requests`: the tokenizer's own BOS policy, the continuation's tokens are those of
``encode(prompt + choice)`` past the prompt's, left truncation). Metrics: accuracy and macro-F1 (PubMedQA's
official evaluation.py), paired tests base vs tuned.

Files: ``ori_pqal.json`` and ``test_ground_truth.json`` (pubmedqa/pubmedqa ``data/``) at the top of
``--benchmarks_dir``, where stage-benchmarks puts them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from medllama.evaluate.benchmark import MEDICAL, BenchmarkError, Item, Task, TaskInfo, limited, shared_context
from medllama.evaluate.requests import Request, continuation_logprobs

NAME = "pubmedqa"
LABELS = ("yes", "no", "maybe")
ORI_FILE = "ori_pqal.json"
TEST_FILE = "test_ground_truth.json"
PROMPT = "Abstract: {CONTEXTS joined by newline}\nQuestion: {QUESTION}\nAnswer:"


def build_prompt(contexts: Sequence[str], question: str) -> str:
    return "Abstract: " + "\n".join(contexts) + "\nQuestion: " + question + "\nAnswer:"


def load_pubmedqa(folder: str | Path, limit: int = 0) -> list[Item]:
    """The test items (``test_ground_truth.json`` ids, sorted) with prompts from ``ori_pqal.json``."""
    root = Path(folder)
    paths = {name: root / name for name in (ORI_FILE, TEST_FILE)}
    for path in paths.values():
        if not path.is_file():
            raise BenchmarkError(f"{path}: missing (PubMedQA needs {ORI_FILE} and {TEST_FILE})")
    try:
        ori = json.loads(paths[ORI_FILE].read_text(encoding="utf-8"))
        truth = json.loads(paths[TEST_FILE].read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BenchmarkError(f"{root}: not valid JSON ({err})") from None
    if not isinstance(ori, dict) or not isinstance(truth, dict) or not truth:
        raise BenchmarkError(f"{root}: expected JSON objects keyed by PMID, and a non-empty test set")
    items = []
    for pmid in sorted(truth):
        label = truth[pmid]
        if label not in LABELS:
            raise BenchmarkError(f"{paths[TEST_FILE]}: item {pmid} has label {label!r}, expected one of {LABELS}")
        entry = ori.get(pmid)
        if not isinstance(entry, dict):
            raise BenchmarkError(f"{paths[ORI_FILE]}: test item {pmid} is missing")
        contexts, question = entry.get("CONTEXTS"), entry.get("QUESTION")
        if (
            not isinstance(contexts, list)
            or not all(isinstance(c, str) for c in contexts)
            or not isinstance(question, str)
        ):
            raise BenchmarkError(f"{paths[ORI_FILE]}: item {pmid} needs CONTEXTS (list of strings) and QUESTION")
        if entry.get("final_decision", label) != label:
            raise BenchmarkError(
                f"{root}: item {pmid}: test label {label!r} != final_decision {entry.get('final_decision')!r}"
            )
        items.append(shared_context(pmid, build_prompt(contexts, question), LABELS, LABELS.index(label)))
    return limited(items, limit)


def present(folder: str | Path) -> bool:
    """Whether ``folder`` holds PubMedQA (either file); a half-present copy is an error when loaded."""
    return any((Path(folder) / n).is_file() for n in (ORI_FILE, TEST_FILE))


INFO = TaskInfo(name=NAME, suite=MEDICAL, split="test (PQA-L test_ground_truth.json)", prompt=PROMPT)


def load_task(folder: str | Path, limit: int = 0) -> Task:
    """The PubMedQA :class:`Task` (medical suite, ``acc``) from ``folder``."""
    root = Path(folder)
    files = [str(root / ORI_FILE), str(root / TEST_FILE)]
    return INFO.task(load_pubmedqa(folder), limit, {"files": files, "format": "pubmedqa/pubmedqa data/"})


__all__ = [
    "LABELS",
    "BenchmarkError",
    "Item",
    "Request",
    "build_prompt",
    "continuation_logprobs",
    "load_pubmedqa",
    "load_task",
    "present",
]
