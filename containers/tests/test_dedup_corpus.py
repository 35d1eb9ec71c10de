"""Ingest → dedup → tokenize on the 200-file PMC sample (../shared): duplicate groups collapse, no leaks."""

from __future__ import annotations

import csv
import itertools
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from medllama import minhash
from medllama.dedup import SPLITS
from medllama.dedup import main as dedup_main

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def pipeline(pmc_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from medllama.ingest import main as ingest_main  # written by the ingest helper

    root = tmp_path_factory.mktemp("corpus")
    assert ingest_main(["--input_dir", str(pmc_sample), "--output_dir", str(root / "ingest")]) == 0
    args = ["--validation_fraction", "0.1", "--test_fraction", "0.1"]
    assert dedup_main(["--input_dir", str(root / "ingest"), "--output_dir", str(root / "dedup"), *args]) == 0
    return {"ingest": root / "ingest", "dedup": root / "dedup"}


def _records(folder: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(folder.glob("*.jsonl")) for line in p.read_text().splitlines() if line]


def test_manifest_duplicate_groups_collapse(pipeline: dict[str, Path], pmc_sample: Path) -> None:
    with open(pmc_sample / "manifest.tsv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    groups: dict[str, set[str]] = {}
    for row in rows:
        if row.get("dup_group"):
            groups.setdefault(row["dup_group"], set()).add(row["filename"])
    assert groups, "the sample manifest lists duplicate groups"
    ingested = {r["source"] for r in _records(pipeline["ingest"] / "documents")}
    kept = {r["source"] for s in SPLITS for r in _records(pipeline["dedup"] / s)}
    rejected = {r["source"]: r for r in _records(pipeline["dedup"] / "rejected")}
    checked = 0
    for name, files in sorted(groups.items()):
        present = files & ingested
        if len(present) < 2:
            continue  # ingest filtered the group (e.g. its licence); nothing for dedup to collapse
        checked += 1
        assert len(present & kept) == 1, (name, present & kept)
        for f in present - kept:
            assert rejected[f]["reason"] == "duplicate" and rejected[f]["duplicate_of"], f
    assert checked >= 2


def test_no_near_duplicate_pairs_across_splits(pipeline: dict[str, Path]) -> None:
    sigs = {r["id"]: np.array(r["minhash"]) for r in _records(pipeline["ingest"] / "documents")}
    split_of = {r["id"]: r["split"] for s in SPLITS for r in _records(pipeline["dedup"] / s)}
    assert set(split_of.values()) == set(SPLITS)
    ids = sorted(split_of)
    leaks = [
        (a, b)
        for a, b in itertools.combinations(ids, 2)
        if split_of[a] != split_of[b] and minhash.estimate_jaccard(sigs[a], sigs[b]) >= 0.5
    ]
    assert leaks == []
    report = json.loads((pipeline["dedup"] / "dedup-report.json").read_text())
    assert report["input"]["records"] == report["kept"] + report["rejected"]["total"]
    assert report["kept"] == len(ids)


def test_tokenize_packs_the_sample(pipeline: dict[str, Path], tokenizer_json: Path) -> None:
    from medllama.sagemaker_env import Shard
    from medllama.tokenization import TokenizationConfig, index_split, load_tokenizer, pack_split

    cfg = TokenizationConfig(
        input_dir=str(pipeline["dedup"]), output_dir=str(pipeline["dedup"] / "x"), tokenizer=str(tokenizer_json)
    )
    cfg.seq_len = 512
    tok = load_tokenizer(tokenizer_json)
    rows: list[np.ndarray] = []
    index = index_split(pipeline["dedup"] / "validation", pipeline["dedup"])
    stats = pack_split(cfg, tok, index, Shard(), rows.append, logging.getLogger("t"))
    blocks = np.concatenate(rows)
    assert blocks.shape == (stats.blocks, 512) and stats.documents == len(index.docs) > 0
    assert stats.blocks * 512 + stats.tail_tokens_dropped == stats.tokens
    assert int((blocks == tok.bos_id).sum()) <= stats.documents
    assert 0.2 < stats.as_dict(512)["tokens_per_byte"] < 0.45
