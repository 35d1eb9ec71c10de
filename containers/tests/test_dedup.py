"""medllama.dedup: exact and near duplicates, keep rule, stable leak-free split, bad input, determinism."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from medllama import minhash
from medllama.config import load_schema
from medllama.dedup import SPLITS, DedupConfig, main, split_hash
from medllama.dedup.core import DedupState, check_record

VOCAB = [f"v{i}" for i in range(40_000)]


def make_doc(doc_id: str, tokens: list[str], **extra: Any) -> dict[str, Any]:
    text = " ".join(tokens)
    rec = {
        "id": doc_id,
        "source": f"src/{doc_id}.xml",
        "text": text,
        "title": f"title {doc_id}",
        "license": "CC BY",
        "words": len(tokens),
        "is_manuscript": False,
        "text_hash": minhash.exact_hash(text),
        "minhash": minhash.signature(text),
    }
    rec.update(extra)
    return rec


def random_words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(VOCAB) for _ in range(n)]


def write_shards(root: Path, records: list[dict[str, Any]], shards: int = 1, extra_lines: list[str] = ()) -> Path:
    docs = root / "documents"
    docs.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        with open(docs / f"part-{s:05d}-of-{shards:05d}.jsonl", "w", encoding="utf-8") as fh:
            for rec in records[s::shards]:
                fh.write(json.dumps(rec) + "\n")
            if s == 0:
                for line in extra_lines:
                    fh.write(line + "\n")
    return root


def run_dedup(tmp: Path, inp: Path, *args: str) -> tuple[Path, dict[str, Any]]:
    out = tmp / "out"
    assert main(["--input_dir", str(inp), "--output_dir", str(out), *args]) == 0
    return out, json.loads((out / "dedup-report.json").read_text())


def read(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def kept_ids(out: Path) -> dict[str, str]:
    return {r["id"]: r["split"] for s in SPLITS for r in read(out / s / "part-00000.jsonl")}


def test_schema_matches_dataclass() -> None:
    schema = load_schema("dedup")
    fields = {f.name: f for f in dataclasses.fields(DedupConfig) if not f.metadata.get("path")}
    assert set(fields) == set(schema["properties"])
    for name, f in fields.items():
        assert schema["properties"][name]["default"] == f.default, name
        assert schema["properties"][name].get("description"), name


def test_bad_config_exits_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as err:
        main(["--input_dir", str(tmp_path), "--output_dir", str(tmp_path), "--jaccard_threshold", "1.5"])
    assert err.value.code == 2
    with pytest.raises(SystemExit) as err:
        main(["--validation_fraction", "0.5", "--test_fraction", "0.5"])
    assert err.value.code == 2


def test_missing_input_is_an_error(tmp_path: Path) -> None:
    assert main(["--input_dir", str(tmp_path / "nope"), "--output_dir", str(tmp_path / "o")]) == 1


def test_near_duplicates_collapse_unrelated_do_not(tmp_path: Path) -> None:
    rng = random.Random(42)
    base = [random_words(rng, 2000) for _ in range(6)]
    records = [make_doc(f"PMC{100 + i}", w) for i, w in enumerate(base)]
    # 3% of the words changed in one place (a revised paragraph)
    block = list(base[0])
    block[500:560] = random_words(rng, 60)
    records.append(make_doc("PMC900", block))
    # 1% of the words changed at scattered positions
    scattered = list(base[1])
    for i in rng.sample(range(2000), 20):
        scattered[i] = "changed" + scattered[i]
    records.append(make_doc("PMC901", scattered))
    # exact copy modulo case and whitespace
    records.append(make_doc("PMC902", [w.upper() for w in base[2]]))
    # 200 unrelated documents sharing a boilerplate sentence
    boiler = re.findall(
        r"\S+", "this article is distributed under the terms of the creative commons attribution license"
    )
    records += [make_doc(f"PMC{2000 + i}", boiler + random_words(rng, 300)) for i in range(200)]
    out, report = run_dedup(tmp_path, write_shards(tmp_path / "in", records, shards=3))
    rejected = {r["id"]: r for r in read(out / "rejected" / "part-00000.jsonl")}
    assert rejected["PMC900"]["duplicate_of"] == "PMC100" and rejected["PMC900"]["match"] == "near"
    assert rejected["PMC901"]["duplicate_of"] == "PMC101"
    assert rejected["PMC902"]["duplicate_of"] == "PMC102" and rejected["PMC902"]["match"] == "exact"
    assert set(rejected) == {"PMC900", "PMC901", "PMC902"}
    assert all(r["reason"] == "duplicate" for r in rejected.values())
    assert report["kept"] == len(records) - 3
    assert report["clusters"]["with_duplicates"] == 3
    assert report["clusters"]["size_histogram"] == [[1, len(records) - 6], [2, 3]]
    assert report["duplicates"]["by_match"] == {"exact": 1, "near": 2}


def test_threshold_flag_controls_near_matches(tmp_path: Path) -> None:
    rng = random.Random(8)
    base = random_words(rng, 1500)
    other = list(base)
    for i in rng.sample(range(1500), 30):  # 2% scattered: Jaccard ~0.82
        other[i] = "x" + other[i]
    recs = [make_doc("A", base), make_doc("B", other)]
    j = minhash.estimate_jaccard(recs[0]["minhash"], recs[1]["minhash"])
    assert 0.72 < j < 0.95
    inp = write_shards(tmp_path / "in", recs)
    _, low = run_dedup(tmp_path / "a", inp)
    _, high = run_dedup(tmp_path / "b", inp, "--jaccard_threshold", "0.97")
    assert low["kept"] == 1 and high["kept"] == 2


def test_keep_rule(tmp_path: Path) -> None:
    rng = random.Random(1)
    wa, wb, wc = (random_words(rng, 800) for _ in range(3))
    recs = [
        # A: accepted manuscript (newer, longer) vs version of record -> version of record
        make_doc("PMC1", [*wa, "extra", "words"], is_manuscript=True, version=3),
        make_doc("PMC2", wa, is_manuscript=False, version=1),
        # B: both versions of record -> highest version, even if shorter
        make_doc("PMC10", [*wb, "more", "words"], version=1),
        make_doc("PMC11", wb, version=2),
        # C: same version -> most words, then smallest id
        make_doc("PMC20", wc),
        make_doc("PMC23", [*wc, "tail"]),
        make_doc("PMC21", [*wc, "tail"]),
    ]
    out, report = run_dedup(tmp_path, write_shards(tmp_path / "in", recs), "--match_ids", "false")
    rejected = {r["id"]: r["duplicate_of"] for r in read(out / "rejected" / "part-00000.jsonl")}
    assert set(kept_ids(out)) == {"PMC2", "PMC11", "PMC21"}
    assert rejected == {"PMC1": "PMC2", "PMC10": "PMC11", "PMC20": "PMC21", "PMC23": "PMC21"}
    assert report["clusters"]["size_histogram"] == [[2, 2], [3, 1]]


def test_same_id_or_doi_is_one_cluster(tmp_path: Path) -> None:
    rng = random.Random(2)
    recs = [
        make_doc("PMC5", random_words(rng, 300), version=1),
        make_doc("PMC5", random_words(rng, 300), version=2),
        make_doc("X1", random_words(rng, 300), doi="10.1/ABC"),
        make_doc("X2", random_words(rng, 300), doi="10.1/abc "),
    ]
    out, report = run_dedup(tmp_path, write_shards(tmp_path / "in", recs))
    rejected = read(out / "rejected" / "part-00000.jsonl")
    assert sorted(r["match"] for r in rejected) == ["same-doi", "same-id"]
    assert report["kept"] == 2
    _, report2 = run_dedup(tmp_path / "noid", write_shards(tmp_path / "in", recs), "--match_ids", "false")
    assert report2["kept"] == 4


def test_split_stable_when_documents_are_added(tmp_path: Path) -> None:
    rng = random.Random(3)
    first = [make_doc(f"PMC{i}", random_words(rng, 60)) for i in range(400)]
    more = [make_doc(f"PMC{10_000 + i}", random_words(rng, 60)) for i in range(400)]
    args = (
        "--validation_fraction",
        "0.1",
        "--test_fraction",
        "0.1",
        "--max_validation_docs",
        "0",
        "--max_test_docs",
        "0",
    )
    out1, r1 = run_dedup(tmp_path / "a", write_shards(tmp_path / "in1", first), *args)
    out2, _ = run_dedup(tmp_path / "b", write_shards(tmp_path / "in2", first + more, shards=2), *args)
    s1, s2 = kept_ids(out1), kept_ids(out2)
    assert all(s2[k] == v for k, v in s1.items())
    assert 20 < r1["splits"]["validation"]["documents"] < 65 and 20 < r1["splits"]["test"]["documents"] < 65
    # the split is a pure function of the id
    for doc_id, split in s1.items():
        u = split_hash("medllama-split-v1", doc_id)
        assert split == ("validation" if u < 0.1 else "test" if u < 0.2 else "train")
    # caps: overflow goes to train by hash order; adding documents never moves a train document out of train
    capped = (
        "--validation_fraction",
        "0.1",
        "--test_fraction",
        "0.1",
        "--max_validation_docs",
        "10",
        "--max_test_docs",
        "5",
    )
    out3, r3 = run_dedup(tmp_path / "c", write_shards(tmp_path / "in1", first), *capped)
    out4, _ = run_dedup(tmp_path / "d", write_shards(tmp_path / "in2", first + more, shards=2), *capped)
    c3, c4 = kept_ids(out3), kept_ids(out4)
    assert r3["splits"]["validation"]["documents"] == 10 and r3["splits"]["test"]["documents"] == 5
    assert r3["cap_overflow_to_train"]["validation"] == r1["splits"]["validation"]["documents"] - 10
    assert all(c4[k] == "train" for k, v in c3.items() if v == "train")
    val = sorted((split_hash("medllama-split-v1", k), k) for k, v in s1.items() if v == "validation")
    assert {k for _, k in val[:10]} == {k for k, v in c3.items() if v == "validation"}


def test_bad_input_becomes_rejections_and_counts_add_up(tmp_path: Path) -> None:
    rng = random.Random(4)
    good = [make_doc(f"G{i}", random_words(rng, 50)) for i in range(5)]
    no_sig = make_doc("G9", random_words(rng, 50))
    del no_sig["minhash"], no_sig["text_hash"]
    bad_sig = make_doc("B1", random_words(rng, 50), minhash=[1, 2, 3])
    bad_hash = make_doc("B2", random_words(rng, 50), text_hash="XYZ")
    lines = [
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"id": "E1", "text": "   ", "source": "e1.xml"}),
        json.dumps({"text": "no id here"}),
        json.dumps({"id": "T1"}),
        json.dumps(make_doc("B3", ["a", "b"], words=-1)),
        json.dumps(make_doc("B4", ["a", "b"], is_manuscript="yes")),
    ]
    inp = write_shards(tmp_path / "in", [*good, no_sig, bad_sig, bad_hash], extra_lines=lines)
    (inp / "documents" / "part-empty.jsonl").write_text("")
    out, report = run_dedup(tmp_path, inp)
    rejected = read(out / "rejected" / "part-00000.jsonl")
    reasons = sorted(r["reason"] for r in rejected)
    assert reasons == sorted(
        ["invalid-json", "invalid-json", "empty-text", "missing-field", "missing-field"] + ["invalid-field"] * 4
    )
    assert all(r["detail"] and r["source"] for r in rejected)
    assert next(r for r in rejected if r["reason"] == "empty-text")["source"] == "e1.xml"
    assert report["input"]["records"] == 15 == report["kept"] + report["rejected"]["total"]
    assert report["kept"] == 6 and report["input"]["recomputed"] == {"minhash": 1, "text_hash": 1}
    kept = [r for s in SPLITS for r in read(out / s / "part-00000.jsonl")]
    assert all("minhash" not in r and r["split"] in SPLITS for r in kept)
    assert {r["id"] for r in kept} == {*(g["id"] for g in good), "G9"}
    assert sum(report["splits"][s]["documents"] for s in SPLITS) == report["kept"]


def test_deterministic_and_independent_of_input_sharding(tmp_path: Path) -> None:
    rng = random.Random(5)
    recs = [make_doc(f"PMC{i}", random_words(rng, 80)) for i in range(60)]
    recs += [make_doc(f"DUP{i}", recs[i]["text"].split()) for i in range(0, 60, 7)]
    inp = write_shards(tmp_path / "in", recs, shards=1)
    out1, _ = run_dedup(tmp_path / "a", inp)
    out2, _ = run_dedup(tmp_path / "b", inp)
    for rel in ["dedup-report.json", *(f"{s}/part-00000.jsonl" for s in (*SPLITS, "rejected"))]:
        assert (out1 / rel).read_bytes() == (out2 / rel).read_bytes(), rel
    out3, r3 = run_dedup(tmp_path / "c", write_shards(tmp_path / "in3", recs, shards=4))
    assert kept_ids(out3) == kept_ids(out1)
    assert r3["duplicates"]["total"] == 9


def test_memory_grows_with_documents_not_size() -> None:
    rng = random.Random(6)
    small, large = DedupState(), DedupState()
    for i in range(50):
        small.add(check_record(make_doc(f"PMC{1000 + i}", random_words(rng, 20))))
        large.add(check_record(make_doc(f"PMC{2000 + i}", random_words(rng, 20_000))))
    assert small.nbytes == large.nbytes
    assert small.nbytes / 50 < 600
