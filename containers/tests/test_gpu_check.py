"""bench/gpu_check.py, the one prepared command for a lent GPU, runs its parts on CPU here (fp32, tiny shapes),
so a device session spends its minutes on the GPU and not on the script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medllama.resources import repo_root

pytestmark = pytest.mark.slow


def test_gpu_check_parts_run_on_cpu(tmp_path: Path, tiny_base_model: Path) -> None:  # (fixture: tokenizer present)
    script = repo_root() / "bench" / "gpu_check.py"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    # train_full is skipped here: it is the same run_train with method=full, which test_train / test_train_fsdp
    # hold on CPU; the parts left still exercise every piece of the script's own plumbing
    proc = subprocess.run([sys.executable, str(script), "--cpu", "--out", str(tmp_path), "--skip", "train_full"],
                          env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "gpu-check.json").read_text())
    assert report["mode"] == "cpu" and report["environment"]["torch"]
    assert report["train_lora"]["ok"] and report["train_lora"]["loss_fell"], report["train_lora"]
    assert "model.safetensors" in report["train_lora"]["model_files"]
    assert report["train_lora"]["method"] == "lora" and "train_full" not in report
    resume = report["resume"]
    assert resume["ok"] and resume["again"]["resumed_from_step"] == 10 and resume["again"]["steps"] == 20
    result = next(r for r in report["throughput"]["results"] if r["checkpointing"])
    assert result["tokens_per_second_per_gpu"] > 0 and result["shape"] == "tiny"
    assert "gpu_check done: all parts ran" in proc.stdout
