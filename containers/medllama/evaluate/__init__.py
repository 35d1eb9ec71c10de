"""``medllama.evaluate``: the Evaluate step (DESIGN §4.6; docs/evaluation.md).

Submodules: ``config`` (EvaluateConfig), ``requests`` (lm-evaluation-harness framing and scoring),
``perplexity``, ``stats``, ``benchmark`` (the Task interface), ``suite`` (the benchmark suite), one per benchmark
(``pubmedqa``, ``mcqa`` for MedMCQA and MedQA-4, ``mmlu``, ``arc``, ``hellaswag``, ``winogrande``), ``general``,
``qualitative``, ``report`` (evaluation.json, ``json_get``), ``gate`` (the QualityGate's bounds and
``checks_computed``), ``runner`` (``main``).
Importing this package does not import torch; ``main`` does.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    from medllama.evaluate.runner import main as run_main

    return run_main(argv)


__all__ = ["main"]
