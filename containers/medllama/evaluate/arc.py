"""ARC-Challenge (allenai/ai2_arc ``ARC-Challenge``, ``test`` split), zero-shot, scored like lm-evaluation-harness
``arc_challenge``: prompt ``Question: {question}\\nAnswer:``, choices `` {choices.text[k]}``, gold =
``choices.label.index(answerKey)``; ``acc`` and ``acc_norm`` (the log-likelihood divided by the choice text's
length in characters). Items have 3 to 5 choices.

File: ``<benchmarks_dir>/arc_challenge/test.jsonl``, the HF dataset's records (``id``, ``question``,
``choices`` {``text``, ``label``}, ``answerKey``).
"""

from __future__ import annotations

from pathlib import Path

from medllama.evaluate.benchmark import (
    GENERAL,
    BenchmarkError,
    Item,
    Task,
    TaskInfo,
    load_records,
    shared_context,
    text_field,
)

FILES = ("test.jsonl", "test.json")
PROMPT = "Question: {question}\nAnswer:"
INFO = TaskInfo(name="arc_challenge", suite=GENERAL, split="test", prompt=PROMPT, metrics=("acc", "acc_norm"))
NAME = INFO.name


def parse_item(path: Path, lineno: int, rec: dict) -> Item:
    item_id = text_field(path, lineno, rec, "id")
    question = text_field(path, lineno, rec, "question")
    choices = rec.get("choices")
    texts = choices.get("text") if isinstance(choices, dict) else None
    labels = choices.get("label") if isinstance(choices, dict) else None
    if (
        not isinstance(texts, list)
        or not isinstance(labels, list)
        or len(texts) != len(labels)
        or len(texts) < 2
        or not all(isinstance(t, str) and t for t in texts)
        or not all(isinstance(x, str) for x in labels)
    ):
        raise BenchmarkError(
            f"{path}:{lineno}: field 'choices' must be {{'text': [...], 'label': [...]}} of equal length >= 2"
        )
    key = rec.get("answerKey")
    if key not in labels:
        raise BenchmarkError(f"{path}:{lineno}: field 'answerKey' {key!r} is not one of {labels}")
    return shared_context(item_id, PROMPT.format(question=question), texts, labels.index(key), labels)


def load_task(folder: str | Path, limit: int = 0) -> Task | None:
    if (loaded := load_records(folder, FILES, parse_item)) is None:
        return None
    path, items = loaded
    return INFO.task(items, limit, {"file": str(path), "format": "allenai/ai2_arc ARC-Challenge"})


__all__ = ["NAME", "load_task"]
