"""HellaSwag (Rowan/hellaswag, ``validation`` split: the test labels are hidden), zero-shot, scored like
lm-evaluation-harness ``hellaswag``.

The harness' ``process_docs``, re-implemented: context = ``preprocess(activity_label + ": " + ctx_a + " " +
ctx_b.capitalize())`` and choices = ``preprocess(ending)`` for each of the 4 endings, where ``preprocess`` strips
the text, turns `` [title]`` into ``. ``, drops every ``[...]`` (WikiHow artifacts) and replaces double spaces
with single ones. ``str.capitalize`` also lower-cases the rest of ``ctx_b``, as in the harness. Metrics ``acc``
and ``acc_norm`` (the harness' headline HellaSwag number is ``acc_norm``).

File: ``<benchmarks_dir>/hellaswag/validation.jsonl``, the HF dataset's records (``ind``, ``activity_label``,
``ctx_a``, ``ctx_b``, ``endings`` [4], ``label`` "0"-"3", …).
"""

from __future__ import annotations

import re
from pathlib import Path

from medllama.evaluate.benchmark import (
    GENERAL,
    BenchmarkError,
    Item,
    Task,
    TaskInfo,
    int_field,
    load_records,
    record_id,
    shared_context,
    text_field,
)

FILES = ("validation.jsonl", "validation.json")
LABELS = ("0", "1", "2", "3")
PROMPT = "preprocess({activity_label}: {ctx_a} {ctx_b.capitalize()})"
INFO = TaskInfo(name="hellaswag", suite=GENERAL, split="validation", prompt=PROMPT, metrics=("acc", "acc_norm"))
NAME = INFO.name
_BRACKETS = re.compile(r"\[.*?\]")


def preprocess(text: str) -> str:
    text = text.strip().replace(" [title]", ". ")
    return _BRACKETS.sub("", text).replace("  ", " ")


def parse_item(path: Path, lineno: int, rec: dict) -> Item:
    activity = text_field(path, lineno, rec, "activity_label")
    ctx_a = text_field(path, lineno, rec, "ctx_a", allow_blank=True)
    ctx_b = text_field(path, lineno, rec, "ctx_b", allow_blank=True)
    endings = rec.get("endings")
    if not isinstance(endings, list) or len(endings) != 4 or not all(isinstance(e, str) for e in endings):
        raise BenchmarkError(f"{path}:{lineno}: field 'endings' must be a list of 4 strings")
    label = int_field(rec.get("label"))
    if label is None or not 0 <= label <= 3:
        raise BenchmarkError(
            f"{path}:{lineno}: field 'label' must be 0-3, got {rec.get('label')!r} (the test split has none)"
        )
    choices = [preprocess(e) for e in endings]
    if not all(choices):
        raise BenchmarkError(f"{path}:{lineno}: an ending is empty after preprocessing")
    context = preprocess(activity + ": " + ctx_a + " " + ctx_b.capitalize())
    return shared_context(record_id(rec, "ind", path, lineno), context, choices, label, LABELS)


def load_task(folder: str | Path, limit: int = 0) -> Task | None:
    if (loaded := load_records(folder, FILES, parse_item)) is None:
        return None
    path, items = loaded
    return INFO.task(items, limit, {"file": str(path), "format": "Rowan/hellaswag"})


__all__ = ["NAME", "load_task", "preprocess"]
