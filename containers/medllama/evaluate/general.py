"""General-domain perplexity regression: does domain adaptation make the model worse on ordinary text?

Both models score the same general-text documents (``--general_dir``: .txt paragraphs or .jsonl records)
with the same windows as the test split. The regression is ``(tuned_ppl - base_ppl) / base_ppl`` of the
corpus perplexities (positive = worse). Its CI resamples **source files**, not documents: paragraphs of one
text share topic and style, so resampling them as if independent understates the uncertainty (docs/evaluation.md,
"Resampling units"). research/medical-llm.md ("Recommended evaluation design" 5) proposes ≤ 3% relative as
"no general regression".
"""

from __future__ import annotations

from collections.abc import Sequence

from medllama.evaluate.perplexity import DocumentScore, pool_by_unit
from medllama.evaluate.report import perplexity_comparison


def general_section(
    base: Sequence[DocumentScore], tuned: Sequence[DocumentScore], sources: Sequence[str], *, samples: int, seed: int
) -> dict:
    """The ``metrics.general_perplexity`` object, computed over files (``sources``: each document's file); its
    ``regression`` feeds the gate."""
    section = perplexity_comparison(
        pool_by_unit(base, sources), pool_by_unit(tuned, sources), samples=samples, seed=seed, unit="file"
    )
    section["documents"] = len(base)
    section["regression"] = section.pop("regression_relative")
    section.pop("improvement", None)
    return section
