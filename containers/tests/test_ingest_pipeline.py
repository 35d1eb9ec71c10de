"""medllama.ingest end to end on the authored fixtures: filters with reasons, accounting, determinism,
sharding, worker processes, PMC Cloud layout on disk, and the configuration contract."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from medllama.config import is_path_field, load_schema
from medllama.ingest import IngestConfig, main
from medllama.jsonl import read_jsonl
from medllama.minhash import exact_hash, signature

FIXTURES = Path(__file__).parent / "fixtures" / "jats"

EXPECTED_REJECTIONS = {
    "09-correction.xml": "notice",
    "10-license-nc.xml": "license-not-allowed",
    "12-license-none.xml": "license-unknown",
    "14-no-body.xml": "no-body",
    "15-ocr-scan.xml": "ocr-scan",
    "16-retracted.xml": "retracted",
    "17-decontam.xml": "decontaminated",
}


def run(tmp: Path, inp: Path, *extra: str) -> tuple[list[dict], list[dict], dict]:
    out = tmp / "out"
    assert main(["--input_dir", str(inp), "--output_dir", str(out), "--min_words", "20", *extra]) == 0
    docs = [r for p in sorted((out / "documents").glob("*.jsonl")) for r in read_jsonl(p)]
    rej = [r for p in sorted((out / "rejected").glob("*.jsonl")) for r in read_jsonl(p)]
    reports = [json.loads(p.read_text()) for p in sorted(out.glob("ingest-report-*.json"))]
    return docs, rej, reports[0] if len(reports) == 1 else {"reports": reports}


@pytest.fixture()
def pmids_file(tmp_path: Path) -> Path:
    p = tmp_path / "pmids.txt"
    p.write_text("# PubMedQA-style list\n424242\n1\n")
    return p


def test_folder_filters_reasons_and_accounting(tmp_path, pmids_file):
    docs, rej, report = run(tmp_path, FIXTURES, "--decontam_pmids", str(pmids_file))
    by_source = {r["source"]: r["reason"] for r in rej}
    assert by_source == EXPECTED_REJECTIONS
    kept = {d["source"] for d in docs}
    assert kept | set(by_source) == {p.name for p in FIXTURES.glob("*.xml")}
    assert report["inputs"] == report["documents"] + report["rejected"] == len(list(FIXTURES.glob("*.xml")))
    assert sum(report["rejected_by_reason"].values()) == report["rejected"]
    for d in docs:
        assert d["license_source"] == "xml" and d["license"] in {"CC BY", "CC0", "CC BY-SA"}
        assert d["language"] == "en" and d["words"] == len(d["text"].split())
        assert d["text_hash"] == exact_hash(d["text"]) and d["minhash"] == signature(d["text"])
        assert len(d["minhash"]) == 112 and d["id"].startswith("PMC")
        assert "<" not in d["text"].replace("<FILLER>", "") and "&" not in d["text"]
    assert [d["source"] for d in docs] == sorted(d["source"] for d in docs)
    assert next(d for d in docs if d["source"] == "13-malformed-pmc2025.xml")["pmid"] == "12345"


def test_policy_flags_change_outcomes(tmp_path):
    _docs, rej, _ = run(
        tmp_path, FIXTURES, "--licenses", "CC BY,CC BY-NC", "--allow_ocr", "true", "--allow_manuscripts", "false"
    )
    reasons = {r["source"]: r["reason"] for r in rej}
    assert "10-license-nc.xml" not in reasons and "15-ocr-scan.xml" not in reasons
    assert reasons["14-no-body.xml"] == "manuscript"


def test_deterministic_bytes_and_workers_agree(tmp_path):
    outs = []
    for n, workers in enumerate(["1", "1", "2"]):
        out = tmp_path / f"o{n}"
        assert (
            main(["--input_dir", str(FIXTURES), "--output_dir", str(out), "--min_words", "20", "--workers", workers])
            == 0
        )
        outs.append(out)
    for sub in ("documents/part-00000-of-00001.jsonl", "rejected/part-00000-of-00001.jsonl"):
        assert (outs[0] / sub).read_bytes() == (outs[1] / sub).read_bytes() == (outs[2] / sub).read_bytes()
    reports = [json.loads((o / "ingest-report-00000-of-00001.json").read_text()) for o in outs]
    for r in reports:
        r.pop("timing")
        r["config"].pop("workers")
    assert reports[0] == reports[1] == reports[2]


def test_shards_union_equals_single_run(tmp_path):
    single, single_rej, _ = run(tmp_path / "one", FIXTURES)
    docs: list[dict] = []
    rej: list[dict] = []
    for i in range(3):
        d, r, report = run(tmp_path / f"s{i}", FIXTURES, "--shard_index", str(i), "--shard_count", "3")
        assert report["shard"] == {"index": i, "count": 3}
        docs += d
        rej += r
    key = lambda r: r["source"]  # noqa: E731
    assert sorted(docs, key=key) == sorted(single, key=key)
    assert sorted(rej, key=key) == sorted(single_rej, key=key)


def _host(tmp: Path, files: list[Path], index: int, count: int) -> Path:
    """One Processing instance's sandbox with a ShardedByS3Key share of ``files`` and its resourceconfig.json."""
    opt_ml = tmp / f"algo-{index + 1}" / "opt" / "ml"
    share = opt_ml / "processing" / "input" / "articles"
    share.mkdir(parents=True)
    for f in files:
        shutil.copy(f, share / f.name)
    (opt_ml / "config").mkdir(parents=True)
    hosts = [f"algo-{i + 1}" for i in range(count)]
    (opt_ml / "config" / "resourceconfig.json").write_text(json.dumps({"current_host": hosts[index], "hosts": hosts}))
    return opt_ml


