"""One interface for every zero-shot multiple-choice benchmark of the suite (docs/evaluation.md "Benchmark suite").

A :class:`Task` holds its items; each :class:`Item` is a list of (context, continuation) string pairs, one per
choice, exactly as lm-evaluation-harness 0.4.13 builds them for ``output_type: multiple_choice``:

- most tasks share one context (``doc_to_text``) and vary the continuation: ``target_delimiter + choice``
  (the delimiter is one space) — :func:`shared_context`;
- Winogrande varies the context (the sentence up to the blank, filled with each option) and scores the same
  continuation (the rest of the sentence) — :func:`shared_continuation` (the harness' "multiple input" case).

Requests are built once per task with the tokenizer (:mod:`medllama.evaluate.requests`, the harness' framing),
every model scores the same ones, and :meth:`Task.predict` turns one model's log-likelihoods into per-item
predictions for the harness' metrics: ``acc`` (highest Σ log p; ties go to the earlier choice, as ``np.argmax``)
and ``acc_norm`` (highest Σ log p divided by the choice's length in characters, ``len(doc_to_choice)``), the
latter only for the tasks whose harness config reports it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from medllama.evaluate.requests import Request, encode_pair, model_inputs

DELIMITER = " "  # the harness' default target_delimiter
MEDICAL, GENERAL = "medical", "general"


class BenchmarkError(ValueError):
    """The benchmark files are missing or malformed; the message names the file, the line and the field."""


@dataclass(frozen=True)
class Item:
    """One question: a (context, continuation) pair per choice, the choices' ``doc_to_choice`` strings (the
    lengths ``acc_norm`` divides by), their names in reports, and the gold choice's index."""

    id: str
    pairs: tuple[tuple[str, str], ...]
    choices: tuple[str, ...]
    labels: tuple[str, ...]
    gold: int

    def __post_init__(self) -> None:
        n = len(self.pairs)
        if n < 2 or len(self.choices) != n or len(self.labels) != n or not 0 <= self.gold < n:
            raise ValueError(f"item {self.id}: {n} pairs, {len(self.choices)} choices, gold {self.gold}")

    @property
    def label(self) -> str:
        return self.labels[self.gold]

    @property
    def prompt(self) -> str:
        """The (first) context: the prompt a reader sees."""
        return self.pairs[0][0]


def shared_context(
    item_id: str, context: str, choices: Sequence[str], gold: int, labels: Sequence[str] | None = None
) -> Item:
    """An item whose choices are continuations of one context (``" " + choice`` each)."""
    names = tuple(labels) if labels is not None else tuple(choices)
    return Item(item_id, tuple((context, DELIMITER + c) for c in choices), tuple(choices), names, gold)


def shared_continuation(
    item_id: str, contexts: Sequence[str], continuation: str, gold: int, labels: Sequence[str]
) -> Item:
    """An item whose choices are contexts before one continuation (``" " + continuation``); the harness'
    ``doc_to_choice`` is then the list of contexts."""
    return Item(item_id, tuple((c, DELIMITER + continuation) for c in contexts), tuple(contexts), tuple(labels), gold)


@dataclass
class Task:
    """A loaded benchmark: its items (after ``limit``), how it is scored and where it came from."""

    name: str
    suite: str  # MEDICAL or GENERAL
    split: str
    prompt: str  # the harness' doc_to_text, as a template for readers
    items: list[Item]
    items_available: int
    metrics: tuple[str, ...] = ("acc",)
    source: dict = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    truncated: int = 0

    @property
    def tokens(self) -> int:
        """The tokens the model reads for one model's scoring: each distinct input once (requests.model_inputs)."""
        return sum(len(seq) for seq in model_inputs(self.requests)[0])

    def build_requests(self, tokenizer, max_len: int) -> None:
        """Tokenizes every (context, continuation) pair once, as the harness does; counts truncated items."""
        self.requests, self.truncated = [], 0
        for item in self.items:
            cut = False
            for context, continuation in item.pairs:
                request, truncated = encode_pair(tokenizer, context, continuation, max_len)
                self.requests.append(request)
                cut = cut or truncated
            self.truncated += cut

    def predict(self, logprobs: Sequence[float]) -> dict[str, list[str]]:
        """Per metric (``acc``, and ``acc_norm`` when the task reports it), each item's predicted label, from the
        flat log-likelihoods of :attr:`requests` (item order, choice order)."""
        need = sum(len(i.pairs) for i in self.items)
        if len(logprobs) != need:
            raise ValueError(f"{self.name}: {len(self.items)} items need {need} scores, got {len(logprobs)}")
        out: dict[str, list[str]] = {m: [] for m in self.metrics}
        at = 0
        for item in self.items:
            lls = list(logprobs[at : at + len(item.pairs)])
            at += len(item.pairs)
            if not all(math.isfinite(x) for x in lls):
                raise ValueError(f"{self.name}: item {item.id}: non-finite log-likelihoods {lls}")
            out["acc"].append(item.labels[argmax(lls)])
            if "acc_norm" in out:
                out["acc_norm"].append(
                    item.labels[argmax([ll / len(c) for ll, c in zip(lls, item.choices, strict=True)])]
                )
        return out


