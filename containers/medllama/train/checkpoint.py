"""Checkpoints in ``--checkpoint_dir`` (SageMaker syncs ``/opt/ml/checkpoints`` to S3 and back on restart).

Layout: ``step-00000200/`` holding the trainable weights, optimizer, scheduler and ``trainer_state.json``,
plus one completion marker per host, ``complete-<host>.json``, listing every file of that host with its
size. A checkpoint is written into ``.tmp-step-…`` and renamed into place after the marker, so a crash
mid-write leaves no ``step-…`` folder; a folder that came back from S3 incomplete, or with a truncated
file, fails validation and resume falls back to the next newest one.

- single process / DDP (LoRA, or full fine-tuning on one device): rank 0 writes ``trainable.safetensors``
  (the parameters that train), ``optimizer.pt`` and ``scheduler.pt``;
- FSDP (full fine-tuning): every rank writes its shards with ``torch.distributed.checkpoint`` into
  ``dcp/``, and the local rank 0 of each host writes that host's marker.

The data order and dropout RNG are pure functions of ``(seed, step, rank)`` (data.py, loop.py), so the
step number is the only RNG state a resume needs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from medllama.train.distributed import DistEnv, all_reduce_min_int, barrier

log = logging.getLogger("medllama.train")

NAME_RE = re.compile(r"^step-(\d{8})$")
MARKER_RE = re.compile(r"^complete-(\d+)\.json$")
STATE_FILE = "trainer_state.json"


@dataclass
class TrainerState:
    step: int = 0
    tokens_seen: int = 0
    world_size: int = 1
    method: str = "lora"
    # the step count the run budget capped the run to (0: not capped), so a resumed run keeps its schedule
    capped_total: int = 0


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def _hosts(env: DistEnv) -> tuple[int, int]:
    """(this host's index, number of hosts) from torchrun's LOCAL_WORLD_SIZE."""
    per_host = int(os.environ.get("LOCAL_WORLD_SIZE", str(env.world_size)))
    return env.rank // per_host, max(1, env.world_size // per_host)


def validate(path: Path) -> str | None:
    """None when ``path`` is a complete checkpoint, else the reason it is not."""
    markers = sorted(p for p in path.iterdir() if MARKER_RE.match(p.name)) if path.is_dir() else []
    if not markers:
        return "no completion marker (partial write or upload)"
    hosts = None
    for marker in markers:
        try:
            meta = json.loads(marker.read_text(encoding="utf-8"))
            files = meta["files"]
            hosts = meta["hosts"] if hosts is None else hosts
        except (OSError, ValueError, KeyError, TypeError) as err:
            return f"unreadable marker {marker.name}: {err}"
        for rel, size in files.items():
            f = path / rel
            if not f.is_file():
                return f"missing file {rel}"
            if f.stat().st_size != size:
                return f"{rel} has {f.stat().st_size} bytes, the marker says {size}"
    if len(markers) != hosts:
        return f"{len(markers)} of {hosts} host markers present"
    if not (path / STATE_FILE).is_file():
        return f"no {STATE_FILE}"
    return None


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every ``step-…`` folder, newest first."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := NAME_RE.match(p.name)) and p.is_dir()]
    return sorted(found, reverse=True)


def newest_valid(root: Path) -> tuple[int, Path] | None:
    for step, path in list_checkpoints(root):
        reason = validate(path)
        if reason is None:
            return step, path
        log.warning(f"skipping checkpoint {path}: {reason}")
    return None


def _write_marker(folder: Path, host: int, hosts: int, step: int) -> None:
    files = {}
    for f in sorted(folder.rglob("*")):
        if f.is_file() and not MARKER_RE.match(f.name):
            files[f.relative_to(folder).as_posix()] = f.stat().st_size
    marker = folder / f"complete-{host}.json"
    tmp = folder / f".complete-{host}.json.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump({"step": step, "host": host, "hosts": hosts, "files": files}, out, sort_keys=True, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, marker)


def _fsync_tree(folder: Path) -> None:
    for f in folder.rglob("*"):
        if f.is_file():
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())


class Checkpointer:
    def __init__(self, root: str | Path, env: DistEnv, *, keep: int, fsdp: bool) -> None:
        self.root, self.env, self.keep, self.fsdp = Path(root), env, max(1, keep), fsdp

    # -- saving ---------------------------------------------------------------------------------------
    def save(self, bundle: Any, optimizer: torch.optim.Optimizer, scheduler: Any, state: TrainerState) -> Path:
        env = self.env
        name = checkpoint_name(state.step)
        final, tmp = self.root / name, self.root / f".tmp-{name}"
        host, hosts = _hosts(env)
        writes_here = env.local_rank == 0 if self.fsdp else env.is_main
        if writes_here:
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
        barrier(env)
        if self.fsdp:
            import torch.distributed.checkpoint as dcp
            from torch.distributed.checkpoint.state_dict import get_state_dict

            model_sd, optim_sd = get_state_dict(bundle.model, optimizer)
            dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(tmp / "dcp"))
        elif env.is_main:
            from safetensors.torch import save_file

            weights = {n: p.detach().to("cpu").contiguous() for n, p in bundle.trainable_parameters()}
            save_file(weights, str(tmp / "trainable.safetensors"))
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        if env.is_main:
            torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
            (tmp / STATE_FILE).write_text(json.dumps(asdict(state), sort_keys=True, indent=1) + "\n", encoding="utf-8")
        barrier(env)
        if writes_here:
            _fsync_tree(tmp)
            _write_marker(tmp, host if self.fsdp else 0, hosts if self.fsdp else 1, state.step)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            self._prune()
        barrier(env)
        if env.is_main:
            log.info(f"checkpoint saved: {final}")
        return final

    def _prune(self) -> None:
        for p in self.root.glob(".tmp-step-*"):
            shutil.rmtree(p, ignore_errors=True)
        for _, path in list_checkpoints(self.root)[self.keep :]:
            shutil.rmtree(path, ignore_errors=True)

    # -- resuming -------------------------------------------------------------------------------------
    def restore(self, bundle: Any, optimizer: torch.optim.Optimizer, scheduler: Any) -> TrainerState | None:
        """Loads the newest checkpoint that is valid on every rank; None when there is none."""
        env = self.env
        found = newest_valid(self.root)
        step = all_reduce_min_int(env, found[0] if found else -1)
        if step < 0:
            return None
        path = self.root / checkpoint_name(step)
        if validate(path) is not None:
            raise RuntimeError(f"checkpoint {path} chosen by all ranks is not valid on rank {env.rank}")
        state = TrainerState(**json.loads((path / STATE_FILE).read_text(encoding="utf-8")))
        if state.world_size != env.world_size:
            raise RuntimeError(
                f"checkpoint {path} was written by {state.world_size} processes, this run has {env.world_size}; "
                "the data order depends on it, so resume with the same instance count"
            )
        if self.fsdp:
            import torch.distributed.checkpoint as dcp
            from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

            model_sd, optim_sd = get_state_dict(bundle.model, optimizer)
            sd = {"model": model_sd, "optim": optim_sd}
            dcp.load(sd, checkpoint_id=str(path / "dcp"))
            set_state_dict(bundle.model, optimizer, model_state_dict=sd["model"], optim_state_dict=sd["optim"])
        else:
            from safetensors.torch import load_file

            weights = load_file(str(path / "trainable.safetensors"))
            params = dict(bundle.trainable_parameters())
            if set(weights) != set(params):
                raise RuntimeError(f"checkpoint {path} holds other trainable parameters than this model")
            with torch.no_grad():
                for n, p in params.items():
                    p.copy_(weights[n].to(p.device, p.dtype))
            optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location=bundle.device, weights_only=True))
        scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
        log.info(f"resumed from {path} (step {state.step}, {state.tokens_seen} tokens seen)")
        return state
