"""medllama.train configuration, data loading and pure helpers (fast: no model is trained here)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest

from medllama.config import ConfigError, is_path_field, load_schema, parse_config
from medllama.resources import repo_root
from medllama.train.config import TrainConfig
from medllama.train.data import DataError, MixedSplit, StepPlan, load_replay_split, load_split, write_npy_split
from medllama.train.distributed import DistEnv
from medllama.train.loop import lr_lambda
from medllama.train.metrics import METRIC_RE, flops_per_token, format_metric, mfu, peak_tflops_for
from medllama.train.model import ModelError, resolve_base_model_dir

METRIC_DEFINITIONS = repo_root() / "containers" / "medllama" / "metric_definitions.json"


def write_split(folder: Path, rows: np.ndarray, seq_len: int | None = None) -> Path:
    """A packed split folder (``input_ids.npy`` stands in for the Arrow files where the ``datasets`` stack cannot
    be imported)."""
    return write_npy_split(folder, rows, tokenizer=None, seq_len=seq_len)


def test_dataclass_fields_equal_schema_properties() -> None:
    schema = load_schema("train")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig) if not is_path_field(f)}
    assert set(fields) == set(schema["properties"])
    for name, field in fields.items():
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        assert schema["properties"][name]["default"] == default, name
    paths = {f.name for f in dataclasses.fields(TrainConfig) if is_path_field(f)}
    assert paths == {
        "train_dir",
        "validation_dir",
        "replay_dir",
        "base_model_dir",
        "model_dir",
        "checkpoint_dir",
        "output_data_dir",
    }


def test_defaults_and_sagemaker_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    monkeypatch.setenv("SM_MODEL_DIR", "/opt/ml/model")
    cfg = parse_config(TrainConfig, ["--method", '"full"', "--learning_rate", "1.5e-05", "--bf16", "false",
                                     "--lora_target", '["q_proj", "v_proj"]'], step="train")  # fmt: skip
    assert (cfg.method, cfg.learning_rate, cfg.bf16, cfg.lora_target) == ("full", 1.5e-05, False, ["q_proj", "v_proj"])
    assert cfg.train_dir == "/opt/ml/input/data/train" and cfg.model_dir == "/opt/ml/model"
    assert cfg.checkpoint_dir.endswith("/checkpoints")
    assert parse_config(TrainConfig, [], step="train").lora_target == [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--method", "qlora"], "--method"),
        (["--lora_r", "0"], "--lora_r"),
        (["--learning_rate", "-1"], "--learning_rate"),
        (["--warmup_ratio", "1.5"], "--warmup_ratio"),
        (["--per_device_train_batch_size", "two"], "--per_device_train_batch_size"),
        (["--max_steps", "0"], "--max_steps"),
        (["--lr_scheduler", "polynomial"], "--lr_scheduler"),
        (["--max_shard_size", "2 GB"], "--max_shard_size"),
        (["--lora_dropout", "1"], "--lora_dropout"),
        (["--hf_token", "x"], "--hf_token"),
    ],
)
def test_invalid_hyperparameters_name_the_field(argv: list[str], field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(field)):
        parse_config(TrainConfig, argv, step="train")


def test_main_exits_2_naming_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    from medllama.train import main

    with pytest.raises(SystemExit) as exc:
        main(["--gradient_accumulation_steps", "0"])
    assert exc.value.code == 2
    assert "--gradient_accumulation_steps" in capsys.readouterr().err


def test_seq_len_mismatch_is_caught(tmp_path: Path) -> None:
    folder = write_split(tmp_path / "train", np.ones((4, 32), dtype=np.int32))
    with pytest.raises(DataError, match=r"--seq_len 64 does not match the train data: .* seq_len=32"):
        load_split(folder, 64, name="train")
    # a manifest that lies about the rows is caught too
    (folder / "medllama-split.json").write_text(json.dumps({"seq_len": 64}), encoding="utf-8")
    with pytest.raises(DataError, match="rows have 32 tokens but --seq_len is 64"):
        load_split(folder, 64, name="train")
    with pytest.raises(DataError, match=r"no medllama-split\.json"):
        load_split(tmp_path, 64, name="validation")


def test_save_to_disk_split_loads(tmp_path: Path) -> None:
    try:
        import datasets
    except ImportError as err:
        pytest.skip(f"datasets cannot be imported here ({err}); the .npy path is tested instead")
    rows = np.arange(6 * 8, dtype=np.int32).reshape(6, 8)
    datasets.Dataset.from_dict({"input_ids": rows.tolist()}).save_to_disk(str(tmp_path / "train"))
    (tmp_path / "train" / "medllama-split.json").write_text(json.dumps({"seq_len": 8}), encoding="utf-8")
    split = load_split(tmp_path / "train", 8, name="train")
    assert len(split) == 6
    np.testing.assert_array_equal(split.blocks(np.array([5, 0])), rows[[5, 0]])


def test_step_plan_reads_each_block_once_per_epoch_and_is_deterministic() -> None:
    plan = StepPlan(num_blocks=50, world_size=2, micro_batch=3, accumulation=2, seed=7)
    assert plan.global_batch == 12 and plan.steps_per_epoch == 4
    for epoch in range(2):
        seen = [
            i for s in range(epoch * 4, epoch * 4 + 4) for r in range(2) for mb in plan.micro_batches(s, r) for i in mb
        ]
        assert len(seen) == len(set(seen)) == 48
    assert not np.array_equal(plan.epoch_order(0), plan.epoch_order(1))
    again = StepPlan(num_blocks=50, world_size=2, micro_batch=3, accumulation=2, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(plan.micro_batches(5, 1), again.micro_batches(5, 1), strict=True))
    assert plan.total_steps(2.5, -1) == 10 and plan.total_steps(1.0, 3) == 3


def test_replay_mix_is_seeded_and_realizes_the_fraction(tmp_path: Path) -> None:
    """MixedSplit: round(f/(1-f)·N) replay blocks join N domain blocks; the replay split, smaller than that, is
    walked by seeded permutations (each block used 2 or 3 times here); the realized share over whole epochs is f."""
    domain = load_split(write_npy_split(tmp_path / "train", np.zeros((90, 4), np.int32), tokenizer=None), 4, name="t")
    replay_rows = np.arange(1, 9, dtype=np.int32)[:, None].repeat(4, axis=1)  # block k is all k+1
    replay = load_replay_split(write_npy_split(tmp_path / "replay", replay_rows, tokenizer=None), 4)
    mix = MixedSplit(domain, replay, 0.1, seed=3)
    assert mix.extra == 10 and len(mix) == 100
    assert sorted(np.bincount(mix.pick, minlength=8).tolist()) == [1, 1, 1, 1, 1, 1, 2, 2]
    rows = mix.blocks(np.array([0, 95, 89, 90]))
    assert rows[0].tolist() == [0] * 4 and rows[2].tolist() == [0] * 4
    assert rows[1, 0] == mix.pick[5] + 1 and rows[3, 0] == mix.pick[0] + 1
    plan = StepPlan(num_blocks=len(mix), world_size=1, micro_batch=5, accumulation=2, seed=3)
    summary = mix.summary(plan, 20)  # two whole epochs of 10 steps
    assert summary["replay_blocks_read"] == 20 and summary["realized_fraction"] == 0.1
    assert summary["replay_tokens_read"] == 80 and summary["repeats_replay_blocks"] is True
    again = MixedSplit(domain, replay, 0.1, seed=3)
    assert np.array_equal(again.pick, mix.pick) and not np.array_equal(
        MixedSplit(domain, replay, 0.1, 4).pick, mix.pick
    )
    none = MixedSplit(domain, None, 0.1, seed=3)
    assert none.extra == 0 and none.summary(plan, 2)["realized_fraction"] == 0.0
    assert MixedSplit(domain, replay, 0.0, seed=3).extra == 0
    empty = write_npy_split(tmp_path / "empty", np.zeros((0, 4), np.int32), tokenizer=None, seq_len=4)
    assert load_replay_split(empty, 4) is None and load_replay_split(tmp_path / "missing", 4) is None


def test_lr_schedules() -> None:
    cos = lr_lambda("cosine", warmup=10, total=110, min_ratio=0.1)
    assert cos(0) == pytest.approx(1 / 11) and cos(9) == pytest.approx(10 / 11)
    assert cos(10) == pytest.approx(1.0) and cos(60) == pytest.approx(0.55) and cos(110) == pytest.approx(0.1)
    assert lr_lambda("linear", 0, 100, 0.0)(50) == pytest.approx(0.5)
    assert lr_lambda("constant_with_warmup", 5, 100, 0.0)(99) == 1.0


def test_mfu_formula_matches_the_research_anchor() -> None:
    # performance.md §1: Llama-2-7B at T=4096 trains at 46.9e9 FLOPs/token (6N + 12·L·d·T).
    fpt = flops_per_token(6.74e9, 32, 4096, 4096)
    assert fpt == pytest.approx(46.9e9, rel=1e-3)
    assert mfu(10_000, fpt, 989.0) == pytest.approx(10_000 * fpt / 989e12)
    assert math.isnan(mfu(10_000, fpt, 0.0))
    assert peak_tflops_for("NVIDIA H100 80GB HBM3") == 989.0 and peak_tflops_for("NVIDIA A100-SXM4-40GB") == 312.0
    assert peak_tflops_for("cpu") == 0.0


@pytest.mark.parametrize(
    ("name", "tflops"),
    [
        ("NVIDIA A10G", 125.0),  # g5 (an upper bound: the A10's datasheet figure)
        ("NVIDIA L4", 121.0),  # g6
        ("NVIDIA L40S", 362.05),  # g6e
        ("NVIDIA A100-SXM4-40GB", 312.0),  # p4d
        ("NVIDIA A100-SXM4-80GB", 312.0),  # p4de
        ("NVIDIA A100-PCIE-40GB", 312.0),
        ("NVIDIA A100 80GB PCIe", 312.0),
        ("NVIDIA H100 80GB HBM3", 989.0),  # p5 (SXM)
        ("NVIDIA H100 PCIe", 756.0),  # not the SXM's 989
        ("NVIDIA H200", 989.0),  # p5e / p5en
    ],
)
def test_peak_table_matches_gpu_names_exactly(name: str, tflops: float) -> None:
    assert peak_tflops_for(name) == tflops
    assert peak_tflops_for(f"  {name}\n") == tflops  # surrounding whitespace only


@pytest.mark.parametrize(
    "name",
    [
        "NVIDIA L40",  # the L40 (181 dense) is not the L40S
        "NVIDIA L4S",
        "NVIDIA H100 NVL",  # another H100 with another peak (835): absent, so no MFU rather than a wrong one
        "NVIDIA H200 NVL",
        "NVIDIA GH200 480GB",
        "NVIDIA A10",
        "NVIDIA A100",
        "nvidia a10g",
        "Tesla T4",
        "",
    ],
)
def test_unknown_gpu_names_give_no_peak(name: str) -> None:
    assert peak_tflops_for(name) == 0.0
    assert math.isnan(mfu(1000.0, 4.69e10, peak_tflops_for(name)))


def test_metric_definitions_match_metric_lines() -> None:
    definitions = json.loads(METRIC_DEFINITIONS.read_text(encoding="utf-8"))
    assert len({d["Name"] for d in definitions}) == len(definitions)
    values = [1.5e-05, 2.0, 10.158630371, -0.25, 1234567.0, 3e-300, 0.0]
    for d in definitions:
        assert len(d["Regex"]) <= 500 and set(d) == {"Name", "Regex"}
        metric = re.search(r"name=([a-z0-9_]+) ", d["Regex"]).group(1)
        others = [format_metric(o, 7.0, 3) for o in ("train_loss", "tokens_per_second", "tokens_per_second_per_gpu",
                                                       "eval_loss", "learning_rate") if o != metric]  # fmt: skip
        for value in values:
            line = format_metric(metric, value, 12)
            assert METRIC_RE.match(line)
            assert float(re.search(d["Regex"], line).group(1)) == value
            for other in others:  # a regex never picks up another metric's line
                assert re.search(d["Regex"], other) is None, (d, other)
    assert format_metric("learning_rate", 1.5e-05, 10) == "metric name=learning_rate value=1.5e-05 step=10"


def test_base_model_tar_gz_is_extracted_safely(tmp_path: Path, tiny_base_model: Path) -> None:
    env = DistEnv(rank=0, world_size=1, local_rank=0, device=__import__("torch").device("cpu"))
    assert resolve_base_model_dir(tiny_base_model, env) == tiny_base_model
    channel = tmp_path / "base_model"
    channel.mkdir()
    with tarfile.open(channel / "model.tar.gz", "w:gz") as tar:
        for f in sorted(tiny_base_model.iterdir()):
            tar.add(f, arcname=f.name)
    found = resolve_base_model_dir(channel, env)
    assert (found / "config.json").is_file() and (found / "model.safetensors").is_file()

    evil = tmp_path / "evil"
    evil.mkdir()
    with tarfile.open(evil / "model.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 0
        tar.addfile(info)
    with pytest.raises(ModelError, match="outside"):
        resolve_base_model_dir(evil, env)
    assert not (tmp_path / "outside.txt").exists()
    with pytest.raises(ModelError, match=r"no config\.json and 0"):
        resolve_base_model_dir(tmp_path / "evil.extracted", env)


def test_sharded_tokenization_output_loads_in_shard_order(tmp_path) -> None:
    """Tokenize with N instances writes train/shard-0000i-of-0000N/; training reads them as one split."""
    import json

    import numpy as np

    from medllama.train.data import load_split

    split = tmp_path / "train"
    expected = []
    for i in range(2):
        shard = split / f"shard-{i:05d}-of-00002"
        shard.mkdir(parents=True)
        rows = np.arange(i * 40, i * 40 + 24, dtype=np.int32).reshape(3, 8)
        expected.append(rows)
        np.save(shard / "input_ids.npy", rows)
        (shard / "medllama-split.json").write_text(
            json.dumps({"split": "train", "seq_len": 8, "documents": 2, "tokens": 24, "blocks": 3})
        )
    packed = load_split(split, 8, name="train")
    assert len(packed) == 6 and packed.manifest["blocks"] == 6 and packed.manifest["shards"] == 2
    np.testing.assert_array_equal(packed.blocks(np.arange(6)), np.concatenate(expected))
    (split / "shard-00001-of-00002" / "medllama-split.json").write_text(json.dumps({"seq_len": 16}))
    import pytest

    from medllama.train.data import DataError

    with pytest.raises(DataError, match="does not match"):
        load_split(split, 8, name="train")
