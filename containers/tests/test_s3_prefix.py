"""fetch_prefix on AWS's side of the hop: a moto server on 127.0.0.1 holds the prefix; boto3 (the job role's credential
chain, here fake keys and AWS_ENDPOINT_URL) lists and downloads it. The local runner's folder mapping is tested with
Tokenize in test_tokenization.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from medllama.s3_prefix import LOCAL_S3_ENV, PrefixError, fetch_prefix, split_uri


@pytest.fixture
def s3(s3_endpoint: str, aws_test_credentials: None, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)  # boto3's credential chain, pointed at the moto server
    monkeypatch.delenv(LOCAL_S3_ENV, raising=False)
    import boto3

    client = boto3.client("s3")
    client.create_bucket(Bucket="data")
    return client


def test_downloads_every_object_under_the_prefix_and_nothing_beside_it(s3, tmp_path: Path) -> None:
    objects = {"replay/general/a.txt": b"one", "replay/general/sub/b.jsonl": b'{"text": "two"}\n',
               "replay/generalist/c.txt": b"a sibling prefix", "replay/other.txt": b"outside"}  # fmt: skip
    for key, body in objects.items():
        s3.put_object(Bucket="data", Key=key, Body=body)
    for i, uri in enumerate(("s3://data/replay/general", "s3://data/replay/general/")):
        dest = tmp_path / f"dest{i}"
        got = fetch_prefix(uri, dest, flag="--replay_uri")
        assert got == dest
        files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
        assert files == ["a.txt", "sub/b.jsonl"]
        assert (dest / "sub" / "b.jsonl").read_bytes() == objects["replay/general/sub/b.jsonl"]


def test_an_empty_prefix_is_an_error_naming_the_flag_and_uri(s3, tmp_path: Path) -> None:
    with pytest.raises(PrefixError, match=r"--replay_uri s3://data/nothing/: no objects under this prefix"):
        fetch_prefix("s3://data/nothing/", tmp_path / "d", flag="--replay_uri")


@pytest.mark.parametrize(
    ("uri", "message"),
    [("/local/folder", "expected an s3://bucket/prefix URI"), ("s3:///key", "names no bucket")],
)
def test_uri_errors(uri: str, message: str) -> None:
    with pytest.raises(PrefixError, match=message):
        split_uri(uri, "--replay_uri")
