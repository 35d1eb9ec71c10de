"""MedMCQA (validation) and MedQA-USMLE 4-option (test), scored like lm-evaluation-harness ``medmcqa`` and
``medqa_4options`` (docs/evaluation.md): 0-shot, log-likelihood of the answer letter.

Prompts (the harness' own ``doc_to_text`` per task):

- ``medmcqa``: ``Question: {question}\\nChoices:\\nA. {opa}\\nB. {opb}\\nC. {opc}\\nD. {opd}\\nAnswer:``
- ``medqa_4options``: ``Question: {question}\\nA. {A}\\nB. {B}\\nC. {C}\\nD. {D}\\nAnswer:`` (no "Choices:" line)

Choices `` A`` / `` B`` / `` C`` / `` D`` (the harness' ``doc_to_choice`` letters after its default one-space
target delimiter); prediction = the letter with the highest summed log-likelihood (``acc``; ties: A, B, C,
D order). The requests and the scoring are PubMedQA's (:mod:`medllama.evaluate.pubmedqa`): same split of
the continuation, ``<s>`` prepended, left truncation.

Files, in ``<benchmarks_dir>/medmcqa/`` and ``<benchmarks_dir>/medqa/`` (JSON Lines; a single JSON array
is accepted too):

- MedMCQA (openlifescienceai/medmcqa; medmcqa/medmcqa ``dev.json``): ``id``, ``question``, ``opa``..``opd``,
  ``cop``. ``cop`` is 0-3 in the Hugging Face dataset (a ClassLabel a-d) and 1-4 in the original release;
  ``cop_index="auto"`` decides per file: a 0 means 0-3, a 4 means 1-4, both is an error, neither (only 1-3)
  is ambiguous and an error asking for ``--medmcqa_cop``. Items are sorted by ``id``.
- MedQA-USMLE 4-option: the original jsonl (jind11/MedQA ``4_options``; GBaker/MedQA-USMLE-4-options):
  ``question``, ``options`` {A..D}, ``answer_idx`` (letter); or the harness' source
  (GBaker/MedQA-USMLE-4-options-hf): ``sent1``, ``ending0``..``ending3``, ``label`` (0-3). Detected from the
  first record; every record must have the same format. Items keep file order (ids: ``id`` when present,
  else ``<file stem>-<line>``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from medllama.evaluate.pubmedqa import (
    BenchmarkError,
    Request,
    build_choice_requests,
    choose_among,
    continuation_logprobs,
)

LETTERS = ("A", "B", "C", "D")
MEDMCQA_FILES = ("validation.jsonl", "dev.jsonl", "dev.json", "validation.json")
MEDQA_FILES = ("test.jsonl", "test.json", "phrases_no_exclude_test.jsonl")
PROMPTS = {
    "medmcqa": "Question: {question}\nChoices:\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nAnswer:",
    "medqa": "Question: {question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nAnswer:",
}
SPLITS = {"medmcqa": "validation", "medqa": "test"}


@dataclass(frozen=True)
class McItem:
    id: str
    prompt: str
    label: str  # "A".."D"


@dataclass
class Benchmark:
    """A loaded multiple-choice benchmark: items plus what was detected about its file."""

    name: str
    path: Path
    items: list[McItem]
    source_format: str
    detail: dict

    def limited(self, limit: int) -> list[McItem]:
        return self.items[:limit] if limit > 0 else self.items


def build_prompt(task: str, question: str, options: Sequence[str]) -> str:
    return PROMPTS[task].format(question=question, **dict(zip(LETTERS, options, strict=True)))


def find_file(folder: Path, names: Sequence[str]) -> Path | None:
    """The one benchmark file in ``folder`` (None when the folder or every name is absent)."""
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


def _text(path: Path, lineno: int, rec: dict, key: str) -> str:
    value = rec.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BenchmarkError(f"{path}:{lineno}: field {key!r} must be a non-empty string, got {value!r}")
    return value


def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def detect_cop_index(path: Path, cops: Sequence[int], choice: str) -> int:
    """0 when ``cop`` counts from 0 (A = 0), 1 when it counts from 1 (A = 1)."""
    if choice == "0-3":
        base = 0
    elif choice == "1-4":
        base = 1
    else:
        values = set(cops)
        if 0 in values and 4 in values:
            raise BenchmarkError(f"{path}: cop has both 0 and 4; neither 0-3 nor 1-4")
        if 0 in values:
            base = 0
        elif 4 in values:
            base = 1
        else:
            raise BenchmarkError(
                f"{path}: cop values {sorted(values)} fit both 0-3 and 1-4; pass --medmcqa_cop 0-3 or 1-4"
            )
    bad = sorted({c for c in cops if not base <= c <= base + 3})
    if bad:
        hint = " (-1 marks a hidden answer: the test split; use the validation split)" if -1 in bad else ""
        raise BenchmarkError(f"{path}: cop values {bad} outside {base}-{base + 3}{hint}")
    return base


def load_medmcqa(folder: str | Path, cop_index: str = "auto") -> Benchmark | None:
    """MedMCQA from ``folder`` (``<benchmarks_dir>/medmcqa``); None when the folder is absent."""
    path = find_file(Path(folder), MEDMCQA_FILES)
    if path is None:
        return None
    rows = read_records(path)
    parsed = []
    for lineno, rec in rows:
        item_id = rec.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise BenchmarkError(f"{path}:{lineno}: field 'id' must be a non-empty string")
        options = [_text(path, lineno, rec, k) for k in ("opa", "opb", "opc", "opd")]
        cop = _int(rec.get("cop"))
        if cop is None:
            raise BenchmarkError(f"{path}:{lineno}: field 'cop' must be an integer, got {rec.get('cop')!r}")
        parsed.append((item_id, build_prompt("medmcqa", _text(path, lineno, rec, "question"), options), cop))
    base = detect_cop_index(path, [c for _, _, c in parsed], cop_index)
    ids = [i for i, _, _ in parsed]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise BenchmarkError(f"{path}: duplicate ids {dup}")
    items = sorted((McItem(i, p, LETTERS[c - base]) for i, p, c in parsed), key=lambda x: x.id)
    return Benchmark(
        "medmcqa", path, items, "medmcqa", {"cop_index": f"{base}-{base + 3}", "cop_index_setting": cop_index}
    )


def _medqa_format(rec: dict) -> str | None:
    if "options" in rec and "answer_idx" in rec:
        return "options/answer_idx"
    if "sent1" in rec and "label" in rec:
        return "sent1/ending0-3/label"
    return None


def load_medqa(folder: str | Path) -> Benchmark | None:
    """MedQA-USMLE 4-option from ``folder`` (``<benchmarks_dir>/medqa``); None when the folder is absent."""
    path = find_file(Path(folder), MEDQA_FILES)
    if path is None:
        return None
    rows = read_records(path)
    fmt = _medqa_format(rows[0][1])
    if fmt is None:
        raise BenchmarkError(
            f"{path}:{rows[0][0]}: unknown MedQA format; expected question/options/answer_idx "
            "or sent1/ending0..ending3/label"
        )
    items: list[McItem] = []
    for lineno, rec in rows:
        if _medqa_format(rec) != fmt:
            raise BenchmarkError(f"{path}:{lineno}: record format differs from the first record's ({fmt})")
        if fmt == "options/answer_idx":
            question = _text(path, lineno, rec, "question")
            opts = rec["options"]
            if not isinstance(opts, dict) or sorted(opts) != list(LETTERS):
                keys = sorted(opts) if isinstance(opts, dict) else opts
                raise BenchmarkError(f"{path}:{lineno}: options must have exactly the keys A-D (4-option), got {keys}")
            options = [_text(path, lineno, opts, k) for k in LETTERS]
            label = rec["answer_idx"]
            if label not in LETTERS:
                raise BenchmarkError(f"{path}:{lineno}: answer_idx {label!r} is not one of A-D")
        else:
            question = _text(path, lineno, rec, "sent1")
            options = [_text(path, lineno, rec, f"ending{k}") for k in range(4)]
            idx = _int(rec["label"])
            if idx is None or not 0 <= idx <= 3:
                raise BenchmarkError(f"{path}:{lineno}: label {rec['label']!r} is not 0-3")
            label = LETTERS[idx]
        raw_id = rec.get("id")
        item_id = str(raw_id) if isinstance(raw_id, (str, int)) and str(raw_id) else f"{path.stem}-{lineno:06d}"
        items.append(McItem(item_id, build_prompt("medqa", question, options), label))
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise BenchmarkError(f"{path}: duplicate ids {sorted({i for i in ids if ids.count(i) > 1})[:5]}")
    return Benchmark("medqa", path, items, fmt, {})


def build_requests(tokenizer, items: Sequence[McItem], max_len: int) -> tuple[list[Request], int]:
    """Four requests per item (A, B, C, D order), and how many items were truncated on the left."""
    return build_choice_requests(tokenizer, [i.prompt for i in items], LETTERS, max_len)


def choose(logprobs: Sequence[float]) -> str:
    """The letter with the highest log-likelihood (A, B, C, D order breaks ties)."""
    return choose_among(LETTERS, logprobs)


def predictions(items: Sequence[McItem], logprobs: Sequence[float]) -> list[str]:
    """Per-item letters from the flat ``[A, B, C, D] × items`` log-likelihood list."""
    n = len(LETTERS)
    if len(logprobs) != n * len(items):
        raise ValueError(f"{len(items)} items need {n * len(items)} scores, got {len(logprobs)}")
    return [choose(logprobs[k * n : (k + 1) * n]) for k in range(len(items))]


__all__ = [
    "LETTERS",
    "Benchmark",
    "BenchmarkError",
    "McItem",
    "build_prompt",
    "build_requests",
    "choose",
    "continuation_logprobs",
    "load_medmcqa",
    "load_medqa",
    "predictions",
]