def test_input_sharded_by_s3_key_keeps_every_file_and_names_outputs_by_host(tmp_path, monkeypatch):
    """SageMaker gave each of 2 instances half of the files: each processes all it got (sharding again would drop
    half of its half), and their outputs, uploaded to one S3 prefix, have distinct names."""
    single, single_rej, _ = run(tmp_path / "one", FIXTURES)
    files = sorted(FIXTURES.glob("*.xml"))
    out = tmp_path / "s3-prefix"
    for index in range(2):
        opt_ml = _host(tmp_path, files[index::2], index, 2)
        monkeypatch.setenv("MEDLLAMA_OPT_ML", str(opt_ml))
        share = str(opt_ml / "processing" / "input" / "articles")
        args = ["--input_dir", share, "--output_dir", str(out), "--min_words", "20", "--input_sharded", "true"]
        assert main(args) == 0
        report = json.loads((out / f"ingest-report-0000{index}-of-00002.json").read_text())
        assert report["inputs"] == len(files[index::2]) and report["source"]["input_sharded"] is True
    docs = [r for p in sorted((out / "documents").glob("*.jsonl")) for r in read_jsonl(p)]
    rej = [r for p in sorted((out / "rejected").glob("*.jsonl")) for r in read_jsonl(p)]
    assert sorted(p.name for p in (out / "documents").iterdir()) == [
        "part-00000-of-00002.jsonl",
        "part-00001-of-00002.jsonl",
    ]
    key = lambda r: r["source"]  # noqa: E731
    assert sorted(docs, key=key) == sorted(single, key=key)
    assert sorted(rej, key=key) == sorted(single_rej, key=key)
    # without the flag, each host would take its resourceconfig share of its share: a quarter lost per host
    lost = tmp_path / "lost"
    monkeypatch.setenv("MEDLLAMA_OPT_ML", str(_host(lost, files[0::2], 0, 2)))
    share = lost / "algo-1" / "opt" / "ml" / "processing" / "input" / "articles"
    _, _, report = run(lost, share)
    assert report["inputs"] < len(files[0::2])


