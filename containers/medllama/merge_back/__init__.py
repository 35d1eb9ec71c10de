"""``medllama.merge_back``: merge-back candidates (linear, SLERP, TIES, DARE-TIES) of the base and the tuned model.

See :mod:`medllama.merge_back.candidates` for the specs and :mod:`medllama.merge_back.methods` for the formulas;
docs/training.md "Merge-back candidates".
"""

from __future__ import annotations

from .candidates import (
    DEFAULT_CANDIDATES,
    Candidate,
    CandidateError,
    build,
    merge_state,
    merge_tensor,
    parse_candidates,
)
from .methods import linear, slerp, ties

__all__ = [
    "DEFAULT_CANDIDATES",
    "Candidate",
    "CandidateError",
    "build",
    "linear",
    "merge_state",
    "merge_tensor",
    "parse_candidates",
    "slerp",
    "ties",
]
