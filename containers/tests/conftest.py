"""Shared pytest fixtures. Tests that need ../shared skip with a visible reason when it is absent.

../shared (the team's data and reference folder beside the repo) is reached only through the fixtures below,
so a run can hide it: ``MEDLLAMA_SHARED_DIR=/nonexistent`` makes every test behave as on a user's fresh clone.
``MEDLLAMA_SHARED_USERS_ONLY=1`` keeps only the tests that use those fixtures (directly or through another
fixture): `npm test` runs them once more that way, which proves a clone without ../shared passes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medllama.resources import find_llama2_tokenizer, repo_root

REPO = repo_root()
SHARED = Path(os.environ.get("MEDLLAMA_SHARED_DIR") or REPO.parent / "shared")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("MEDLLAMA_SHARED_USERS_ONLY") != "1":
        return
    keep = [i for i in items if "optional_shared_dir" in getattr(i, "fixturenames", ())]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def optional_shared_dir() -> Path | None:
    """../shared, or None when it is absent (a user's clone)."""
    return SHARED if (SHARED / "DESIGN.md").is_file() else None


@pytest.fixture(scope="session")
def shared_dir(optional_shared_dir: Path | None) -> Path:
    if optional_shared_dir is None:
        pytest.skip(f"../shared absent ({SHARED}): corpus and reference tests need it (CI has it)")
    return optional_shared_dir


@pytest.fixture(scope="session")
def pmc_sample(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "pmc-oa-sample"
    if not path.is_dir():
        pytest.skip(f"{path} absent")
    return path


@pytest.fixture(scope="session")
def optional_pmc_sample(optional_shared_dir: Path | None) -> Path | None:
    """The 200 sample articles, or None without ../shared (tests that also run on the fixtures alone)."""
    path = optional_shared_dir / "data" / "pmc-oa-sample" if optional_shared_dir else None
    return path if path is not None and path.is_dir() else None


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


# ---- S3 on AWS's side of the hop: a moto server on 127.0.0.1 -------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint():
    """The URL of a moto server (one per session; each test module uses its own bucket names)."""
    pytest.importorskip("moto")
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake keys and region for boto3; nothing of the developer's own AWS set-up (profile, token, endpoint) leaks in."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
