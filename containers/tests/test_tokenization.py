"""medllama.tokenization: packing invariants, order, sharding, replay, bad input, long articles, the CLI."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medllama.config import load_schema
from medllama.sagemaker_env import Shard
from medllama.tokenization import TokenizationConfig, index_split, load_tokenizer, main, pack_split
from medllama.tokenization.core import InputError, Packer, frame_batch

LOG = logging.getLogger("test")
WORDS = re.findall(
    r"\S+",
    "the patient was treated with intravenous antibiotics and renal function improved; IL-6 and TNF-α rose by 35% (p < 0.05) in group B versus controls. Methods: we enrolled 120 adults aged 18–65 years",
)


def datasets_or_skip():
    try:
        import datasets
        import pyarrow  # noqa: F401
    except ImportError as err:
        pytest.skip(f"datasets/pyarrow not importable in this environment ({err}); the writer needs them")
    import datasets

    return datasets


@pytest.fixture(scope="module")
def tok(tokenizer_json: Path):
    return load_tokenizer(tokenizer_json)


def text_of(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    for i in range(0, n, 37):
        words[i] += "\n\n" if i % 2 else "\n"
    return " ".join(words)


def write_split(root: Path, split: str, docs: list[dict[str, Any]], files: int = 1, extra: list[str] = ()) -> None:
    d = root / split
    d.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        with open(d / f"part-{f:05d}.jsonl", "w", encoding="utf-8") as fh:
            for doc in docs[f::files]:
                fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
            if f == 0:
                for line in extra:
                    fh.write(line + "\n")


def make_corpus(root: Path, n: int = 30, seed: int = 0, files: int = 1) -> dict[str, str]:
    rng = random.Random(seed)
    docs = [
        {"id": f"PMC{rng.randrange(10**6):07d}", "text": text_of(rng, rng.choice([3, 40, 200, 900]))} for _ in range(n)
    ]
    write_split(root, "train", docs, files=files)
    write_split(root, "validation", docs[:3])
    write_split(root, "test", [])
    return {d["id"]: d["text"] for d in docs}


def cfg_for(root: Path, out: Path, tokenizer: Path, **kw: Any) -> TokenizationConfig:
    return TokenizationConfig(input_dir=str(root), output_dir=str(out), tokenizer=str(tokenizer), **kw)


def pack(cfg: TokenizationConfig, tok, split: str = "train", shard: Shard | None = None):
    rows: list[np.ndarray] = []
    index = index_split(Path(cfg.input_dir) / split, Path(cfg.input_dir))
    stats = pack_split(cfg, tok, index, shard or Shard(), rows.append, LOG)
    block = np.concatenate(rows) if rows else np.zeros((0, cfg.seq_len), dtype=np.int32)
    return block, stats, index


def test_schema_matches_dataclass() -> None:
    schema = load_schema("tokenization")
    fields = {f.name: f for f in dataclasses.fields(TokenizationConfig) if not f.metadata.get("path")}
    assert set(fields) == set(schema["properties"])
    for name, f in fields.items():
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        assert schema["properties"][name]["default"] == default, name
    assert schema["properties"]["seq_len"]["default"] == 4096


def test_packing_invariants(tmp_path: Path, tok, tokenizer_json: Path) -> None:
    texts = make_corpus(tmp_path / "in", n=40)
    cfg = cfg_for(tmp_path / "in", tmp_path / "out", tokenizer_json, seq_len=128, batch_docs=7)
    blocks, stats, _ = pack(cfg, tok)
    assert blocks.dtype == np.int32 and blocks.shape[1] == 128
    ordered = sorted(texts)
    encoded = [tok.tokenizer.encode(texts[i], add_special_tokens=False).ids for i in ordered]
    assert all(tok.bos_id not in e and tok.eos_id not in e for e in encoded)
    expected = np.array([t for e in encoded for t in (tok.bos_id, *e, tok.eos_id)], dtype=np.int32)
    assert stats.tokens == sum(len(e) + 2 for e in encoded) == len(expected)
    assert stats.blocks * 128 + stats.tail_tokens_dropped == stats.tokens
    assert 0 <= stats.tail_tokens_dropped < 128 and stats.documents == len(texts)
    stream = blocks.ravel()
    assert np.array_equal(stream, expected[: len(stream)])
    # BOS exactly at document starts, EOS exactly at document ends
    starts = np.cumsum([0] + [len(e) + 2 for e in encoded[:-1]])
    ends = starts + np.array([len(e) + 1 for e in encoded])
    assert np.array_equal(np.flatnonzero(stream == tok.bos_id), starts[starts < len(stream)])
    assert np.array_equal(np.flatnonzero(stream == tok.eos_id), ends[ends < len(stream)])
    # decoding a block reproduces the source text spans (whole documents inside it)
    for b in range(stats.blocks):
        row = blocks[b].tolist()
        bos = [i for i, t in enumerate(row) if t == tok.bos_id]
        for s in bos:
            if tok.eos_id in row[s:]:
                e = row.index(tok.eos_id, s)
                text = tok.tokenizer.decode(row[s + 1 : e])
                assert text in texts.values()
    assert 0.2 < stats.as_dict(128)["tokens_per_byte"] < 0.5


def test_frame_batch_and_packer_tail() -> None:
    framed = frame_batch([[5, 6], [], [7]], 1, 2)
    assert [f.tolist() for f in framed] == [[1, 5, 6, 2], [1, 2], [1, 7, 2]]
    rows: list[np.ndarray] = []
    p = Packer(3, rows.append, rows_per_emit=1)
    for f in framed:
        p.add(f)
    p.end_chunk()
    assert np.concatenate(rows).tolist() == [[1, 5, 6], [2, 1, 2], [1, 7, 2]] and p.dropped == 0
    p.add(np.array([1, 9, 9, 9, 2], dtype=np.int32))
    p.end_chunk()
    assert p.blocks == 4 and p.dropped == 2


def test_order_is_by_id_and_independent_of_files(tmp_path: Path, tok, tokenizer_json: Path) -> None:
    make_corpus(tmp_path / "a", n=25, seed=3, files=1)
    make_corpus(tmp_path / "b", n=25, seed=3, files=4)
    ba, sa, _ = pack(cfg_for(tmp_path / "a", tmp_path / "oa", tokenizer_json, seq_len=64), tok)
    bb, sb, _ = pack(cfg_for(tmp_path / "b", tmp_path / "ob", tokenizer_json, seq_len=64, batch_docs=3), tok)
    assert np.array_equal(ba, bb) and sa == sb


def test_sharded_equals_single_shard(tmp_path: Path, tok, tokenizer_json: Path) -> None:
    make_corpus(tmp_path / "in", n=23, seed=4)
    cfg = cfg_for(tmp_path / "in", tmp_path / "o", tokenizer_json, seq_len=64, chunk_docs=4)
    single, s1, _ = pack(cfg, tok)
    for count in (2, 3, 7):
        parts = [pack(cfg, tok, shard=Shard(i, count)) for i in range(count)]
        assert np.array_equal(np.concatenate([p[0] for p in parts]), single)
        assert sum(p[1].documents for p in parts) == s1.documents == 23
        assert sum(p[1].tail_tokens_dropped for p in parts) == s1.tail_tokens_dropped
    assert s1.chunks == 6


def test_bad_input_becomes_rejections(tmp_path: Path, tok, tokenizer_json: Path) -> None:
    root = tmp_path / "in"
    write_split(
        root,
        "train",
        [{"id": "A", "text": "alpha beta"}, {"id": "B", "text": "gamma"}],
        extra=[
            "{oops",
            "[1]",
            json.dumps({"id": "C", "text": ""}),
            json.dumps({"text": "x"}),
            json.dumps({"id": "D"}),
        ],
    )
    _, stats, index = pack(cfg_for(root, tmp_path / "o", tokenizer_json, seq_len=8), tok)
    assert sorted(r["reason"] for r in index.rejections) == [
        "empty-text",
        "invalid-json",
        "invalid-json",
        "missing-field",
        "missing-field",
    ]
    assert all(r["source"].startswith("train/part-00000.jsonl:") for r in index.rejections)
    assert stats.documents == 2


def write_replay(folder: Path) -> None:
    folder.mkdir(parents=True)
    rng = random.Random(9)
    for i in range(5):
        (folder / f"g{i}.txt").write_text("General text about cooking and travel. " * rng.randint(20, 60))
    (folder / "empty.txt").write_text("  \n")
    (folder / "SOURCE.md").write_text("# not a document")
    lines = [json.dumps({"text": f"Sports news number {i}. " * 30}) for i in range(20)]
    (folder / "sub").mkdir()
    (folder / "sub" / "more.jsonl").write_text("\n".join([*lines, "bad", json.dumps({"title": "x"})]) + "\n")


def test_replay_is_its_own_split(tmp_path: Path, tokenizer_json: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--replay_uri: the corpus under the prefix (here the local runner's S3 folder) becomes the split 'replay',
    framed like the others; train is what it is without replay; no URI gives an empty replay split."""
    datasets = datasets_or_skip()
    make_corpus(tmp_path / "in", n=30, seed=6)
    write_replay(tmp_path / "s3" / "bucket" / "general")
    monkeypatch.setenv("MEDLLAMA_LOCAL_S3", json.dumps({"root": str(tmp_path / "s3"), "mounts": {}}))
    args = ["--input_dir", str(tmp_path / "in"), "--tokenizer", str(tokenizer_json), "--seq_len", "64"]
    assert main([*args, "--output_dir", str(tmp_path / "plain")]) == 0
    assert main([*args, "--output_dir", str(tmp_path / "o"), "--replay_uri", "s3://bucket/general/"]) == 0
    report = json.loads((tmp_path / "o" / "tokenize-report.json").read_text())
    replay = report["replay"]
    assert replay["source"] == "s3://bucket/general/"
    assert replay["documents"] == 25 and replay["rejected"] == 3 and replay["blocks"] > 0
    meta = json.loads((tmp_path / "o" / "replay" / "medllama-split.json").read_text())
    assert meta["split"] == "replay" and meta["source"] == "s3://bucket/general/" and meta["bos_id"] == 1
    rows = datasets.load_from_disk(str(tmp_path / "o" / "replay"))["input_ids"]
    assert len(rows) == replay["blocks"] and rows[0][0] == 1  # <s> opens the first document
    for split in ("train", "validation"):  # the domain splits do not change
        a = (tmp_path / "plain" / split / "medllama-split.json").read_text()
        assert a == (tmp_path / "o" / split / "medllama-split.json").read_text()
    assert len(datasets.load_from_disk(str(tmp_path / "plain" / "replay"))) == 0
    assert json.loads((tmp_path / "plain" / "tokenize-report.json").read_text())["replay"]["source"] == ""
    rejected = (tmp_path / "o" / "rejected" / "part-00000.jsonl").read_text().splitlines()
    assert sorted(json.loads(r)["source"] for r in rejected) == [
        "replay/empty.txt",
        "replay/sub/more.jsonl:21",
        "replay/sub/more.jsonl:22",
    ]
    # deterministic bytes
    assert main([*args, "--output_dir", str(tmp_path / "o2"), "--replay_uri", "s3://bucket/general/"]) == 0
    for p in sorted((tmp_path / "o" / "replay").rglob("*")):
        if p.is_file():
            assert p.read_bytes() == (tmp_path / "o2" / "replay" / p.name).read_bytes(), p


