"""Shared pytest fixtures. Tests that need ../shared skip with a visible reason when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from medllama.resources import find_llama2_tokenizer, repo_root

REPO = repo_root()
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "DESIGN.md").is_file():
        pytest.skip(f"../shared absent ({SHARED}): corpus and reference tests need it (CI has it)")
    return SHARED


@pytest.fixture(scope="session")
def pmc_sample(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "pmc-oa-sample"
    if not path.is_dir():
        pytest.skip(f"{path} absent")
    return path


@pytest.fixture(scope="session")
def tokenizer_json() -> Path:
    try:
        return find_llama2_tokenizer()
    except FileNotFoundError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory: pytest.TempPathFactory, tokenizer_json: Path) -> Path:
    """A seeded tiny Llama base model folder (created once per test session)."""
    from medllama.tiny_model import create_tiny_base_model

    return create_tiny_base_model(tmp_path_factory.mktemp("tiny-base") / "model", tokenizer_json=tokenizer_json)
