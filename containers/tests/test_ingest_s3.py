"""The PMC Cloud layout on S3, for real: a moto server on 127.0.0.1 holds a bucket built from the fixtures
(article-version folders, metadata/ mirror, a dated S3 inventory); ingest reads it with parallel GETs."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from medllama.ingest import main
from medllama.jsonl import read_jsonl

FIXTURES = Path(__file__).parent / "fixtures" / "jats"
BUCKET = "pmc-oa-test"
INVENTORY = "inventory-reports/pmc-oa-test/metadata/"

# (fixture, pmcid, versions, license_code, extra metadata, corrupt xml md5 in the JSON)
ARTICLES = [
    ("01-inline-gluing.xml", "PMC9000001", [1, 2], "CC BY", {}, False),
    ("02-citations.xml", "PMC9000002", [1], "CC BY-NC-ND", {}, False),
    ("03-sections.xml", "PMC9000003", [1], "CC0", {}, False),
    ("04-floats.xml", "PMC9000004", [2], "CC BY", {"is_retracted": True}, False),
    ("05-formulas.xml", "PMC9000005", [1], "CC BY", {}, True),
    ("06-lists.xml", "PMC9000006", [1], "CC BY-SA", {"pmid": "424242"}, False),
]


pytestmark = pytest.mark.usefixtures("aws_test_credentials")


@pytest.fixture(scope="module")
def bucket(s3_endpoint):
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    s3.create_bucket(Bucket=BUCKET)
    metadata_keys = []
    for name, pmcid, versions, code, extra, corrupt in ARTICLES:
        xml = (FIXTURES / name).read_bytes()
        for v in versions:
            base = f"{pmcid}.{v}"
            md5 = "0" * 32 if corrupt else hashlib.md5(xml).hexdigest()
            meta = {"pmcid": pmcid, "version": v, "pmid": None, "doi": f"10.1/{pmcid}", "license_code": code,
                    "is_retracted": False, "is_manuscript": False, "is_historical_ocr": False, "is_pmc_openaccess": True,
                    "xml_url": f"https://{BUCKET}.s3.amazonaws.com/{base}/{base}.xml?md5={md5}"}  # fmt: skip
            meta.update(extra)
            body = json.dumps(meta).encode()
            s3.put_object(Bucket=BUCKET, Key=f"{base}/{base}.xml", Body=xml, ACL="public-read")
            s3.put_object(Bucket=BUCKET, Key=f"{base}/{base}.json", Body=body, ACL="public-read")
            s3.put_object(Bucket=BUCKET, Key=f"metadata/{base}.json", Body=body)
            metadata_keys.append(f"metadata/{base}.json")
    # two inventory dates; the newest lists everything, the older only one article
    for date, keys in (("2026-01-07T01-00Z", metadata_keys[:1]), ("2026-01-08T01-00Z", metadata_keys)):
        rows = "".join(f'"{BUCKET}","{k}","2026-01-08T11:47:59.000Z","etag"\n' for k in keys)
        shard_key = f"{INVENTORY}data/{date}.csv.gz"
        payload = gzip.compress(rows.encode(), mtime=0)
        s3.put_object(Bucket=BUCKET, Key=shard_key, Body=payload)
        manifest = {"sourceBucket": BUCKET, "fileFormat": "CSV", "fileSchema": "Bucket, Key, LastModified, ETag",
                    "files": [{"key": shard_key, "size": len(payload), "MD5checksum": hashlib.md5(payload).hexdigest()}]}  # fmt: skip
        s3.put_object(Bucket=BUCKET, Key=f"{INVENTORY}{date}/manifest.json", Body=json.dumps(manifest).encode())
    return s3


EXPECTED = {
    "PMC9000001.1/PMC9000001.1.xml": "superseded-version",
    "PMC9000002.1/PMC9000002.1.xml": "license-not-allowed",
    "PMC9000004.2/PMC9000004.2.xml": "retracted",
    "PMC9000005.1/PMC9000005.1.xml": "fetch-error",
    "PMC9000006.1/PMC9000006.1.xml": "decontaminated",
}


def _run(tmp_path: Path, endpoint: str, *extra: str, monkeypatch=None) -> tuple[list[dict], list[dict], dict]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    pmids = tmp_path / "pmids.txt"
    pmids.write_text("424242\n")
    out = tmp_path / "out"
    argv = ["--input_mode", "s3", "--s3_uri", f"s3://{BUCKET}", "--s3_endpoint_url", endpoint,
            "--output_dir", str(out), "--min_words", "20", "--decontam_pmids", str(pmids), "--s3_retries", "2",
            "--s3_concurrency", "4", "--inventory_prefix", INVENTORY, *extra]  # fmt: skip
    assert main(argv) == 0
    (docs_file,) = (out / "documents").glob("part-*.jsonl")
    (rej_file,) = (out / "rejected").glob("part-*.jsonl")
    (report_file,) = out.glob("ingest-report-*.json")
    return list(read_jsonl(docs_file)), list(read_jsonl(rej_file)), json.loads(report_file.read_text())


def test_s3_inventory_filters_versions_md5_and_never_lists_articles(tmp_path, s3_endpoint, bucket, monkeypatch):
    import medllama.ingest.s3 as s3mod

    listed: list[str] = []
    real = s3mod.make_client

    def recording_client(*args, **kwargs):
        client = real(*args, **kwargs)
        client.meta.events.register(
            "before-parameter-build.s3.ListObjectsV2", lambda params, **_: listed.append(params.get("Prefix", ""))
        )
        client.meta.events.register(
            "before-parameter-build.s3.ListObjects", lambda params, **_: listed.append(params.get("Prefix", ""))
        )
        return client

    monkeypatch.setattr(s3mod, "make_client", recording_client)
    docs, rej, report = _run(tmp_path, s3_endpoint)
    assert report["source"]["inventory_date"] == "2026-01-08T01-00Z"
    assert {r["source"]: r["reason"] for r in rej} == EXPECTED
    assert "md5" in next(r for r in rej if r["reason"] == "fetch-error")["detail"]
    assert [(d["source"], d["license"], d["license_source"], d["version"]) for d in docs] == [
        ("PMC9000001.2/PMC9000001.2.xml", "CC BY", "metadata", 2),
        ("PMC9000003.1/PMC9000003.1.xml", "CC0", "metadata", 1),
    ]
    assert docs[0]["xml_md5"] == hashlib.md5((FIXTURES / "01-inline-gluing.xml").read_bytes()).hexdigest()
    assert report["inputs"] == 7 == report["documents"] + report["rejected"]
    assert listed and all(p == INVENTORY for p in listed), listed


def test_s3_keys_file_anonymous_and_shards(tmp_path, s3_endpoint, bucket):
    keys = tmp_path / "keys.txt"
    keys.write_text("".join(f"metadata/{p}.{v}.json\n" for _, p, vs, *_ in ARTICLES for v in vs))
    docs, rej, _ = _run(tmp_path / "all", s3_endpoint, "--keys_file", str(keys), "--anonymous", "true")
    assert {r["source"]: r["reason"] for r in rej} == EXPECTED
    union_docs, union_rej = [], []
    for i in range(2):
        d, r, _report = _run(
            tmp_path / f"s{i}", s3_endpoint, "--keys_file", str(keys), "--shard_index", str(i), "--shard_count", "2"
        )
        union_docs += d
        union_rej += r
    # shard files carry their own suffix; compare records
    key = lambda r: r["source"]  # noqa: E731
    assert sorted(union_docs, key=key) == sorted(docs, key=key)
    assert sorted(union_rej, key=key) == sorted(rej, key=key)
