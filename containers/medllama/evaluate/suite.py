"""The standard benchmark suite (issue #24 item 3; docs/evaluation.md "Benchmark suite"): which tasks, where their
files are, and loading them all the same way.

Layout of ``--benchmarks_dir`` (what ``medllama stage-benchmarks`` stages): PubMedQA's ``ori_pqal.json`` and
``test_ground_truth.json`` at the top, every other task in its own folder::

    medqa/test.jsonl            medmcqa/validation.jsonl        mmlu/<subject>/test.jsonl
    arc_challenge/test.jsonl    hellaswag/validation.jsonl      winogrande/validation.jsonl

A task whose files are absent is not computed (``not_computed`` names it and why), never given a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medllama.evaluate import arc, hellaswag, mcqa, mmlu, pubmedqa, winogrande
from medllama.evaluate.benchmark import GENERAL, MEDICAL, Task

MEDICAL_TASKS = ("pubmedqa", "medqa", "medmcqa", *(f"mmlu_{s}" for s in mmlu.MEDICAL_SUBJECTS))
GENERAL_TASKS = (mmlu.GENERAL_TASK, arc.NAME, hellaswag.NAME, winogrande.NAME)
SUITES = {MEDICAL: MEDICAL_TASKS, GENERAL: GENERAL_TASKS}


@dataclass(frozen=True)
class SuiteOptions:
    """Per-task item limits (first N items; 0 = all) and MedMCQA's ``cop`` numbering."""

    pubmedqa_limit: int = 0
    medqa_limit: int = 0
    medmcqa_limit: int = 0
    medmcqa_cop: str = "auto"
    limit: int = 0  # every other task


def load_suite(
    benchmarks_dir: str | Path, options: SuiteOptions = SuiteOptions()
) -> tuple[list[Task], dict[str, str]]:
    """Every task found under ``benchmarks_dir`` in suite order (medical, then general), and for each absent
    one the reason, keyed by task name. Malformed files raise :class:`~medllama.evaluate.benchmark.BenchmarkError`."""
    root = Path(benchmarks_dir)
    found: dict[str, Task] = {}
    absent: dict[str, str] = {}
    if pubmedqa.present(root):
        found["pubmedqa"] = pubmedqa.load_task(root, options.pubmedqa_limit)
    else:
        absent["pubmedqa"] = f"no {pubmedqa.ORI_FILE} / {pubmedqa.TEST_FILE} in {root}"
    loaders = {
        "medqa": lambda: mcqa.load_medqa(root / "medqa", options.medqa_limit),
        "medmcqa": lambda: mcqa.load_medmcqa(root / "medmcqa", options.medmcqa_cop, options.medmcqa_limit),
        arc.NAME: lambda: arc.load_task(root / arc.NAME, options.limit),
        hellaswag.NAME: lambda: hellaswag.load_task(root / hellaswag.NAME, options.limit),
        winogrande.NAME: lambda: winogrande.load_task(root / winogrande.NAME, options.limit),
    }
    for name, load in loaders.items():
        task = load()
        if task is None:
            absent[name] = f"no {name}/ folder in {root}"
        else:
            found[name] = task
    mmlu_tasks, mmlu_absent = mmlu.load_tasks(root / "mmlu", options.limit)
    found.update((t.name, t) for t in mmlu_tasks)
    absent.update(mmlu_absent)
    order = [*MEDICAL_TASKS, *GENERAL_TASKS]
    return [found[n] for n in order if n in found], {n: absent[n] for n in order if n in absent}


__all__ = ["GENERAL_TASKS", "MEDICAL_TASKS", "SUITES", "SuiteOptions", "load_suite"]