def test_replay_errors(tmp_path: Path, tokenizer_json: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    make_corpus(tmp_path / "in", n=3)
    (tmp_path / "s3" / "bucket" / "docs").mkdir(parents=True)
    (tmp_path / "s3" / "bucket" / "docs" / "README.md").write_text("no documents here")
    monkeypatch.setenv("MEDLLAMA_LOCAL_S3", json.dumps({"root": str(tmp_path / "s3"), "mounts": {}}))
    args = [
        "--input_dir",
        str(tmp_path / "in"),
        "--output_dir",
        str(tmp_path / "o"),
        "--tokenizer",
        str(tokenizer_json),
    ]
    with caplog.at_level(logging.ERROR):
        assert main([*args, "--replay_uri", "s3://bucket/missing/"]) == 1
        assert main([*args, "--replay_uri", "s3://bucket/docs/"]) == 1
    assert "--replay_uri s3://bucket/missing/: no objects under this prefix" in caplog.text
    assert "--replay_uri s3://bucket/docs/: no replay documents" in caplog.text
    with pytest.raises(SystemExit) as err:
        main([*args, "--replay_uri", "/local/folder"])
    assert err.value.code == 2
    with pytest.raises(ValueError, match="names 'replay'"):
        cfg_for(tmp_path / "in", tmp_path / "o", tokenizer_json, splits=["train", "replay"])


def test_long_article_is_roughly_linear(tok) -> None:
    """tokenizers 0.22.2 has no quadratic Llama normalizer: 10x the text must not cost ~100x the time."""
    rng = random.Random(7)
    unit = text_of(rng, 90_000)
    small, large = unit[:50_000], unit[:500_000]
    assert len(large) == 500_000

    def best_of(text: str, n: int) -> float:
        times = []
        for _ in range(n):
            t = time.perf_counter()
            tok.tokenizer.encode(text, add_special_tokens=False)
            times.append(time.perf_counter() - t)
        return min(times)

    best_of(small, 1)
    t_small, t_large = best_of(small, 5), best_of(large, 2)
    assert t_large < 30 * t_small, (t_small, t_large)


def test_tokenizer_resolution(tmp_path: Path, tokenizer_json: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "tokenizer.json").write_bytes(tokenizer_json.read_bytes())
    (folder / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>", "eos_token": "</s>"}))
    t = load_tokenizer(folder)
    assert (t.bos_id, t.eos_id) == (1, 2) and len(t.sha256) == 64
    with pytest.raises(InputError):
        load_tokenizer(tmp_path / "missing")
    (folder / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<|begin|>"}))
    with pytest.raises(InputError):
        load_tokenizer(folder)


def test_cli_errors(tmp_path: Path, tokenizer_json: Path) -> None:
    with pytest.raises(SystemExit) as err:
        main(["--seq_len", "3"])
    assert err.value.code == 2
    with pytest.raises(SystemExit) as err:
        main(["--replay_uri", "http://example.com/x"])
    assert err.value.code == 2
    args = [
        "--input_dir",
        str(tmp_path / "none"),
        "--output_dir",
        str(tmp_path / "o"),
        "--tokenizer",
        str(tokenizer_json),
    ]
    assert main(args) == 1


def test_full_run_writes_datasets(tmp_path: Path, tokenizer_json: Path) -> None:
    datasets = datasets_or_skip()
    texts = make_corpus(tmp_path / "in", n=30, seed=8)
    out = tmp_path / "out"
    args = ["--input_dir", str(tmp_path / "in"), "--tokenizer", str(tokenizer_json), "--seq_len", "64"]
    assert main([*args, "--output_dir", str(out)]) == 0
    report = json.loads((out / "tokenize-report.json").read_text())
    train = datasets.load_from_disk(str(out / "train"))
    assert train.column_names == ["input_ids"] and len(train) == report["splits"]["train"]["blocks"] > 0
    assert all(len(r) == 64 for r in train["input_ids"])
    meta = json.loads((out / "train" / "medllama-split.json").read_text())
    assert meta["documents"] == len(texts) and meta["bos_id"] == 1 and meta["eos_id"] == 2
    assert meta["blocks"] * 64 + meta["tail_tokens_dropped"] == meta["tokens"]
    assert len(datasets.load_from_disk(str(out / "test"))) == 0
    # deterministic bytes
    assert main([*args, "--output_dir", str(tmp_path / "out2")]) == 0
    for p in sorted(out.rglob("*")):
        if p.is_file():
            assert p.read_bytes() == (tmp_path / "out2" / p.relative_to(out)).read_bytes(), p
    # sharded layout: per-shard folders whose concatenation equals the single-shard dataset
    for i in range(2):
        sharded = [*args, "--output_dir", str(tmp_path / "sh"), "--chunk_docs", "4"]
        assert main([*sharded, "--shard_index", str(i), "--shard_count", "2"]) == 0
    assert main([*args, "--output_dir", str(tmp_path / "one"), "--chunk_docs", "4"]) == 0
    parts = [datasets.load_from_disk(str(p)) for p in sorted((tmp_path / "sh" / "train").glob("shard-*"))]
    assert len(parts) == 2
    joined = datasets.concatenate_datasets(parts)["input_ids"]
    assert joined == datasets.load_from_disk(str(tmp_path / "one" / "train"))["input_ids"]
