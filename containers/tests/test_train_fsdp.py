"""Full fine-tuning with FSDP2 across 2 CPU processes (torchrun + gloo) on the tiny Llama model.

What runs here is the code path of the GPU job (``fully_shard`` per decoder layer + root, DTensor
parameters, reduce-scatter, DCP sharded checkpoints, full-state-dict gathering to rank 0). The training runs
are fp32; the bf16 mixed-precision policy is checked on its own (one forward/backward, 2 processes). NCCL and
bf16 training numerics need GPUs (docs/training.md lists what that leaves unverified).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from medllama.train import main
from medllama.train.checkpoint import list_checkpoints, validate
from medllama.train.smoke import train_argv, wait_for_first_checkpoint, write_motif_splits

pytestmark = pytest.mark.slow
SEQ = 32
STEPS = 8
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
TORCHRUN = [
    sys.executable,
    "-m",
    "torch.distributed.run",
    "--standalone",
    "--nproc_per_node",
    "2",
    "-m",
    "medllama.train",
]
# FSDP vs one process: the same global batch, gradients summed in another order (reduce-scatter of two
# per-rank means vs four accumulated micro-steps), so the weights agree to float32 rounding, amplified by
# AdamW where a gradient is near 0 (m / sqrt(v) of a tiny, noisy gradient). Measured on this CPU after 8
# steps: ‖Δ‖ / ‖update‖ ≤ 7e-6 for every tensor, and a few single elements differ by up to 4e-6 when the
# largest update is 1.4e-2 (3e-4 of it). Bounds: 1e-4 of the update norm-wise, 1e-2 of the largest update
# element-wise, i.e. ≥ 14× the measured differences, and ≥ 100× below the update itself.
REL_UPDATE_NORM, REL_UPDATE_MAX = 1e-4, 1e-2


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, tiny_base_model: Path) -> Path:
    """Packed blocks of a repeated 16-token motif at random phases (learnable in a few steps)."""
    packed = tmp_path_factory.mktemp("packed-fsdp")
    return write_motif_splits(packed, SEQ, {"train": 48, "validation": 4}, base_model=tiny_base_model, seed=1)


def args_for(data: Path, base: Path, out: Path, **overrides: object) -> list[str]:
    values: dict[str, object] = {
        "method": "full", "seq_len": SEQ, "per_device_train_batch_size": 1, "gradient_accumulation_steps": 2,
        "learning_rate": 3e-3, "warmup_ratio": 0.1, "logging_steps": 2, "eval_steps": 4, "save_steps": 2,
        "save_total_limit": 2, "bf16": "false", "max_steps": STEPS,
    }  # fmt: skip
    return train_argv(data, base, out, **{**values, **overrides})


def metric_values(stdout: str, name: str) -> list[float]:
    return [float(m.group(1)) for m in re.finditer(rf"^metric name={name} value=(\S+) step=\d+$", stdout, re.M)]


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "model" / "model.safetensors"))


def assert_same_weights(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], base: dict) -> None:
    """``got`` equals ``want`` up to a small fraction of the training update ``want - base`` (see above)."""
    assert got.keys() == want.keys() == base.keys()
    for key in want:
        update, diff = want[key] - base[key], got[key] - want[key]
        assert update.abs().max() > 1e-3, f"{key} did not train"
        assert diff.norm() <= REL_UPDATE_NORM * update.norm(), f"{key}: ‖Δ‖ {diff.norm():.3g} vs {update.norm():.3g}"
        assert diff.abs().max() <= REL_UPDATE_MAX * update.abs().max(), f"{key}: max |Δ| {diff.abs().max():.3g}"


@pytest.fixture(scope="module")
def fsdp_run(data_dir: Path, tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("fsdp")
    proc = subprocess.run(
        [*TORCHRUN, *args_for(data_dir, tiny_base_model, out)], env=ENV, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "data" / "training_summary.json").read_text())
    return {"out": out, "stdout": proc.stdout, "summary": summary}


def test_fsdp_full_fine_tune_learns_and_the_model_generates(fsdp_run: dict, data_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    losses = metric_values(fsdp_run["stdout"], "train_loss")
    assert len(losses) == STEPS // 2  # logging every 2 steps, printed by rank 0 only
    assert losses[-1] < losses[0] - 0.5 and all(b < a for a, b in itertools.pairwise(losses)), losses
    evals = metric_values(fsdp_run["stdout"], "eval_loss")
    assert len(evals) == 2 and evals[-1] < evals[0], evals
    s = fsdp_run["summary"]
    assert s["method"] == "full" and s["world_size"] == 2 and s["steps"] == STEPS
    assert s["global_batch_blocks"] == 4 and s["tokens_seen"] == STEPS * 4 * SEQ
    assert s["n_trainable_params"] == s["n_params"] and s["final_eval_loss"] == pytest.approx(evals[-1])
    assert len(metric_values(fsdp_run["stdout"], "grad_norm")) == STEPS // 2

    model_dir = fsdp_run["out"] / "model"
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert model.dtype == torch.float32
    ids = tok("Metformin lowers hepatic glucose output.", return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 4
    # the loaded model reproduces the run's final eval loss: what was saved is what was trained
    blocks = torch.from_numpy(np.load(data_dir / "validation" / "input_ids.npy").astype(np.int64))
    with torch.no_grad():
        loss = model(input_ids=blocks, labels=blocks).loss.item()
    assert loss == pytest.approx(fsdp_run["summary"]["final_eval_loss"], rel=1e-5)


def test_saved_weights_are_the_full_gathered_state_dict(fsdp_run: dict, tiny_base_model: Path) -> None:
    model_dir = fsdp_run["out"] / "model"
    files = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*"))
    assert files == [
        "config.json",
        "generation_config.json",
        "medllama-base-model.json",  # the tuned folder names its base model
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "training_summary.json",
    ]  # fmt: skip  (no dcp/, *.distcp, .metadata or per-rank files)
    base, got = load_file(str(tiny_base_model / "model.safetensors")), weights(fsdp_run["out"])
    assert got.keys() == base.keys()  # plain HF names: no FSDP prefixes, nothing missing
    for key, w in base.items():
        assert got[key].shape == w.shape and got[key].dtype == torch.float32, key  # whole tensors, not shards
        assert not torch.equal(got[key], w), f"{key} did not train"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["use_cache"] is True and config["num_hidden_layers"] == 2


def test_fsdp_equals_one_process_reading_the_same_global_batches(fsdp_run: dict, data_dir: Path,
                                                                 tiny_base_model: Path, tmp_path: Path) -> None:  # fmt: skip
    # one process, 4 accumulation micro-steps of 1 block = the 2 ranks × 2 micro-steps' 4 blocks of each step
    assert main(args_for(data_dir, tiny_base_model, tmp_path, gradient_accumulation_steps=4, save_steps=0)) == 0
    one = json.loads((tmp_path / "data" / "training_summary.json").read_text())
    assert one["world_size"] == 1 and one["global_batch_blocks"] == fsdp_run["summary"]["global_batch_blocks"]
    assert fsdp_run["summary"]["final_train_loss"] == pytest.approx(one["final_train_loss"], rel=1e-5)
    assert fsdp_run["summary"]["final_eval_loss"] == pytest.approx(one["final_eval_loss"], rel=1e-5)
    # every logged loss, learning rate and pre-clipping gradient norm agrees (the norm catches a
    # sum-instead-of-mean reduction, to which clipped AdamW updates are blind). Measured: losses ≤ 1e-7
    # relative; norms ≤ 1.4e-5 (they see the AdamW-amplified weight differences of the earlier steps).
    rel = {"train_loss": 1e-5, "eval_loss": 1e-5, "eval_perplexity": 1e-5, "learning_rate": 1e-12, "grad_norm": 1e-4}
    two_m, one_m = (
        {(r["name"], r["step"]): r["value"] for r in map(json.loads, (out / "data" / "metrics.jsonl").open())}
        for out in (fsdp_run["out"], tmp_path)
    )
    assert two_m.keys() == one_m.keys()
    compared = [k for k in one_m if k[0] in rel]
    assert len(compared) == 3 * STEPS // 2 + 2 * 2
    for key in compared:
        assert two_m[key] == pytest.approx(one_m[key], rel=rel[key[0]]), key
    base = load_file(str(tiny_base_model / "model.safetensors"))
    assert_same_weights(weights(fsdp_run["out"]), weights(tmp_path), base)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_fsdp_kill_and_resume_gives_the_same_weights(fsdp_run: dict, data_dir: Path, tiny_base_model: Path,
                                                     tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "killed"
    cmd = [*TORCHRUN, *args_for(data_dir, tiny_base_model, out)]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_first_checkpoint(proc, out / "checkpoints", 180)
        # SIGKILL the workers (torchrun starts each in its own session) and the launcher: a lost instance
        workers = _children(proc.pid)
        assert len(workers) == 2, workers
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "model").exists()
    step, first = list_checkpoints(out / "checkpoints")[-1]
    assert step < STEPS and validate(first) is None
    shards = sorted(p.name for p in (first / "dcp").iterdir())
    assert shards == [".metadata", "__0_0.distcp", "__1_0.distcp"]  # each rank wrote its own shard
    marker = json.loads((first / "complete-0.json").read_text())
    assert {"dcp/__0_0.distcp", "dcp/__1_0.distcp", "trainer_state.json"} <= set(marker["files"])

    proc2 = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc2.returncode == 0, proc2.stdout[-3000:] + proc2.stderr[-3000:]
    summary = json.loads((out / "data" / "training_summary.json").read_text())
    assert summary["resumed_from_step"] is not None and 2 <= summary["resumed_from_step"] < STEPS
    assert summary["steps"] == STEPS and summary["tokens_seen"] == STEPS * 4 * SEQ
    assert summary["tokens_this_run"] == (STEPS - summary["resumed_from_step"]) * 4 * SEQ
    base = load_file(str(tiny_base_model / "model.safetensors"))
    # same processes, threads and batches as the uninterrupted run: weights, AdamW moments and the LR
    # schedule all come back from the checkpoint, so only float noise may differ
    assert_same_weights(weights(out), weights(fsdp_run["out"]), base)
    assert summary["final_eval_loss"] == pytest.approx(fsdp_run["summary"]["final_eval_loss"], rel=1e-5)


def test_bf16_mixed_precision_policy_on_two_cpu_processes(tiny_base_model: Path) -> None:
    """The GPU precision setup (bf16 all-gather and compute, fp32 shards, gradients and reductions) runs on
    gloo too: this runs ``shard_model(bf16=True)`` and one forward/backward in 2 processes."""
    cmd = [*TORCHRUN[:-2], __file__, str(tiny_base_model)]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(re.findall(r"^bf16-ok rank=(\d)$", proc.stdout, re.M)) == ["0", "1"], proc.stdout[-2000:]


def _bf16_worker(base_dir: str) -> None:
    """Run by torchrun from the test above (each rank asserts; a failed assertion fails the launch)."""
    import torch.distributed as dist
    from torch.distributed.tensor import DTensor, Shard
    from transformers import AutoModelForCausalLM

    from medllama.train.distributed import barrier, cleanup, init_distributed
    from medllama.train.fsdp import clip_grad_norm, full_state_dict, shard_model

    env = init_distributed()
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    up = model.model.layers[0].mlp.up_proj
    seen: list[torch.dtype] = []
    up.register_forward_hook(lambda m, i, o: seen.extend([m.weight.dtype, o.dtype]))
    shard_model(model, type(model.model.layers[0]), env, bf16=True)
    w = up.weight
    assert isinstance(w, DTensor) and w.placements == (Shard(0),) and w.dtype == torch.float32
    assert w.to_local().shape[0] == up.out_features // 2  # each rank holds half the rows
    ids = torch.randint(3, 32000, (1, 16), generator=torch.Generator().manual_seed(env.rank))
    model(input_ids=ids, labels=ids).loss.backward()
    assert seen[:2] == [torch.bfloat16, torch.bfloat16], seen  # gathered weights and compute in bf16
    assert isinstance(w.grad, DTensor) and w.grad.dtype == torch.float32 and w.grad.placements == (Shard(0),)
    norm = clip_grad_norm(list(model.parameters()), 1.0)
    both = [torch.zeros(()) for _ in range(2)]
    dist.all_gather(both, norm.detach().float())
    assert torch.isfinite(norm) and torch.equal(both[0], both[1]), both  # one global norm
    full = full_state_dict(model)
    if env.is_main:  # fp32 masters, gathered whole, untouched by the bf16 copies
        assert full.keys() == before.keys() and all(torch.equal(full[k], before[k]) for k in before)
    else:
        assert full == {}
    print(f"bf16-ok rank={env.rank}", flush=True)
    barrier(env)  # as the training step does: no rank tears the group down while its peer still uses it
    cleanup(env)


if __name__ == "__main__":
    _bf16_worker(sys.argv[1])
