"""Tokenizer identity travels with the data: Tokenize records it, Train and Evaluate refuse a base model whose
tokenizer differs, naming both; a copy re-saved with other formatting is the same tokenizer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medllama.tokenizer import TokenizerError, load_base_tokenizer, require_same_tokenizer

SEQ = 32


def swapped_variant(tokenizer_json: Path, out: Path) -> Path:
    """The same pieces, merges and special ids with two pieces' ids swapped: a different tokenizer of the same size
    that every structural check would accept (as Mistral's vocabulary passed for Llama 2's)."""
    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    vocab["▁the"], vocab["▁and"] = vocab["▁and"], vocab["▁the"]
    out.write_text(json.dumps(data), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def other_base_model(tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny base model with a swapped-ids variant of its tokenizer."""
    folder = tmp_path_factory.mktemp("other-base") / "model"
    shutil.copytree(tiny_base_model, folder)
    swapped_variant(tiny_base_model / "tokenizer.json", folder / "tokenizer.json")
    return folder


def test_fingerprint_follows_what_decides_ids_not_the_file_bytes(
    tokenizer_json: Path, tiny_base_model: Path, other_base_model: Path, tmp_path: Path
) -> None:
    original = load_base_tokenizer(tokenizer_json)
    resaved = load_base_tokenizer(tiny_base_model)  # written by transformers' save_pretrained: other bytes
    assert resaved.sha256 != original.sha256
    assert resaved.identity.fingerprint == original.identity.fingerprint
    other = load_base_tokenizer(other_base_model)
    assert other.identity.fingerprint != original.identity.fingerprint
    assert other.encode("the end") != original.encode("the end")  # the difference is real
    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    data["model"]["merges"] = data["model"]["merges"][:-1]
    (tmp_path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    assert load_base_tokenizer(tmp_path).identity.fingerprint != original.identity.fingerprint
    # transformers' non-legacy Llama pipeline (Metaspace instead of Prepend/Replace): another pipeline, another id
    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    data["normalizer"] = None
    data["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    (tmp_path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    assert load_base_tokenizer(tmp_path).identity.fingerprint != original.identity.fingerprint


def test_require_same_tokenizer_names_both_sides(tokenizer_json: Path, other_base_model: Path) -> None:
    base = load_base_tokenizer(tokenizer_json)
    require_same_tokenizer(base.identity.as_manifest(), base, what="the data")
    other = load_base_tokenizer(other_base_model)
    with pytest.raises(TokenizerError) as err:
        require_same_tokenizer(other.identity.as_manifest(), base, what="the train data (x)")
    text = str(err.value)
    assert "the train data (x)" in text and other.identity.fingerprint[:16] in text
    assert base.identity.fingerprint[:16] in text and str(base.path) in text
    with pytest.raises(TokenizerError, match="records no tokenizer fingerprint"):
        require_same_tokenizer({"tokenizer_sha256": base.sha256}, base, what="old data")


def test_tokenize_records_the_identity(tmp_path: Path, tiny_base_model: Path) -> None:
    from medllama.tokenization import main

    for split in ("train", "validation", "test"):
        (tmp_path / "in" / split).mkdir(parents=True)
        (tmp_path / "in" / split / "part-00000.jsonl").write_text(
            json.dumps({"id": f"{split}-1", "text": "Metformin lowers hepatic glucose output. " * 20}) + "\n"
        )
    args = ["--input_dir", str(tmp_path / "in"), "--output_dir", str(tmp_path / "out"), "--seq_len", str(SEQ)]
    assert main([*args, "--tokenizer", str(tiny_base_model)]) == 0
    identity = load_base_tokenizer(tiny_base_model).identity.as_manifest()
    manifest = json.loads((tmp_path / "out" / "train" / "medllama-split.json").read_text())
    report = json.loads((tmp_path / "out" / "tokenize-report.json").read_text())
    for recorded in (manifest, report):
        assert {k: recorded[k] for k in identity} == identity


def test_train_refuses_a_base_model_with_another_tokenizer(
    tiny_base_model: Path, other_base_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from medllama.train import main
    from medllama.train.smoke import train_argv, write_motif_splits

    data = write_motif_splits(tmp_path / "data", SEQ, {"train": 8, "validation": 2}, base_model=tiny_base_model)
    args = train_argv(data, other_base_model, tmp_path / "run", seq_len=SEQ, max_steps=1, bf16="false")
    assert main(args) == 2
    message = caplog.text
    assert "the train data" in message and "different tokenizer" in message and str(other_base_model) in message
    assert not (tmp_path / "run" / "model").exists() or not any((tmp_path / "run" / "model").iterdir())


def test_evaluate_refuses_a_tuned_model_trained_on_other_tokens(
    tiny_base_model: Path, other_base_model: Path, tmp_path: Path
) -> None:
    from medllama.evaluate.runner import EvaluationError, check_same_tokenizer

    base = load_base_tokenizer(tiny_base_model)
    same = check_same_tokenizer(
        str(tiny_base_model), str(tiny_base_model), ("s.json", {"tokenizer": base.identity.as_manifest()})
    )
    assert same.identity == base.identity
    other = load_base_tokenizer(other_base_model).identity.as_manifest()
    with pytest.raises(EvaluationError, match="the tuned model's training data"):
        check_same_tokenizer(str(tiny_base_model), str(tiny_base_model), ("s.json", {"tokenizer": other}))
    with pytest.raises(EvaluationError, match="differs from the base model's"):
        check_same_tokenizer(str(tiny_base_model), str(other_base_model), None)