def test_input_sharded_refuses_a_split_pmc_cloud_layout(tmp_path, monkeypatch, caplog):
    mirror = tmp_path / "mirror"
    _cloud_mirror(mirror)
    monkeypatch.setenv("MEDLLAMA_OPT_ML", str(_host(tmp_path, [], 1, 2)))
    args = ["--input_dir", str(mirror), "--output_dir", str(tmp_path / "o"), "--input_sharded", "true"]
    assert main(args) == 1
    assert "separates an article's XML from its metadata JSON" in caplog.text
    monkeypatch.setenv("MEDLLAMA_OPT_ML", str(_host(tmp_path / "single", [], 0, 1)))
    assert main([*args[:3], str(tmp_path / "o1"), *args[4:]]) == 0  # one instance received the whole layout


def test_max_articles_takes_first_n_by_sorted_source(tmp_path):
    docs, rej, report = run(tmp_path, FIXTURES, "--max_articles", "3")
    assert sorted(r["source"] for r in docs + rej) == sorted(p.name for p in FIXTURES.glob("*.xml"))[:3]
    assert report["groups_cut_by_max_articles"] == len(list(FIXTURES.glob("*.xml"))) - 3


def _cloud_mirror(root: Path) -> None:
    """PMC Cloud layout from the fixtures: PMC<id>.<v>/PMC<id>.<v>.{xml,json}."""
    layout = {
        "01-inline-gluing.xml": ("PMC9000001", [1, 2], "CC BY", {}),
        "02-citations.xml": ("PMC9000002", [1], "CC BY-NC", {}),
        "03-sections.xml": ("PMC9000003", [1], "CC0", {"is_retracted": True}),
        "05-formulas.xml": ("PMC9000005", [3], "CC BY", {"is_manuscript": True}),
        "06-lists.xml": ("PMC9000006", [1], None, {}),
        "07-subarticles.xml": ("PMC9000007", [1], "CC BY", {"pmid": "424242"}),
        "04-floats.xml": ("PMC9000004", [1], "CC BY-SA", {"is_historical_ocr": True}),
    }
    for name, (pmcid, versions, code, flags) in layout.items():
        for v in versions:
            folder = root / f"{pmcid}.{v}"
            folder.mkdir(parents=True)
            shutil.copy(FIXTURES / name, folder / f"{pmcid}.{v}.xml")
            meta = {"pmcid": pmcid, "version": v, "license_code": code, "is_retracted": False, "is_manuscript": False,
                    "is_historical_ocr": False, "is_pmc_openaccess": True, "pmid": None, "doi": f"10.1/{pmcid}"}  # fmt: skip
            meta.update(flags)
            (folder / f"{pmcid}.{v}.json").write_text(json.dumps(meta))
    (root / "PMC9000009.1").mkdir()
    (root / "PMC9000009.1" / "PMC9000009.1.xml").write_bytes((FIXTURES / "11-license-prose.xml").read_bytes())


def test_pmc_cloud_layout_local_mirror(tmp_path, pmids_file):
    mirror = tmp_path / "mirror"
    _cloud_mirror(mirror)
    docs, rej, report = run(tmp_path, mirror, "--decontam_pmids", str(pmids_file))
    assert report["source"]["mode"] == "pmc-cloud"
    assert {r["source"]: r["reason"] for r in rej} == {
        "PMC9000001.1/PMC9000001.1.xml": "superseded-version",
        "PMC9000002.1/PMC9000002.1.xml": "license-not-allowed",
        "PMC9000003.1/PMC9000003.1.xml": "retracted",
        "PMC9000004.1/PMC9000004.1.xml": "ocr-scan",
        "PMC9000006.1/PMC9000006.1.xml": "license-unknown",
        "PMC9000007.1/PMC9000007.1.xml": "decontaminated",
        "PMC9000009.1/PMC9000009.1.xml": "metadata-missing",
    }
    assert [(d["source"], d["license"], d["license_source"], d["version"], d["is_manuscript"]) for d in docs] == [
        ("PMC9000001.2/PMC9000001.2.xml", "CC BY", "metadata", 2, False),
        ("PMC9000005.3/PMC9000005.3.xml", "CC BY", "metadata", 3, True),
    ]
    assert docs[1]["doi"] == "10.1/PMC9000005"


