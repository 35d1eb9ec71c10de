"""General-domain perplexity regression: does domain adaptation make the model worse on ordinary text?

Both models score the same general-text documents (``--general_dir``: .txt paragraphs or .jsonl records)
with the same windows as the test split. The regression is ``(tuned_ppl - base_ppl) / base_ppl`` of the
corpus perplexities (positive = worse), with a paired bootstrap CI over documents. research/medical-llm.md
("Recommended evaluation design" 5) proposes ≤ 3% relative as "no general regression".
"""

from __future__ import annotations

from collections.abc import Sequence

from medllama.evaluate.perplexity import DocumentScore
from medllama.evaluate.report import perplexity_comparison


def general_section(base: Sequence[DocumentScore], tuned: Sequence[DocumentScore], *, samples: int, seed: int) -> dict:
    """The ``metrics.general_perplexity`` object; its ``regression`` feeds the gate."""
    section = perplexity_comparison(base, tuned, samples=samples, seed=seed)
    section["regression"] = section.pop("regression_relative")
    section.pop("improvement", None)
    return section
