"""Winogrande (allenai/winogrande ``winogrande_xl``, ``validation`` split: the test labels are hidden), zero-shot,
scored like lm-evaluation-harness ``winogrande`` ("partial" scoring).

Each option fills the blank: context k = ``sentence[:sentence.index("_")] + option_k``; the continuation is the
same for both, `` `` + ``sentence[after "_":].strip()``; the prediction is the option under which the rest of
the sentence is likelier (``acc``; the harness reports no ``acc_norm`` here). Gold = ``answer`` ("1"/"2") − 1.

File: ``<benchmarks_dir>/winogrande/validation.jsonl``, the HF dataset's records (``sentence``, ``option1``,
``option2``, ``answer``); item ids are ``<file stem>-<line>`` (the dataset has none).
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
    shared_continuation,
    text_field,
)

FILES = ("validation.jsonl", "validation.json")
LABELS = ("1", "2")
PROMPT = "{sentence up to _}{option} → ' ' + {rest of the sentence}"
INFO = TaskInfo(name="winogrande", suite=GENERAL, split="validation (winogrande_xl)", prompt=PROMPT)
NAME = INFO.name


def parse_item(path: Path, lineno: int, rec: dict) -> Item:
    sentence = text_field(path, lineno, rec, "sentence")
    options = [text_field(path, lineno, rec, k) for k in ("option1", "option2")]
    answer = rec.get("answer")
    if answer not in LABELS:
        raise BenchmarkError(f"{path}:{lineno}: field 'answer' must be '1' or '2', got {answer!r}")
    blank = sentence.find("_")
    if blank < 0:
        raise BenchmarkError(f"{path}:{lineno}: field 'sentence' has no '_' blank")
    rest = sentence[blank + 1 :].strip()
    if not rest:
        raise BenchmarkError(f"{path}:{lineno}: field 'sentence' has nothing after its '_' blank")
    contexts = [sentence[:blank] + o for o in options]
    return shared_continuation(f"{path.stem}-{lineno:05d}", contexts, rest, LABELS.index(answer), LABELS)


def load_task(folder: str | Path, limit: int = 0) -> Task | None:
    if (loaded := load_records(folder, FILES, parse_item)) is None:
        return None
    path, items = loaded
    return INFO.task(items, limit, {"file": str(path), "format": "allenai/winogrande winogrande_xl"})


__all__ = ["NAME", "load_task"]