def test_schema_agrees_with_dataclass():
    schema = load_schema("ingest")
    fields = {f.name: f for f in dataclasses.fields(IngestConfig) if not is_path_field(f)}
    assert set(fields) == set(schema["properties"])
    defaults = IngestConfig(input_dir="x", output_dir="y")
    for name, prop in schema["properties"].items():
        assert getattr(defaults, name) == prop["default"], name


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--min_words", "-1"], "min_words"),
        (["--workers", "many"], "workers"),
        (["--input_mode", "ftp"], "input_mode"),
        (["--shard_index", "3", "--shard_count", "2"], "shard_index"),
        (["--shard_index", "0"], "shard_index"),
        (["--max_file_mb", "0"], "max_file_mb"),
        (["--input_mode", "s3"], "s3_uri"),
        (["--no_such_flag", "1"], "no_such_flag"),
    ],
)
def test_bad_flags_exit_2_naming_the_field(tmp_path, capsys, flags, field):
    with pytest.raises(SystemExit) as exc:
        main(["--input_dir", str(FIXTURES), "--output_dir", str(tmp_path), *flags])
    assert exc.value.code == 2
    assert field in capsys.readouterr().err


def test_missing_input_is_an_error_not_a_crash(tmp_path):
    assert main(["--input_dir", str(tmp_path / "nope"), "--output_dir", str(tmp_path / "o")]) == 1


def test_empty_or_useless_input_stops_at_ingest_with_the_reason(tmp_path, caplog):
    empty = tmp_path / "empty"
    (empty / "notes").mkdir(parents=True)
    (empty / "notes" / "readme.txt").write_text("not JATS")
    args = ["--output_dir", str(tmp_path / "o1"), "--min_words", "20"]
    assert main(["--input_dir", str(empty), *args]) == 1
    assert "no articles found in" in caplog.text and ".xml/.nxml files" in caplog.text
    useless = tmp_path / "useless"
    useless.mkdir()
    for name in ("10-license-nc.xml", "16-retracted.xml", "09-correction.xml"):
        shutil.copy(FIXTURES / name, useless / name)
    out = tmp_path / "o2"
    assert main(["--input_dir", str(useless), "--output_dir", str(out), "--min_words", "20"]) == 1
    verdict = json.loads((out / "ingest-report-00000-of-00001.json").read_text())["verdict"]
    assert verdict.startswith("every one of the 3 articles was rejected (")
    assert "license-not-allowed 1" in verdict and "retracted 1" in verdict and "notice 1" in verdict
    # one of several instances may see nothing: only the total decides (Dedup)
    shard = ["--shard_index", "1", "--shard_count", "4", "--output_dir", str(tmp_path / "o3")]
    assert main(["--input_dir", str(useless), *shard]) == 0


def test_dedup_stops_when_ingest_kept_nothing_on_any_instance(tmp_path):
    from medllama.dedup import main as dedup_main

    useless = tmp_path / "useless"
    useless.mkdir()
    shutil.copy(FIXTURES / "10-license-nc.xml", useless / "a.xml")
    shutil.copy(FIXTURES / "16-retracted.xml", useless / "b.xml")
    ingest_out = tmp_path / "ingest"
    for i in range(2):
        shard = ["--shard_index", str(i), "--shard_count", "2"]
        assert main(["--input_dir", str(useless), "--output_dir", str(ingest_out), *shard]) == 0
    import logging

    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())  # type: ignore[method-assign]
    logging.getLogger("medllama.dedup").addHandler(handler)
    try:
        assert dedup_main(["--input_dir", str(ingest_out), "--output_dir", str(tmp_path / "dedup")]) != 0
    finally:
        logging.getLogger("medllama.dedup").removeHandler(handler)
    text = "\n".join(records)
    assert "Ingest kept none of the 2 articles (" in text and "license-not-allowed 1" in text
