"""MMLU (Hendrycks et al.; cais/mmlu ``test`` split), zero-shot, scored like lm-evaluation-harness ``mmlu_<subject>``.

Prompt (the harness' ``description`` + ``doc_to_text``)::

    The following are multiple choice questions (with answers) about {subject, "_" as " "}.\n\n
    {question.strip()}\nA. {choices[0]}\nB. {choices[1]}\nC. {choices[2]}\nD. {choices[3]}\nAnswer:

Choices `` A`` .. `` D``; ``acc`` only (the harness' MMLU configs report no ``acc_norm``).

Tasks: each of the six medical subjects is its own task (``mmlu_anatomy`` …), as peers report them, and the
fixed non-medical subset :data:`GENERAL_SUBJECTS` is one pooled task, ``mmlu_general`` (general suite, the
forgetting check). Files: ``<benchmarks_dir>/mmlu/<subject>/test.jsonl``, the HF dataset's records
(``question``, ``subject``, ``choices`` [4 strings], ``answer`` 0-3); item ids are ``<subject>-<line>``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from medllama.evaluate.benchmark import (
    GENERAL,
    MEDICAL,
    BenchmarkError,
    Item,
    Task,
    TaskInfo,
    int_field,
    load_records,
    shared_context,
    text_field,
)

LETTERS = ("A", "B", "C", "D")
FILES = ("test.jsonl", "test.json")
MEDICAL_SUBJECTS = (
    "anatomy",
    "clinical_knowledge",
    "college_biology",
    "college_medicine",
    "medical_genetics",
    "professional_medicine",
)
# The forgetting check's fixed non-medical subset: one or two subjects from each MMLU category (humanities,
# social sciences, STEM, other), none of them health-related (nutrition, virology, human_aging are left out).
# 1,186 test items. Changing it changes every general-suite number: keep it fixed.
GENERAL_SUBJECTS = (
    "philosophy",
    "high_school_macroeconomics",
    "high_school_physics",
    "computer_security",
    "marketing",
)
GENERAL_TASK = "mmlu_general"
PROMPT = (
    "The following are multiple choice questions (with answers) about {subject}.\n\n"
    "{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nAnswer:"
)


def build_prompt(subject: str, question: str, choices: list[str]) -> str:
    return PROMPT.format(
        subject=subject.replace("_", " "), question=question.strip(), **dict(zip(LETTERS, choices, strict=True))
    )


def parse_item(subject: str, path: Path, lineno: int, rec: dict) -> Item:
    question = text_field(path, lineno, rec, "question")
    choices = rec.get("choices")
    if not isinstance(choices, list) or len(choices) != 4 or not all(isinstance(c, str) for c in choices):
        raise BenchmarkError(f"{path}:{lineno}: field 'choices' must be a list of 4 strings, got {choices!r}")
    answer = int_field(rec.get("answer"))
    if answer is None or not 0 <= answer <= 3:
        raise BenchmarkError(f"{path}:{lineno}: field 'answer' must be 0-3, got {rec.get('answer')!r}")
    if rec.get("subject", subject) not in (subject, ""):
        raise BenchmarkError(f"{path}:{lineno}: field 'subject' is {rec.get('subject')!r}, expected {subject!r}")
    return shared_context(f"{subject}-{lineno:04d}", build_prompt(subject, question, choices), LETTERS, answer)


def load_subject(folder: Path, subject: str) -> tuple[Path, list[Item]] | None:
    """The items of one subject from ``folder`` (``<benchmarks_dir>/mmlu/<subject>``); None when absent."""
    return load_records(folder, FILES, partial(parse_item, subject))


def load_tasks(root: Path, limit: int = 0) -> tuple[list[Task], dict[str, str]]:
    """The six medical subject tasks and ``mmlu_general`` from ``root`` (``<benchmarks_dir>/mmlu``), and the
    reasons for those that are absent. ``mmlu_general`` needs every subject of the subset (it is a fixed set)."""
    tasks: list[Task] = []
    absent: dict[str, str] = {}
    for subject in MEDICAL_SUBJECTS:
        loaded = load_subject(root / subject, subject)
        if loaded is None:
            absent[f"mmlu_{subject}"] = f"no mmlu/{subject}/ folder in the benchmarks folder"
            continue
        path, items = loaded
        tasks.append(_task(f"mmlu_{subject}", MEDICAL, items, limit, {"file": str(path)}))
    pooled: list[Item] = []
    files = []
    missing = []
    for subject in GENERAL_SUBJECTS:
        loaded = load_subject(root / subject, subject)
        if loaded is None:
            missing.append(subject)
            continue
        files.append(str(loaded[0]))
        pooled += loaded[1]
    if missing:
        absent[GENERAL_TASK] = f"the fixed subset lacks mmlu/{{{','.join(missing)}}}/ in the benchmarks folder"
    else:
        tasks.append(_task(GENERAL_TASK, GENERAL, pooled, limit, {"files": files, "subjects": list(GENERAL_SUBJECTS)}))
    return tasks, absent


def _task(name: str, suite: str, items: list[Item], limit: int, source: dict) -> Task:
    info = TaskInfo(name=name, suite=suite, split="test", prompt=PROMPT)
    return info.task(items, limit, {"format": "cais/mmlu", **source})


__all__ = ["GENERAL_SUBJECTS", "GENERAL_TASK", "MEDICAL_SUBJECTS", "build_prompt", "load_subject", "load_tasks"]
