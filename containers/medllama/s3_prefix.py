"""Reads an S3 prefix that a step fetches itself because a pipeline parameter may leave it empty.

SageMaker has no optional inputs: a ProcessingInput or a Training channel whose prefix holds no object fails the
job before it starts. A corpus that an execution may or may not name (the general replay corpus, ``ReplayDataUri``)
is therefore passed as a plain argument and fetched here, with the job's role (boto3's credential chain).

The local runner models S3 as folders (``pipeline-steps/local/storage.ts``); it sets ``MEDLLAMA_LOCAL_S3`` to
``{"root": <runs/<id>/s3>, "mounts": {<s3 prefix>: <folder>}}`` so that the same URI resolves to the same folder
a ProcessingInput of that URI would have been copied from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

LOCAL_S3_ENV = "MEDLLAMA_LOCAL_S3"


class PrefixError(ValueError):
    """The URI is not an s3:// prefix, or nothing can be read under it."""


def split_uri(uri: str, flag: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key without leading '/'); anything else is a :class:`PrefixError`."""
    if not uri.startswith("s3://"):
        raise PrefixError(f"{flag}: got {uri!r}, expected an s3://bucket/prefix URI (or '' for none)")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise PrefixError(f"{flag}: got {uri!r}, which names no bucket")
    return bucket, key


def local_folder(uri: str, flag: str) -> Path | None:
    """The folder the local runner keeps ``uri`` in, or None outside a local run."""
    spec = os.environ.get(LOCAL_S3_ENV)
    if not spec:
        return None
    table = json.loads(spec)
    trimmed = uri.rstrip("/")
    for prefix, path in sorted(table.get("mounts", {}).items(), key=lambda kv: -len(kv[0])):
        prefix = prefix.rstrip("/")
        if trimmed == prefix:
            return Path(path)
        if trimmed.startswith(prefix + "/"):
            return Path(path, *trimmed[len(prefix) + 1 :].split("/"))
    bucket, key = split_uri(uri, flag)
    return Path(table["root"], bucket, *[p for p in key.split("/") if p])


def fetch_prefix(uri: str, dest: Path, *, flag: str) -> Path:
    """A local folder holding every object under ``uri`` (keys relative to the prefix): ``dest`` after downloading
    them, or the local runner's folder itself. An empty or missing prefix is a :class:`PrefixError`."""
    bucket, key = split_uri(uri, flag)
    local = local_folder(uri, flag)
    if local is not None:
        if not local.is_dir() or not any(p.is_file() for p in local.rglob("*")):
            raise PrefixError(f"{flag} {uri}: no objects under this prefix (local run: {local})")
        return local
    import boto3

    prefix = key if not key or key.endswith("/") else key + "/"
    client = boto3.client("s3")
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(prefix) :]
            if not rel or rel.endswith("/"):
                continue
            target = dest.joinpath(*rel.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, obj["Key"], str(target))
            count += 1
    if count == 0:
        raise PrefixError(f"{flag} {uri}: no objects under this prefix")
    return dest
