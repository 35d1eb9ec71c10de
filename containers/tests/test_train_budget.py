"""A default run that finishes: steps from a token budget, the projected finish against MaxRuntime (cap or fail),
SIGTERM as a save (a real signal to a running step), bounded evaluations, and the method defaults."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from medllama.train.budget import OverrunError, Pace, planned_steps, project
from medllama.train.config import METHOD_DEFAULTS, TrainConfig
from medllama.train.loop import Schedule, eval_subset, initial_eval_size
from medllama.train.smoke import train_argv, write_motif_splits
from medllama.train.stop import PIDS_ENV, merge_fits

REPO = Path(__file__).resolve().parents[2]
SEQ = 32
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, tiny_base_model: Path) -> Path:
    packed = tmp_path_factory.mktemp("budget-data")
    return write_motif_splits(packed, SEQ, {"train": 64, "validation": 40}, base_model=tiny_base_model)


def args(data: Path, base: Path, out: Path, **values: object) -> list[str]:
    common = {"seq_len": SEQ, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "bf16": "false",
              "learning_rate": 5e-3, "logging_steps": 1, "save_steps": 0, "eval_steps": 0}  # fmt: skip
    return train_argv(data, base, out, **{**common, **values})


def summary_of(out: Path) -> dict:
    return json.loads((out / "data" / "training_summary.json").read_text())


# ---- pure arithmetic ---------------------------------------------------------------------------------------------


def test_planned_steps_precedence() -> None:
    assert planned_steps(100, 10**9, 4096, 7) == (100, "max_steps")
    assert planned_steps(-1, 1_000_001, 1000, 7) == (1001, "max_tokens")  # rounded up: at least the budget
    assert planned_steps(-1, 0, 1000, 7) == (7, "num_train_epochs")


def test_pace_leaves_out_the_warm_up_step() -> None:
    """Steps at times 10 (the first: warm-up), 11, 12, ... 19: the pace is 1 s/step, whatever the first cost; a run
    resumed at step 40 paces from step 41 on."""
    pace = Pace(0)
    assert pace.seconds_per_step() == 0.0
    for step, now in [(1, 10.0), *((s, 10.0 + s - 1) for s in range(2, 11))]:
        pace.mark(step, now)
    assert pace.seconds_per_step() == pytest.approx(1.0)
    resumed = Pace(40)
    resumed.mark(41, 100.0)
    assert resumed.seconds_per_step() == 0.0
    resumed.mark(42, 103.0)
    resumed.mark(43, 105.0)
    assert resumed.seconds_per_step() == pytest.approx(2.5)


def test_projection_caps_or_fails() -> None:
    kw = {"done": 10, "seconds_per_step": 2.0, "elapsed": 100.0, "eval_overhead": 0.05, "margin_seconds": 300}
    fits = project(total=100, max_runtime_seconds=10_000, on_overrun="cap", **kw)
    assert fits.capped_to is None and fits.projected_total_seconds == pytest.approx(100 + 90 * 2.1 + 300)
    capped = project(total=10_000, max_runtime_seconds=1000, on_overrun="cap", **kw)
    assert capped.capped_to == 10 + int((1000 - 300 - 100) / 2.1)  # 295 more steps fit
    assert 100 + (capped.capped_to - 10) * 2.1 + 300 <= 1000
    assert project(total=10_000, max_runtime_seconds=0, on_overrun="fail", **kw).capped_to is None  # no limit
    with pytest.raises(OverrunError, match="lower TrainTokens"):
        project(total=10_000, max_runtime_seconds=1000, on_overrun="fail", **kw)
    late = project(total=10_000, max_runtime_seconds=350, on_overrun="cap", **kw)
    assert late.capped_to == 11  # never below one more step


def test_schedule_recomputed_over_the_steps_that_run() -> None:
    s = Schedule("cosine", 0.1, 1000, 0.0)
    assert s.warmup == 100 and s(999) == pytest.approx(0.0, abs=1e-5)
    s.fit_to(200)
    assert s.warmup == 20 and s(199) == pytest.approx(0.0, abs=1e-3) and s(20) == pytest.approx(1.0)


def test_eval_subset_is_seeded_random_and_nested() -> None:
    a = eval_subset(1000, 42, 50)
    assert len(a) == 50 and np.array_equal(a, eval_subset(1000, 42, 50))
    assert not np.array_equal(a, np.arange(50))  # never "the first N in id order"
    assert set(eval_subset(1000, 42, 20)) <= set(a)  # shrinking keeps a subset of the same blocks
    assert len(eval_subset(10, 42, 50)) == 10


def test_initial_eval_size_follows_the_budget() -> None:
    cfg = TrainConfig(eval_steps=200, eval_budget=0.05)
    assert initial_eval_size(cfg, 100_000, 8) == 240  # 0.05 × 200 steps × 8 blocks × 3
    assert initial_eval_size(TrainConfig(eval_steps=200, max_eval_blocks=64), 100_000, 8) == 64
    assert initial_eval_size(cfg, 30, 8) == 30


def test_method_defaults_are_one_table_in_typescript_and_python() -> None:
    ts = (REPO / "pipeline-steps" / "configs" / "train.ts").read_text()
    for method, values in METHOD_DEFAULTS.items():
        m = re.search(
            rf"{method}: \{{ learning_rate: ([0-9.e-]+), adam_beta2: ([0-9.]+), adam_epsilon: ([0-9.e-]+) }}", ts
        )
        assert m, f"no {method} row in METHOD_DEFAULTS of train.ts"
        assert [float(x) for x in m.groups()] == [
            values["learning_rate"],
            values["adam_beta2"],
            values["adam_epsilon"],
        ]
    full = TrainConfig(method="full")
    assert [full.method_value(k) for k in ("learning_rate", "adam_beta2", "adam_epsilon")] == [2e-5, 0.95, 1e-5]
    assert TrainConfig(method="lora").method_value("learning_rate") == 2e-4
    assert TrainConfig(method="full", learning_rate=1e-4, adam_beta2=0.9).method_value("adam_beta2") == 0.9
    assert TrainConfig(method="full", learning_rate=1e-4).method_value("learning_rate") == 1e-4


def test_merge_fits_the_grace_period() -> None:
    assert merge_fits(135_000_000, 100.0)  # SmolLM2: 0.27 GB
    assert not merge_fits(6_738_000_000, 60.0)  # Llama 2 7B with a minute left
    assert merge_fits(6_738_000_000, 110.0)  # 13.5 GB at 200 MB/s + 20 s


# ---- the step -----------------------------------------------------------------------------------------------------


def test_token_budget_sets_the_steps(data: Path, tiny_base_model: Path, tmp_path: Path) -> None:
    from medllama.train import main

    out = tmp_path / "run"
    assert main(args(data, tiny_base_model, out, max_tokens=5 * 2 * SEQ - 1)) == 0
    summary = summary_of(out)
    assert summary["steps"] == 5 and summary["budget"]["decided_by"] == "max_tokens"
    assert summary["tokens_seen"] >= 5 * 2 * SEQ - 1 and summary["stopped_early"] is None


def test_overrun_caps_the_steps_and_the_schedule(data: Path, tiny_base_model: Path, tmp_path: Path) -> None:
    """10,000 planned steps cannot end in a 20 s MaxRuntime: after its probe the step caps itself, and the learning
    rate decays to its minimum over the steps that run."""
    from medllama.train import main

    out = tmp_path / "run"
    values = {"max_steps": 10_000, "max_runtime_seconds": 20, "runtime_margin_seconds": 5, "min_lr_ratio": 0.1}
    assert main(args(data, tiny_base_model, out, **values)) == 0
    summary = summary_of(out)
    projection = summary["budget"]["projection"]
    assert 11 <= summary["steps"] == projection["capped_to"] < 10_000 == projection["total"]
    assert projection["seconds_per_step"] > 0  # measured over steps 2-10 (the pace of a real step, not of none)
    assert summary["total_steps"] == summary["steps"] and summary["stopped_early"] is None
    lrs = [json.loads(line) for line in (out / "data" / "metrics.jsonl").read_text().splitlines()]
    last_lr = [m["value"] for m in lrs if m["name"] == "learning_rate"][-1]
    assert last_lr < 0.2 * 5e-3  # the end of the decay, not the middle of a 10,000-step cosine


def test_overrun_fails_before_the_money_is_spent(
    data: Path, tiny_base_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from medllama.train import main

    values = {"max_steps": 10_000, "max_runtime_seconds": 20, "runtime_margin_seconds": 5, "on_overrun": "fail"}
    assert main(args(data, tiny_base_model, tmp_path / "run", **values)) == 2
    assert "past the job's MaxRuntime" in caplog.text and "lower TrainTokens" in caplog.text
    assert not (tmp_path / "run" / "model" / "model.safetensors").exists()


def test_sigterm_saves_a_checkpoint_and_a_usable_model(data: Path, tiny_base_model: Path, tmp_path: Path) -> None:
    """A real SIGTERM to the running step (what SageMaker sends at MaxRuntime, a spot interruption or a stop): it
    stops within the grace period with exit 0, a checkpoint at the step it reached, the adapter and the merged
    model, and a summary that says why it stopped."""
    out = tmp_path / "run"
    pids = tmp_path / "pids"
    cmd = [sys.executable, "-m", "medllama.train", *args(data, tiny_base_model, out, max_steps=100_000)]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**ENV, PIDS_ENV: str(pids)}, stdout=subprocess.PIPE, text=True)
    seen = 0
    deadline = time.monotonic() + 240
    while seen < 3:  # a few optimizer steps, so the model is loaded and training
        line = proc.stdout.readline()
        assert line or proc.poll() is None, "the step ended before it was signalled"
        seen += line.startswith("metric name=train_loss")
        assert time.monotonic() < deadline, "no training steps within 240 s"
    assert (pids / f"{proc.pid}.pid").read_text().strip() == str(proc.pid)  # registered for the relay
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.stdout.read()
    assert proc.wait(timeout=120) == 0
    assert time.monotonic() - signalled < 120
    summary = summary_of(out)
    stopped = summary["stopped_early"]
    assert stopped["reason"].startswith("SIGTERM") and stopped["planned_steps"] == 100_000
    assert stopped["model"] == "merged model and adapter" and summary["steps"] == stopped["at_step"] >= 3
    assert (out / "model" / "adapter" / "adapter_config.json").is_file()
    assert (out / "model" / "model.safetensors").is_file() and (out / "model" / "tokenizer.json").is_file()
    assert (out / "checkpoints" / f"step-{stopped['at_step']:08d}").is_dir()
    assert not list(pids.iterdir())  # unregistered on the way out
