"""medllama.stage_base_model: a gated-style model archive (or folder) in the channel → a checked HF folder."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from medllama.config import is_path_field, load_schema
from medllama.resources import repo_root
from medllama.stage_base_model import StageBaseModelConfig, main


def make_archive(model: Path, archive: Path, *, prefix: str = "", skip: tuple[str, ...] = ()) -> Path:
    """A .tar.gz of ``model``'s files under ``prefix`` (deterministic member order)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for f in sorted(model.iterdir()):
            if f.name not in skip:
                tar.add(f, arcname=f"{prefix}{f.name}")
    return archive


def run(channel: Path, out: Path, report: Path, *extra: str) -> int:
    return main(["--base_model_dir", str(channel), "--model_dir", str(out), "--output_data_dir", str(report), *extra])


def test_config_matches_schema() -> None:
    schema = load_schema("stage_base_model")
    fields = {f.name: f.default for f in dataclasses.fields(StageBaseModelConfig) if not is_path_field(f)}
    assert fields == {k: v["default"] for k, v in schema["properties"].items()}


def test_archive_in_a_subfolder_is_extracted_checked_and_reported(tiny_base_model: Path, tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    make_archive(tiny_base_model, channel / "train-meta-textgeneration-llama-2-7b.tar.gz", prefix="llama-2-7b/")
    out, report_dir = tmp_path / "model", tmp_path / "data"
    assert run(channel, out, report_dir) == 0

    want = sorted(p.name for p in tiny_base_model.iterdir())
    assert sorted(p.name for p in out.iterdir()) == want  # flat HF folder, no scratch left behind
    for name in want:
        assert (out / name).read_bytes() == (tiny_base_model / name).read_bytes()
    assert (channel / "train-meta-textgeneration-llama-2-7b.tar.gz").is_file()  # the input is untouched

    report = json.loads((report_dir / "stage-base-model.json").read_text())
    assert report["source"] == {"archive": "train-meta-textgeneration-llama-2-7b.tar.gz"}
    assert report["model_type"] == "llama"
    assert report["weights"]["format"] == "safetensors"
    assert report["weights"]["tensors"] > 0
    assert (report["bos_id"], report["eos_id"]) == (1, 2)
    assert report["tokenizer_converted"] is False
    assert [f["path"] for f in report["files"]] == want
    assert report["total_bytes"] == sum((tiny_base_model / n).stat().st_size for n in want)

    # The staged folder loads like any base model.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert AutoModelForCausalLM.from_pretrained(out).config.model_type == "llama"
    assert AutoTokenizer.from_pretrained(out)("hello").input_ids[0] == 1


def test_a_channel_that_already_is_an_hf_folder_is_copied(tiny_base_model: Path, tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    shutil.copytree(tiny_base_model, channel / "nested")
    out = tmp_path / "model"
    assert run(channel, out, tmp_path / "data") == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in tiny_base_model.iterdir())
    assert sorted(p.name for p in (channel / "nested").iterdir()) == sorted(p.name for p in out.iterdir())
    report = json.loads((tmp_path / "data" / "stage-base-model.json").read_text())
    assert report["source"] == {"folder": "nested"}


def test_bin_weights_are_copied_as_they_are(tiny_base_model: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    src = tmp_path / "bin-model"
    shutil.copytree(tiny_base_model, src, ignore=shutil.ignore_patterns("*.safetensors*"))
    state = load_file(str(tiny_base_model / "model.safetensors"))
    torch.save(state, src / "pytorch_model.bin")
    channel = tmp_path / "channel"
    make_archive(src, channel / "m.tar.gz")
    out = tmp_path / "model"
    assert run(channel, out, tmp_path / "data") == 0
    assert (out / "pytorch_model.bin").read_bytes() == (src / "pytorch_model.bin").read_bytes()
    report = json.loads((tmp_path / "data" / "stage-base-model.json").read_text())
    assert report["weights"] == {"format": "bin", "files": ["pytorch_model.bin"]}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-tokenizer", "no tokenizer.json and no tokenizer.model"),
        ("no-weights", "no weights"),
        ("wrong-type", "model_type is 'mistral', expected 'llama'"),
        ("missing-shard", "names shards that are missing: model-00002-of-00002.safetensors"),
        ("truncated-weights", "not a readable safetensors file"),
        ("two-archives", "has no config.json and 2 *.tar.gz files"),
        ("no-config", "holds no config.json two folders deep"),
        ("escaping-member", "would be written outside the folder"),
        ("not-a-tar", "not a readable tar archive"),
    ],
)
def test_unusable_channels_fail_with_a_reason(
    case: str, message: str, tiny_base_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "src"
    shutil.copytree(tiny_base_model, src)
    channel = tmp_path / "channel"
    channel.mkdir()
    archive = channel / "model.tar.gz"
    if case == "no-tokenizer":
        (src / "tokenizer.json").unlink()
    elif case == "no-weights":
        (src / "model.safetensors").unlink()
    elif case == "wrong-type":
        cfg = json.loads((src / "config.json").read_text())
        (src / "config.json").write_text(json.dumps({**cfg, "model_type": "mistral"}))
    elif case == "missing-shard":
        (src / "model.safetensors.index.json").write_text(
            json.dumps({"weight_map": {"a": "model.safetensors", "b": "model-00002-of-00002.safetensors"}})
        )
    elif case == "truncated-weights":
        data = (src / "model.safetensors").read_bytes()
        (src / "model.safetensors").write_bytes(data[: len(data) // 2])
    if case == "two-archives":
        make_archive(src, archive)
        make_archive(src, channel / "other.tar.gz")
    elif case == "no-config":
        make_archive(src, archive, skip=("config.json",))
    elif case == "escaping-member":
        with tarfile.open(archive, "w:gz") as tar:
            info = tarfile.TarInfo("../evil.txt")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    elif case == "not-a-tar":
        archive.write_bytes(b"this is not gzip")
    else:
        make_archive(src, archive)
    out = tmp_path / "model"
    assert run(channel, out, tmp_path / "data") == 2
    assert message in caplog.text
    assert not (tmp_path / "data" / "stage-base-model.json").exists()
    assert not (out / ".medllama-extract").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_refuses_a_non_empty_model_dir_and_a_missing_channel(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert run(tmp_path / "nope", tmp_path / "model", tmp_path / "data") == 2
    assert "is not a folder" in caplog.text
    (tmp_path / "model").mkdir(exist_ok=True)
    (tmp_path / "model" / "x").write_text("x")
    assert run(tmp_path, tmp_path / "model", tmp_path / "data") == 2
    assert "is not empty" in caplog.text


def test_bad_config_value_exits_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        run(tmp_path, tmp_path / "model", tmp_path / "data", "--model_type", "Not Valid")
    assert exc.value.code == 2


def test_entry_script_runs_with_sagemaker_environment(tiny_base_model: Path, tmp_path: Path) -> None:
    """containers/stage_base_model.py as the training toolkit starts it: channels and dirs from SM_* env."""
    channel = tmp_path / "opt" / "ml" / "input" / "data" / "base_model"
    make_archive(tiny_base_model, channel / "m.tar.gz")
    env = {
        **os.environ,
        "MEDLLAMA_NO_PIP": "1",
        "MEDLLAMA_OPT_ML": str(tmp_path / "opt" / "ml"),
        "SM_CHANNEL_BASE_MODEL": str(channel),
        "SM_MODEL_DIR": str(tmp_path / "opt" / "ml" / "model"),
        "SM_OUTPUT_DATA_DIR": str(tmp_path / "opt" / "ml" / "output" / "data"),
    }
    res = subprocess.run(
        [sys.executable, str(repo_root() / "containers" / "stage_base_model.py"), "--model_type", '"llama"'],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "opt" / "ml" / "model" / "config.json").is_file()
    assert (tmp_path / "opt" / "ml" / "output" / "data" / "stage-base-model.json").is_file()
