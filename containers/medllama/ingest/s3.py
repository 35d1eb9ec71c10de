"""S3 access for the PMC Cloud layout (boto3): keys from a keys file or the newest inventory manifest,
GETs with retries and md5 verification. Only the inventory prefix is ever listed (one level, to find the
newest dated manifest); article keys are never listed."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import time
from dataclasses import dataclass
from typing import Any

from .sources import VERSION_KEY, group_versions


class ChecksumMismatch(Exception):
    pass


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, _, prefix = uri[5:].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {uri!r}")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(bucket, prefix)


def make_client(anonymous: bool, endpoint_url: str, concurrency: int, retries: int) -> Any:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": max(1, retries), "mode": "adaptive"},
        max_pool_connections=max(10, concurrency),
        signature_version=UNSIGNED if anonymous else None,
    )
    kwargs: dict[str, Any] = {"config": config}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    return boto3.client("s3", **kwargs)


class S3Store:
    def __init__(self, client: Any, loc: S3Location, retries: int = 5) -> None:
        self.client, self.loc, self.retries = client, loc, max(1, retries)

    def get(self, key: str, *, md5: str | None = None, absolute: bool = False) -> bytes | None:
        """The object's bytes (None when it does not exist). Retries errors and checksum mismatches."""
        full = key if absolute else self.loc.prefix + key
        last: Exception | None = None
        for attempt in range(self.retries):
            try:
                resp = self.client.get_object(Bucket=self.loc.bucket, Key=full)
                data = resp["Body"].read()
                expected = md5 or _etag_md5(resp.get("ETag"))
                if expected and hashlib.md5(data).hexdigest() != expected:
                    raise ChecksumMismatch(f"md5 of s3://{self.loc.bucket}/{full} is not {expected}")
                return data
            except self.client.exceptions.NoSuchKey:
                return None
            except Exception as err:  # throttling, connection resets, checksum: retry with backoff
                code = getattr(err, "response", {}).get("Error", {}).get("Code")
                if code in {"NoSuchKey", "404"}:
                    return None
                if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
                    raise
                last = err
                time.sleep(min(2.0, 0.05 * 2**attempt))
        assert last is not None
        raise last

    def read_keys_file(self, location: str) -> list[str]:
        if location.startswith("s3://"):
            loc = S3Location.parse(location)
            raw = self.client.get_object(Bucket=loc.bucket, Key=loc.prefix.rstrip("/"))["Body"].read()
        else:
            with open(location, "rb") as f:
                raw = f.read()
        if location.endswith(".gz"):
            raw = gzip.decompress(raw)
        return [line.strip() for line in raw.decode("utf-8").splitlines() if line.strip() and not line.startswith("#")]

    def inventory_keys(self, inventory_prefix: str) -> tuple[list[str], str]:
        """Keys from the newest ``<date>/manifest.json`` under the inventory prefix (+ its date)."""
        prefix = inventory_prefix if inventory_prefix.endswith("/") else inventory_prefix + "/"
        dates: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.loc.bucket, Prefix=prefix, Delimiter="/"):
            dates.extend(p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", []))
        dates = sorted(d for d in dates if d[:4].isdigit())
        if not dates:
            raise FileNotFoundError(f"no dated inventory under s3://{self.loc.bucket}/{prefix}")
        newest = dates[-1]
        manifest_raw = self.get(f"{prefix}{newest}/manifest.json", absolute=True)
        if manifest_raw is None:
            raise FileNotFoundError(f"s3://{self.loc.bucket}/{prefix}{newest}/manifest.json missing")
        manifest = json.loads(manifest_raw)
        schema = [c.strip() for c in manifest.get("fileSchema", "Bucket, Key").split(",")]
        key_col = schema.index("Key")
        keys: list[str] = []
        for f in manifest.get("files", []):
            raw = self.get(f["key"], md5=(f.get("MD5checksum") or None), absolute=True)
            if raw is None:
                raise FileNotFoundError(f"inventory file {f['key']} missing")
            text = gzip.decompress(raw).decode("utf-8") if f["key"].endswith(".gz") else raw.decode("utf-8")
            for row in csv.reader(io.StringIO(text)):
                if len(row) > key_col:
                    keys.append(row[key_col])
        return keys, newest


def keys_to_groups(keys: list[str]) -> list[tuple[str, int, list[int]]]:
    versions: dict[str, list[int]] = {}
    for key in keys:
        m = VERSION_KEY.search(key)
        if m:
            versions.setdefault(m.group(1), []).append(int(m.group(2)))
    return group_versions(versions)


def _etag_md5(etag: str | None) -> str | None:
    if not etag:
        return None
    value = etag.strip('"').lower()
    return value if len(value) == 32 and "-" not in value else None
