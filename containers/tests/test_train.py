"""medllama.train end to end on the tiny Llama model (CPU): learning, outputs, merge, resume, DDP, bench."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_train_config import METRIC_DEFINITIONS

from medllama.resources import repo_root
from medllama.train import main
from medllama.train.checkpoint import list_checkpoints, newest_valid, validate
from medllama.train.smoke import train_argv, wait_for_first_checkpoint, write_motif_splits

pytestmark = pytest.mark.slow
SEQ = 64
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, tiny_base_model: Path) -> Path:
    """Repetitive packed blocks: a 16-token motif at random phases, so a model can learn it quickly."""
    packed = tmp_path_factory.mktemp("packed")
    return write_motif_splits(packed, SEQ, {"train": 48, "validation": 6}, base_model=tiny_base_model)


def args_for(data: Path, base: Path, out: Path, **overrides: object) -> list[str]:
    values: dict[str, object] = {
        "seq_len": SEQ, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 2, "learning_rate": 5e-3,
        "warmup_ratio": 0.1, "logging_steps": 5, "eval_steps": 10, "save_steps": 10, "save_total_limit": 3,
        "bf16": "false", "max_steps": 30,
    }  # fmt: skip
    return train_argv(data, base, out, **{**values, **overrides})


def metric_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("metric name=")]


@pytest.fixture(scope="module")
def lora_run(data_dir: Path, tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("lora")
    capture = out / "stdout.txt"
    # Run in a subprocess so the real stdout (what CloudWatch sees) is captured.
    cmd = [sys.executable, "-m", "medllama.train", *args_for(data_dir, tiny_base_model, out)]
    # ...and tracked in an MLflow file store, as the local runner does (medllama/tracking.py).
    mlflow_env = {
        "MLFLOW_TRACKING_URI": (out / "mlruns").as_uri(), "MLFLOW_ALLOW_FILE_STORE": "true",
        "MLFLOW_EXPERIMENT_NAME": "MedLlama", "MEDLLAMA_MLFLOW_RUN_NAME": "execution-1",
    }  # fmt: skip
    proc = subprocess.run(cmd, env={**ENV, **mlflow_env}, capture_output=True, text=True, timeout=300)
    capture.write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "data" / "training_summary.json").read_text())
    return {"out": out, "stdout": proc.stdout, "summary": summary}


def metric_values(stdout: str, name: str) -> list[float]:
    return [float(m.group(1)) for m in re.finditer(rf"^metric name={name} value=(\S+) step=\d+$", stdout, re.M)]


def test_lora_loss_falls_and_summary_is_complete(lora_run: dict) -> None:
    losses = metric_values(lora_run["stdout"], "train_loss")
    evals = metric_values(lora_run["stdout"], "eval_loss")
    assert len(losses) == 6 and len(evals) == 3  # logging every 5 of 30 steps; eval at 10, 20 and the end
    assert losses[-1] < losses[0] - 1.0, losses
    assert evals[-1] < evals[0], evals
    s = lora_run["summary"]
    assert s["steps"] == 30 and s["tokens_seen"] == 30 * 4 * SEQ and s["method"] == "lora"
    assert s["final_eval_loss"] == pytest.approx(evals[-1]) and s["final_train_loss"] == pytest.approx(losses[-1])
    assert s["tokens_per_second"] > 0 and s["wall_time_seconds"] > 0 and s["mfu"] is None  # CPU: peak unknown
    assert 0 < s["n_trainable_params"] < s["n_params"]
    assert s["eval_blocks"] == 6  # max_eval_blocks 0: the final evaluation takes the whole validation split
    assert s["base_model"]["name"].startswith("tiny-llama") and s["base_model"]["random_init"] is True
    assert (lora_run["out"] / "model" / "training_summary.json").is_file()
    assert (lora_run["out"] / "model" / "medllama-base-model.json").is_file()  # the tuned folder names its base
    versions = re.search(r"versions: (.*)", lora_run["stdout"]).group(1)
    assert "torch==" in versions and "transformers==" in versions and "peft==" in versions


def test_rank_0_logs_every_metric_line_to_mlflow_with_its_step(
    lora_run: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.MlflowClient(tracking_uri=(lora_run["out"] / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("MedLlama").experiment_id])
    assert run.info.run_name == "execution-1" and run.info.status == "FINISHED"
    assert run.data.params["train.learning_rate"] == "0.005" and run.data.params["train.method"] == "lora"
    for name in ("train_loss", "learning_rate", "tokens_per_second", "eval_loss"):
        lines = re.findall(rf"^metric name={name} value=(\S+) step=(\d+)$", lora_run["stdout"], re.M)
        history = client.get_metric_history(run.info.run_id, name)
        assert lines and [(m.step, m.value) for m in history] == [(int(s), float(v)) for v, s in lines], name
    assert run.data.metrics["summary.final_train_loss"] == lora_run["summary"]["final_train_loss"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "train")}
    assert artifacts == {"train/training_summary.json", "train/metrics.jsonl"}


def test_max_eval_blocks_caps_the_final_evaluation(data_dir: Path, tiny_base_model: Path, tmp_path: Path) -> None:
    argv = args_for(data_dir, tiny_base_model, tmp_path, max_steps=2, max_eval_blocks=2, save_steps=0)
    proc = subprocess.run([sys.executable, "-m", "medllama.train", *argv], env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "data" / "training_summary.json").read_text())["eval_blocks"] == 2


def test_replay_is_mixed_and_the_realized_share_is_logged(tiny_base_model: Path, tmp_path: Path) -> None:
    """A replay split beside train: the summary records the requested and realized mix, computed from the blocks
    the steps read (whole epochs here, so exactly replay_fraction)."""
    data = write_motif_splits(
        tmp_path / "d", SEQ, {"train": 36, "validation": 2, "replay": 5}, base_model=tiny_base_model
    )
    argv = args_for(data, tiny_base_model, tmp_path, max_steps=10, save_steps=0, eval_steps=0, replay_fraction=0.1)
    argv += ["--replay_dir", str(data / "replay")]
    proc = subprocess.run([sys.executable, "-m", "medllama.train", *argv], env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    replay = json.loads((tmp_path / "data" / "training_summary.json").read_text())["replay"]
    assert replay["replay_blocks_per_epoch"] == 4 and replay["domain_blocks"] == 36
    assert replay["blocks_read"] == 40 and replay["replay_blocks_read"] == 4 and replay["realized_fraction"] == 0.1
    assert "realized fraction 0.1, requested 0.1" in proc.stdout + proc.stderr


def test_metric_regexes_match_real_log_lines(lora_run: dict) -> None:
    lines = metric_lines(lora_run["stdout"])
    definitions = json.loads(METRIC_DEFINITIONS.read_text())
    found = set()
    for d in definitions:
        for line in lines:
            m = re.search(d["Regex"], line)
            if m:
                found.add(d["Name"])
                name = line.split()[1].removeprefix("name=")
                assert float(m.group(1)) == float(line.split()[2].removeprefix("value=")), (d, line)
                assert d["Regex"].startswith(f"metric name={name} "), (d, line)
    # every metric but MFU (needs a known peak; covered in test_train_config) appears in real output
    assert found == {d["Name"] for d in definitions} - {"train:mfu"}
    lr = metric_values(lora_run["stdout"], "learning_rate")
    assert any("e-" in line for line in lines if "learning_rate" in line) or min(lr) > 1e-4
    jsonl = [json.loads(x) for x in (lora_run["out"] / "data" / "metrics.jsonl").read_text().splitlines()]
    assert len(jsonl) == len(lines)


def test_output_loads_generates_and_equals_base_plus_lora_delta(lora_run: dict, tiny_base_model: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = lora_run["out"] / "model"
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    ids = tok("Metformin lowers hepatic glucose output.", return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 4

    merged = model.state_dict()
    base = load_file(str(tiny_base_model / "model.safetensors"))
    adapter = load_file(str(model_dir / "adapter" / "adapter_model.safetensors"))
    cfg = json.loads((model_dir / "adapter" / "adapter_config.json").read_text())
    scale = cfg["lora_alpha"] / cfg["r"]
    changed = 0
    for key, w in base.items():
        prefix = "base_model.model." + key.removesuffix(".weight")
        a, b = adapter.get(prefix + ".lora_A.weight"), adapter.get(prefix + ".lora_B.weight")
        expected = w if a is None else w + scale * (b @ a)
        torch.testing.assert_close(merged[key], expected, rtol=1e-5, atol=1e-6)
        changed += a is not None and not torch.equal(merged[key], w)
    assert changed == 2 * 7  # every linear layer of both decoder layers


def test_corrupt_and_partial_checkpoints_are_skipped(lora_run: dict, tiny_base_model: Path, data_dir: Path,
                                                     tmp_path: Path) -> None:  # fmt: skip
    ckpts = tmp_path / "run" / "checkpoints"
    shutil.copytree(lora_run["out"] / "checkpoints", ckpts)
    assert [s for s, _ in list_checkpoints(ckpts)] == [30, 20, 10]
    # the newest is truncated (as after an interrupted upload); a partial write has no marker
    newest = ckpts / "step-00000030" / "trainable.safetensors"
    newest.write_bytes(newest.read_bytes()[:100])
    partial = ckpts / "step-00000040"
    shutil.copytree(ckpts / "step-00000010", partial)
    (partial / "complete-0.json").unlink()
    assert "marker" in validate(partial) and "bytes" in validate(ckpts / "step-00000030")
    assert newest_valid(ckpts)[0] == 20
    assert main(args_for(data_dir, tiny_base_model, tmp_path / "run", max_steps=32)) == 0
    summary = json.loads((tmp_path / "run" / "data" / "training_summary.json").read_text())
    assert summary["resumed_from_step"] == 20 and summary["steps"] == 32 and summary["tokens_this_run"] == 12 * 4 * SEQ


def adapter_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / "adapter" / "adapter_model.safetensors"))


def test_kill_and_resume_gives_the_same_weights(data_dir: Path, tiny_base_model: Path, tmp_path: Path) -> None:
    common = {"max_steps": 24, "save_steps": 3, "eval_steps": 0, "logging_steps": 4, "lora_dropout": 0.1,
              "gradient_accumulation_steps": 1}  # fmt: skip
    assert main(args_for(data_dir, tiny_base_model, tmp_path / "ref", **common)) == 0

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "medllama.train", *args_for(data_dir, tiny_base_model, out, **common)]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_first_checkpoint(proc, out / "checkpoints", 120)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "model").exists()
    first = list_checkpoints(out / "checkpoints")[0][0]
    assert first < 24

    assert main(args_for(data_dir, tiny_base_model, out, **common)) == 0
    summary = json.loads((out / "data" / "training_summary.json").read_text())
    assert summary["resumed_from_step"] is not None and 3 <= summary["resumed_from_step"] < 24
    assert summary["steps"] == 24 and summary["tokens_seen"] == 24 * 2 * SEQ
    ref, resumed = adapter_weights(tmp_path / "ref" / "model"), adapter_weights(out / "model")
    assert ref.keys() == resumed.keys()
    for key in ref:
        # equal up to float summation order (the killed run used 1 thread, this process may use more)
        torch.testing.assert_close(resumed[key], ref[key], rtol=1e-4, atol=1e-6)


def test_torchrun_two_process_ddp_lora_equals_one_process(data_dir: Path, tiny_base_model: Path,
                                                          tmp_path: Path) -> None:  # fmt: skip
    common = {"max_steps": 6, "save_steps": 3, "eval_steps": 3, "logging_steps": 3, "lora_dropout": 0.0,
              "per_device_train_batch_size": 1}  # fmt: skip
    ddp = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "medllama.train",
           *args_for(data_dir, tiny_base_model, tmp_path / "ddp", gradient_accumulation_steps=2, **common)]  # fmt: skip
    proc = subprocess.run(ddp, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(metric_values(proc.stdout, "train_loss")) == 2  # only rank 0 prints
    summary = json.loads((tmp_path / "ddp" / "data" / "training_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_batch_blocks"] == 4 and summary["steps"] == 6

    # one process reading the same 4 blocks per step (1 × 4 accumulation) computes the same update
    assert main(args_for(data_dir, tiny_base_model, tmp_path / "one", gradient_accumulation_steps=4, **common)) == 0
    one, two = adapter_weights(tmp_path / "one" / "model"), adapter_weights(tmp_path / "ddp" / "model")
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-6)


def test_full_fine_tune_single_process(data_dir: Path, tiny_base_model: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    # bf16 requested but no GPU: training runs in fp32, and the saved weights are the fp32 ones it trained.
    assert main(args_for(data_dir, tiny_base_model, tmp_path, method="full", learning_rate=1e-3, max_steps=10,
                         save_steps=5, eval_steps=0, gradient_checkpointing="false", bf16="true")) == 0  # fmt: skip
    summary = json.loads((tmp_path / "data" / "training_summary.json").read_text())
    assert summary["n_trainable_params"] == summary["n_params"] and summary["final_eval_loss"] is not None
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "model")
    base = load_file(str(tiny_base_model / "model.safetensors"))
    assert not torch.equal(
        model.state_dict()["model.layers.0.mlp.up_proj.weight"], base["model.layers.0.mlp.up_proj.weight"]
    )
    assert not (tmp_path / "model" / "adapter").exists()
    saved = load_file(str(tmp_path / "model" / "model.safetensors"))
    assert {t.dtype for t in saved.values()} == {torch.float32}


def test_bench_tiny_runs_on_cpu() -> None:
    bench = repo_root() / "bench" / "train_throughput.py"
    cmd = [sys.executable, str(bench), "--tiny", "--steps", "2", "--warmup", "1", "--micro_batch", "1",
           "--checkpointing", "on", "off", "--peak_tflops", "1"]  # fmt: skip
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("bench ")]
    assert len(lines) == 2
    for line in lines:
        tps = float(re.search(r"tokens_per_second_per_gpu=([0-9.]+)", line).group(1))
        mfu = float(re.search(r" mfu=([0-9.]+)", line).group(1))
        assert tps > 0 and mfu > 0


def test_gradient_checkpointing_gives_the_same_lora_gradients(tiny_base_model: Path) -> None:
    # What the GPU path enables (build_model on CUDA): recomputed activations must give the gradients kept ones do,
    # with LoRA's frozen inputs (non-reentrant checkpointing needs no enable_input_require_grads).
    from transformers import AutoModelForCausalLM

    from medllama.train.model import add_lora, enable_gradient_checkpointing

    targets = ["q_proj", "v_proj", "down_proj"]
    batch = torch.randint(3, 32000, (2, 24), generator=torch.Generator().manual_seed(1))

    def lora_grads(checkpointing: bool) -> dict[str, torch.Tensor]:
        base = AutoModelForCausalLM.from_pretrained(tiny_base_model, dtype=torch.float32, attn_implementation="sdpa")
        base.config.use_cache = False
        if checkpointing:
            enable_gradient_checkpointing(base)
        model = add_lora(base, 4, 8, 0.0, targets, seed=0)
        model.train()
        assert base.is_gradient_checkpointing is checkpointing
        for name, p in model.named_parameters():  # B starts at zero: give it values so A gets a gradient too
            if "lora_B" in name:
                torch.nn.init.normal_(p, std=0.02, generator=torch.Generator().manual_seed(len(name)))
        model(input_ids=batch, labels=batch).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    kept, recomputed = lora_grads(False), lora_grads(True)
    assert kept.keys() == recomputed.keys() and len(kept) == 2 * len(targets) * 2  # A and B, 2 layers
    for name, grad in kept.items():
        assert grad.abs().sum() > 0, name
        torch.testing.assert_close(recomputed[name], grad, rtol=1e-5, atol=1e-7)


def test_on_cpu_gradient_checkpointing_is_off(tiny_base_model: Path) -> None:
    from medllama.train.config import TrainConfig
    from medllama.train.distributed import DistEnv
    from medllama.train.model import build_model

    cfg = TrainConfig(gradient_checkpointing=True, bf16=False)
    bundle = build_model(cfg, tiny_base_model, DistEnv(rank=0, world_size=1, local_rank=0, device=torch.device("cpu")))
    assert not bundle.inner.base_model.model.is_gradient_checkpointing
