"""MedMCQA (validation) and MedQA-USMLE 4-option (test), scored like lm-evaluation-harness ``medmcqa`` and
``medqa_4options`` (docs/evaluation.md): 0-shot, log-likelihood of the answer letter.

Prompts (the harness' own ``doc_to_text`` per task):

- ``medmcqa``: ``Question: {question}\\nChoices:\\nA. {opa}\\nB. {opb}\\nC. {opc}\\nD. {opd}\\nAnswer:``
- ``medqa_4options``: ``Question: {question}\\nA. {A}\\nB. {B}\\nC. {C}\\nD. {D}\\nAnswer:`` (no "Choices:" line)

Choices `` A`` / `` B`` / `` C`` / `` D`` (the harness' ``doc_to_choice`` letters after its default one-space
target delimiter); prediction = the letter with the highest summed log-likelihood (``acc``; ties: A, B, C,
D order). The requests and the scoring are every task's (:mod:`medllama.evaluate.benchmark`: same split of
the continuation, the tokenizer's own BOS policy, left truncation). The harness reports ``acc`` and ``acc_norm``
for both; with one-letter choices the two are the same prediction.

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

from collections.abc import Sequence
from pathlib import Path

from medllama.evaluate.benchmark import (
    MEDICAL,
    BenchmarkError,
    Item,
    Task,
    TaskInfo,
    find_file,
    int_field,
    read_records,
    record_id,
    shared_context,
    text_field,
    unique_ids,
)

LETTERS = ("A", "B", "C", "D")
MEDMCQA_FILES = ("validation.jsonl", "dev.jsonl", "dev.json", "validation.json")
MEDQA_FILES = ("test.jsonl", "test.json", "phrases_no_exclude_test.jsonl")
PROMPTS = {
    "medmcqa": "Question: {question}\nChoices:\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nAnswer:",
    "medqa": "Question: {question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nAnswer:",
}
SPLITS = {"medmcqa": "validation", "medqa": "test"}


def build_prompt(task: str, question: str, options: Sequence[str]) -> str:
    return PROMPTS[task].format(question=question, **dict(zip(LETTERS, options, strict=True)))


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


def _mc_item(item_id: str, prompt: str, gold: int) -> Item:
    return shared_context(item_id, prompt, LETTERS, gold)


def _task(name: str, path: Path, items: list[Item], limit: int, fmt: str, detail: dict) -> Task:
    info = TaskInfo(name=name, suite=MEDICAL, split=SPLITS[name], prompt=PROMPTS[name], metrics=("acc", "acc_norm"))
    return info.task(items, limit, {"file": str(path), "format": fmt, **detail})


def load_medmcqa(folder: str | Path, cop_index: str = "auto", limit: int = 0) -> Task | None:
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
        options = [text_field(path, lineno, rec, k) for k in ("opa", "opb", "opc", "opd")]
        cop = int_field(rec.get("cop"))
        if cop is None:
            raise BenchmarkError(f"{path}:{lineno}: field 'cop' must be an integer, got {rec.get('cop')!r}")
        parsed.append((item_id, build_prompt("medmcqa", text_field(path, lineno, rec, "question"), options), cop))
    base = detect_cop_index(path, [c for _, _, c in parsed], cop_index)
    items = sorted((_mc_item(i, p, c - base) for i, p, c in parsed), key=lambda x: x.id)
    unique_ids(path, items)
    detail = {"cop_index": f"{base}-{base + 3}", "cop_index_setting": cop_index}
    return _task("medmcqa", path, items, limit, "medmcqa", detail)


def _medqa_format(rec: dict) -> str | None:
    if "options" in rec and "answer_idx" in rec:
        return "options/answer_idx"
    if "sent1" in rec and "label" in rec:
        return "sent1/ending0-3/label"
    return None


def load_medqa(folder: str | Path, limit: int = 0) -> Task | None:
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
    items: list[Item] = []
    for lineno, rec in rows:
        if _medqa_format(rec) != fmt:
            raise BenchmarkError(f"{path}:{lineno}: record format differs from the first record's ({fmt})")
        if fmt == "options/answer_idx":
            question = text_field(path, lineno, rec, "question")
            opts = rec["options"]
            if not isinstance(opts, dict) or sorted(opts) != list(LETTERS):
                keys = sorted(opts) if isinstance(opts, dict) else opts
                raise BenchmarkError(f"{path}:{lineno}: options must have exactly the keys A-D (4-option), got {keys}")
            options = [text_field(path, lineno, opts, k) for k in LETTERS]
            label = rec["answer_idx"]
            if label not in LETTERS:
                raise BenchmarkError(f"{path}:{lineno}: answer_idx {label!r} is not one of A-D")
        else:
            question = text_field(path, lineno, rec, "sent1")
            options = [text_field(path, lineno, rec, f"ending{k}") for k in range(4)]
            idx = int_field(rec["label"])
            if idx is None or not 0 <= idx <= 3:
                raise BenchmarkError(f"{path}:{lineno}: label {rec['label']!r} is not 0-3")
            label = LETTERS[idx]
        item_id = record_id(rec, "id", path, lineno)
        items.append(_mc_item(item_id, build_prompt("medqa", question, options), LETTERS.index(label)))
    unique_ids(path, items)
    return _task("medqa", path, items, limit, fmt, {})


__all__ = ["LETTERS", "PROMPTS", "SPLITS", "BenchmarkError", "build_prompt", "load_medmcqa", "load_medqa"]
