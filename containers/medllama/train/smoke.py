"""Small end-to-end runs of the training step: learnable packed data and the step's command line.

Used by the CPU tests (tests/test_train*.py) and by the GPU check (bench/gpu_check.py), so that both run the
step the same way. The data is a 16-token motif repeated at random phases: a tiny model learns it in a few
dozen steps, so "the loss falls" is a real check.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np

from medllama.train.checkpoint import list_checkpoints
from medllama.train.data import write_npy_split


def write_motif_splits(
    root: str | Path, seq_len: int, sizes: dict[str, int], *, base_model: str | Path, seed: int = 0
) -> Path:
    """Writes one packed split per ``sizes`` entry (name -> blocks of ``seq_len`` tokens) under ``root``, recorded
    as made with ``base_model``'s tokenizer (a folder with tokenizer.json), as the tokenization step would."""
    from medllama.tokenizer import load_base_tokenizer

    identity = load_base_tokenizer(base_model).identity.as_manifest()
    root = Path(root)
    rng = np.random.default_rng(seed)
    stream = np.tile(rng.integers(3, 32000, size=16), seq_len)
    for split, n in sizes.items():
        rows = np.stack([stream[s : s + seq_len] for s in rng.integers(0, 16, size=n)])
        write_npy_split(root / split, rows, tokenizer=identity)
    return root


def train_argv(data: str | Path, base: str | Path, out: str | Path, **values: object) -> list[str]:
    """``python -m medllama.train`` arguments: the train/validation splits under ``data``, the base model, every
    output under ``out`` (model, checkpoints, data), then ``values`` as ``--name value``."""
    data, out = Path(data), Path(out)
    paths = {"train_dir": data / "train", "validation_dir": data / "validation", "base_model_dir": base,
             "model_dir": out / "model", "checkpoint_dir": out / "checkpoints", "output_data_dir": out / "data"}  # fmt: skip
    return [part for k, v in {**paths, **values}.items() for part in (f"--{k}", str(v))]


def wait_for_first_checkpoint(proc: subprocess.Popen, checkpoint_dir: str | Path, timeout: float) -> None:
    """Returns once the running step ``proc`` has written a checkpoint (to kill it there, as a lost instance
    would be); fails if the run ends or ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not list_checkpoints(Path(checkpoint_dir)):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("no checkpoint before the run ended")
        time.sleep(0.01)
