"""Packed token blocks from the tokenization step, and the deterministic order they are read in.

A split folder is what ``datasets.Dataset.save_to_disk`` wrote (one ``input_ids`` column, every row exactly
``seq_len`` tokens) plus ``medllama-split.json`` (DESIGN §4.4). The Arrow files are memory-mapped, so a
45B-token split costs no RAM. The order of the blocks is a pure function of ``(seed, epoch)``: optimizer
step ``s`` always reads the same blocks, on any restart, which is what makes resume exact without any
data-loader state in the checkpoint.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

SPLIT_MANIFEST = "medllama-split.json"


class DataError(ValueError):
    """The packed data is missing or does not match the configuration."""


NPY_FILE = "input_ids.npy"


@dataclass
class PackedSplit:
    path: Path
    manifest: dict
    rows: object  # a numpy-format datasets.Dataset, or a memory-mapped (n, seq_len) array

    def __len__(self) -> int:
        return len(self.rows)

    def blocks(self, indices: np.ndarray) -> np.ndarray:
        """Rows ``indices`` as an int64 array of shape (len(indices), seq_len), in the given order."""
        if isinstance(self.rows, np.ndarray):
            return np.asarray(self.rows[np.asarray(indices, dtype=np.int64)], dtype=np.int64)
        return np.asarray(self.rows[[int(i) for i in indices]]["input_ids"], dtype=np.int64)


def write_npy_split(
    folder: str | Path, rows: np.ndarray, *, tokenizer: dict | None, seq_len: int | None = None
) -> Path:
    """Writes token blocks (blocks x seq_len) as a split in the ``input_ids.npy`` form :func:`load_split` reads:
    for tests, benchmarks and the GPU check (the tokenization step writes Arrow). ``tokenizer`` is the identity the
    rows were made for (``TokenizerIdentity.as_manifest()``; None records none, which Train refuses); ``seq_len``
    overrides the manifest's value (to test the mismatch check)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / NPY_FILE, rows.astype(np.int32))
    manifest = {"split": folder.name, "seq_len": seq_len or rows.shape[1], "documents": len(rows), "tokens": rows.size,
                "blocks": len(rows), **(tokenizer or {})}  # fmt: skip
    (folder / SPLIT_MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def load_split(path: str | Path, seq_len: int, *, name: str) -> PackedSplit:
    """Loads one packed split folder; checks the manifest's and the rows' seq_len against ``seq_len``.

    The folder is what ``datasets.Dataset.save_to_disk`` wrote (the tokenization contract), or, for
    benchmarks and environments without pyarrow, an ``input_ids.npy`` int32 array of shape (blocks,
    seq_len) next to the same ``medllama-split.json``; both are memory-mapped.
    """
    folder = Path(path)
    manifest_path = folder / SPLIT_MANIFEST
    if not folder.is_dir():
        raise DataError(f"{name} split folder {folder} does not exist")
    shards = sorted(p for p in folder.glob("shard-*-of-*") if p.is_dir())
    if shards and not manifest_path.is_file():
        return _concatenate([load_split(s, seq_len, name=f"{name} {s.name}") for s in shards], folder)
    if not manifest_path.is_file():
        raise DataError(f"{name} split folder {folder} has no {SPLIT_MANIFEST}; is it the tokenization step's output?")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise DataError(f"{manifest_path} is not valid JSON: {err}") from None
    data_seq_len = manifest.get("seq_len") if isinstance(manifest, dict) else None
    if data_seq_len != seq_len:
        raise DataError(
            f"--seq_len {seq_len} does not match the {name} data: {manifest_path} says seq_len={data_seq_len}; "
            "re-tokenize with the same --seq_len or set --seq_len to the data's"
        )
    if (folder / NPY_FILE).is_file() and not (folder / "dataset_info.json").is_file():
        rows = np.load(folder / NPY_FILE, mmap_mode="r")
        if rows.ndim != 2 or not np.issubdtype(rows.dtype, np.integer):
            raise DataError(f"{folder / NPY_FILE}: expected a 2-D integer array, got {rows.dtype} {rows.shape}")
        width = rows.shape[1]
    else:
        import datasets

        ds = datasets.load_from_disk(str(folder))
        if "input_ids" not in ds.column_names:
            raise DataError(f"{name} split {folder} has no input_ids column (columns: {ds.column_names})")
        rows = ds.select_columns(["input_ids"]).with_format("numpy")
        width = len(rows[0]["input_ids"]) if len(rows) else seq_len
    if width != seq_len:
        raise DataError(f"{name} split {folder}: rows have {width} tokens but --seq_len is {seq_len}")
    return PackedSplit(folder, manifest, rows)


def load_replay_split(path: str | Path, seq_len: int) -> PackedSplit | None:
    """Tokenize's ``replay`` split, or None when there is none: no folder (a run without the replay channel) or no
    blocks (Tokenize without --replay_uri writes an empty one, so that the channel always has objects)."""
    if not Path(path).is_dir():
        return None
    split = load_split(path, seq_len, name="replay")
    return split if len(split) else None


def _concatenate(parts: list[PackedSplit], folder: Path) -> PackedSplit:
    """Joins the per-instance outputs of a sharded tokenization (``shard-0000i-of-0000N/``) in shard order,
    which gives exactly the rows a single instance would have written."""
    fingerprints = {str(p.manifest.get("tokenizer_fingerprint")) for p in parts}
    if len(fingerprints) > 1:
        raise DataError(f"the shards of {folder} were tokenized with different tokenizers: {sorted(fingerprints)}")
    counts = {k: sum(int(p.manifest.get(k, 0)) for p in parts) for k in ("documents", "tokens", "blocks")}
    manifest = {**parts[0].manifest, **counts, "shards": len(parts)}
    if all(isinstance(p.rows, np.ndarray) for p in parts):
        rows: object = np.concatenate([np.asarray(p.rows) for p in parts])
    else:
        import datasets

        rows = datasets.concatenate_datasets([p.rows for p in parts]).with_format("numpy")  # type: ignore[misc]
    return PackedSplit(folder, manifest, rows)


@lru_cache(maxsize=2)
def _permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    order = np.random.default_rng([seed, epoch]).permutation(n)
    order.flags.writeable = False
    return order


@dataclass(frozen=True)
class StepPlan:
    """Which blocks each optimizer step reads. ``global_batch`` = world × micro-batch × accumulation."""

    num_blocks: int
    world_size: int
    micro_batch: int
    accumulation: int
    seed: int

    @property
    def global_batch(self) -> int:
        return self.world_size * self.micro_batch * self.accumulation

    @property
    def steps_per_epoch(self) -> int:
        return self.num_blocks // self.global_batch

    def total_steps(self, num_train_epochs: float, max_steps: int) -> int:
        if max_steps > 0:
            return max_steps
        return max(1, math.ceil(num_train_epochs * self.steps_per_epoch))

    def epoch_order(self, epoch: int) -> np.ndarray:
        return _permutation(self.seed, epoch, self.num_blocks)

    def step_window(self, step: int) -> np.ndarray:
        """The block indices optimizer step ``step`` reads, all ranks and micro-steps together."""
        epoch, within = divmod(step, self.steps_per_epoch)
        return self.epoch_order(epoch)[within * self.global_batch : (within + 1) * self.global_batch]

    def micro_batches(self, step: int, rank: int) -> list[np.ndarray]:
        """The block indices of rank ``rank`` for each micro-step of optimizer step ``step`` (0-based).

        Step ``s`` of the run reads positions ``[(s mod E)·G, (s mod E + 1)·G)`` of epoch ``s // E``'s
        permutation (E steps per epoch, G the global batch; an epoch's tail that fills no global batch is
        skipped). Inside that window micro-step ``m`` of rank ``r`` takes slot ``m·world + r``.
        """
        window = self.step_window(step)
        out = []
        for m in range(self.accumulation):
            slot = m * self.world_size + rank
            out.append(window[slot * self.micro_batch : (slot + 1) * self.micro_batch])
        return out


REPLAY_STREAM = 0x5E91A7  # seeds the choice of replay blocks apart from the epoch permutations ([seed, epoch])


class MixedSplit:
    """The train blocks followed by ``extra`` replay blocks, as one index space for :class:`StepPlan`.

    With ``N`` domain blocks and replay fraction ``f``, ``extra = round(f / (1 - f) · N)``, so that ``extra / (N +
    extra)`` is ``f`` up to rounding. Index ``i < N`` is domain block ``i``; index ``N + k`` is replay block
    ``pick[k]``, where ``pick`` walks seeded permutations of the replay split (a fresh one each time it is used up,
    so a replay split smaller than ``extra`` repeats blocks, each as often as the others, ±1). StepPlan's epoch
    permutation then spreads both kinds over the steps. Every block holds ``seq_len`` tokens, so the block share is
    the token share. Pure in (seed, N, f, replay size): a restart reads the same blocks at the same step.
    """

    def __init__(self, domain: PackedSplit, replay: PackedSplit | None, fraction: float, seed: int) -> None:
        if not 0 <= fraction < 1:
            raise DataError(f"--replay_fraction: got {fraction}, expected a number in [0, 1)")
        self.domain, self.replay, self.fraction = domain, replay, fraction
        self.seq_len = int(domain.manifest["seq_len"])
        available = len(replay) if replay is not None else 0
        self.extra = round(fraction / (1 - fraction) * len(domain)) if available and fraction > 0 else 0
        rng = np.random.default_rng([seed, REPLAY_STREAM])
        cycles = -(-self.extra // available) if self.extra else 0
        picks = [rng.permutation(available) for _ in range(cycles)]
        self.pick = np.concatenate(picks)[: self.extra] if picks else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.domain) + self.extra

    def blocks(self, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        n = len(self.domain)
        is_replay = indices >= n
        if not is_replay.any():
            return self.domain.blocks(indices)
        assert self.replay is not None
        out = np.empty((len(indices), self.seq_len), dtype=np.int64)
        if (~is_replay).any():
            out[~is_replay] = self.domain.blocks(indices[~is_replay])
        out[is_replay] = self.replay.blocks(self.pick[indices[is_replay] - n])
        return out

    def replay_blocks_read(self, plan: StepPlan, steps: int) -> int:
        """Replay blocks among those optimizer steps ``0 … steps-1`` read (all ranks)."""
        n = len(self.domain)
        if not self.extra:
            return 0
        return sum(int((plan.step_window(s) >= n).sum()) for s in range(steps))

    def summary(self, plan: StepPlan, steps: int) -> dict:
        """The requested and the realized mix, for training_summary.json."""
        read = self.replay_blocks_read(plan, steps)
        total = steps * plan.global_batch
        manifest = self.replay.manifest if self.replay is not None else {}
        return {
            "fraction": self.fraction,
            "source": manifest.get("source") or None,
            "replay_split_blocks": len(self.replay) if self.replay is not None else 0,
            "domain_blocks": len(self.domain),
            "replay_blocks_per_epoch": self.extra,
            "repeats_replay_blocks": bool(self.replay is not None and self.extra > len(self.replay)),
            "blocks_read": total,
            "replay_blocks_read": read,
            "replay_tokens_read": read * self.seq_len,
            "realized_fraction": round(read / total, 6) if total else 0.0,
        }