@dataclass(frozen=True)
class TaskInfo:
    """What a task module says about its task: the :class:`Task` fields that do not depend on the files read."""

    name: str
    suite: str  # MEDICAL or GENERAL
    split: str
    prompt: str
    metrics: tuple[str, ...] = ("acc",)

    def task(self, items: list[Item], limit: int, source: dict) -> Task:
        """The task of the loaded ``items`` (all counted in ``items_available``), cut to ``limit``; ``source``
        says where they came from (file, format)."""
        return Task(
            name=self.name,
            suite=self.suite,
            split=self.split,
            prompt=self.prompt,
            items=limited(items, limit),
            items_available=len(items),
            metrics=self.metrics,
            source=source,
        )


def load_records(
    folder: str | Path, names: Sequence[str], parse: Callable[[Path, int, dict], Item]
) -> tuple[Path, list[Item]] | None:
    """The items of the one benchmark file in ``folder`` (:func:`find_file`), one per record: ``parse(path, line,
    record)`` builds each (raising :class:`BenchmarkError` that names the file, the line and the field); ids must be
    unique. None when the folder is absent."""
    path = find_file(Path(folder), names)
    if path is None:
        return None
    items = [parse(path, lineno, rec) for lineno, rec in read_records(path)]
    unique_ids(path, items)
    return path, items


def record_id(rec: dict, key: str, path: Path, lineno: int) -> str:
    """The record's own id (``rec[key]``, a string or an int), else ``<file stem>-<line>``."""
    raw = rec.get(key)
    return str(raw) if isinstance(raw, (int, str)) and str(raw) else f"{path.stem}-{lineno:06d}"


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value; the first one on ties (``np.argmax``)."""
    best = 0
    for k, v in enumerate(values):
        if v > values[best]:
            best = k
    return best


def limited(items: list[Item], limit: int) -> list[Item]:
    return items[:limit] if limit > 0 else items


def find_file(folder: Path, names: Sequence[str]) -> Path | None:
    """The one benchmark file in ``folder``; None when the folder is absent (the task is then not computed)."""
    if not folder.is_dir():
        return None
    found = [folder / n for n in names if (folder / n).is_file()]
    if len(found) > 1:
        raise BenchmarkError(f"{folder}: several candidate files {[p.name for p in found]}; keep exactly one")
    if not found:
        raise BenchmarkError(f"{folder}: none of {list(names)} found")
    return found[0]


def read_records(path: Path) -> list[tuple[int, dict]]:
    """(line number, record) pairs from JSON Lines, or from one JSON array (numbered from 1)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise BenchmarkError(f"{path}: not UTF-8 ({err})") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise BenchmarkError(f"{path}: not a valid JSON array ({err})") from None
        rows = list(enumerate(data, start=1))
    else:
        rows = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((lineno, json.loads(line)))
            except json.JSONDecodeError as err:
                raise BenchmarkError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
    for lineno, rec in rows:
        if not isinstance(rec, dict):
            raise BenchmarkError(f"{path}:{lineno}: expected a JSON object")
    if not rows:
        raise BenchmarkError(f"{path}: no records")
    return rows


def text_field(path: Path, lineno: int, rec: dict, key: str, *, allow_blank: bool = False) -> str:
    value = rec.get(key)
    if not isinstance(value, str) or (not allow_blank and not value.strip()):
        raise BenchmarkError(f"{path}:{lineno}: field {key!r} must be a non-empty string, got {value!r}")
    return value


def int_field(value) -> int | None:
    """An int, or a string of digits (HF ClassLabels and string labels), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def unique_ids(path: Path, items: Sequence[Item]) -> None:
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise BenchmarkError(f"{path}: duplicate ids {sorted({i for i in ids if ids.count(i) > 1})[:5]}")


__all__ = [
    "DELIMITER",
    "GENERAL",
    "MEDICAL",
    "BenchmarkError",
    "Item",
    "Task",
    "TaskInfo",
    "argmax",
    "find_file",
    "int_field",
    "limited",
    "load_records",
    "read_records",
    "record_id",
    "shared_context",
    "shared_continuation",
    "text_field",
    "unique_ids",
]
