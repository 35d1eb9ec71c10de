"""The training loop: an explicit loop (no Trainer) so data order, RNG and timing are ours to control.

Per optimizer step ``s``: reseed dropout from ``(seed, s, rank)``, read the step's blocks
(:meth:`StepPlan.micro_batches`), run ``gradient_accumulation_steps`` forward/backward passes (DDP skips
the all-reduce on all but the last; FSDP reduce-scatters each), clip the global norm, AdamW, schedule. Every ``logging_steps`` it prints metric
lines; every ``eval_steps`` it evaluates; every ``save_steps`` it checkpoints.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from medllama.jsonl import write_json
from medllama.sagemaker_env import require_cuda_on_gpu_host
from medllama.tokenizer import BaseTokenizer, TokenizerError, load_base_tokenizer, require_same_tokenizer
from medllama.train.checkpoint import Checkpointer, TrainerState
from medllama.train.config import TrainConfig
from medllama.train.data import DataError, PackedSplit, StepPlan, load_split
from medllama.train.distributed import DistEnv, all_reduce_sum, barrier, cleanup, init_distributed
from medllama.train.fsdp import clip_grad_norm
from medllama.train.merge import save_final_model
from medllama.train.metrics import flops_per_token, format_metric, mfu, peak_tflops_for, perplexity
from medllama.train.model import ModelBundle, ModelError, build_model, resolve_base_model_dir

log = logging.getLogger("medllama.train")

VERSIONED = ("torch", "transformers", "peft", "accelerate", "datasets", "tokenizers", "safetensors", "numpy")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    out["cuda"] = str(torch.version.cuda)
    return out


def step_seed(seed: int, step: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1, dtype=np.uint64)[0]) >> 1


# ---- schedule and optimizer ---------------------------------------------------------------------------


def lr_lambda(kind: str, warmup: int, total: int, min_ratio: float):
    """Multiplier of the peak LR at a 0-based step: linear warmup, then cosine / linear decay or constant."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if kind == "constant_with_warmup":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        shape = 0.5 * (1.0 + math.cos(math.pi * progress)) if kind == "cosine" else 1.0 - progress
        return min_ratio + (1.0 - min_ratio) * shape

    return f


def build_optimizer(cfg: TrainConfig, bundle: ModelBundle) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for _, p in bundle.trainable_parameters():
        (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(
        [g for g in groups if g["params"]],
        lr=cfg.learning_rate,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        eps=cfg.adam_epsilon,
        fused=bundle.device.type == "cuda",
    )


# ---- evaluation ---------------------------------------------------------------------------------------


@torch.no_grad()
def evaluate(cfg: TrainConfig, bundle: ModelBundle, split: PackedSplit, env: DistEnv) -> tuple[float, int]:
    """Mean next-token loss over the validation blocks (rank r takes blocks r, r+W, …). Every rank runs the
    same number of forward passes (FSDP needs that); padding rows have weight 0."""
    n = len(split) if not cfg.max_eval_blocks else min(len(split), cfg.max_eval_blocks)
    mine = np.arange(env.rank, n, env.world_size)
    per_rank = math.ceil(n / env.world_size)
    padded = np.full(per_rank, -1, dtype=np.int64)
    padded[: len(mine)] = mine
    bs = cfg.per_device_eval_batch_size
    model = bundle.model
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=env.device)
    count = 0
    for start in range(0, per_rank, bs):
        idx = padded[start : start + bs]
        real = idx >= 0
        batch = torch.from_numpy(split.blocks(np.where(real, idx, 0))).to(env.device)
        with bundle.autocast():
            logits = model(input_ids=batch, use_cache=False).logits
        ce = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().transpose(1, 2), batch[:, 1:], reduction="none"
        ).mean(dim=1)
        weight = torch.from_numpy(real).to(env.device, torch.float64)
        loss_sum += (ce.double() * weight).sum()
        count += int(real.sum())
    model.train()
    total, blocks = all_reduce_sum(env, [float(loss_sum.item()), float(count)])
    return (total / blocks if blocks else math.nan), int(blocks)


# ---- the loop -----------------------------------------------------------------------------------------


@dataclass
class Window:
    """Steps, summed loss and training time since the last metric lines (evaluation and checkpoint
    writing are paused out of the time, so tokens/s and MFU describe training alone)."""

    steps: int = 0
    loss_sum: torch.Tensor | None = None
    train_time: float = 0.0
    resumed_at: float = field(default_factory=time.perf_counter)

    def add(self, loss: torch.Tensor) -> None:
        self.loss_sum = loss if self.loss_sum is None else self.loss_sum + loss
        self.steps += 1

    def pause(self) -> None:
        self.train_time += time.perf_counter() - self.resumed_at

    def resume(self) -> None:
        self.resumed_at = time.perf_counter()


class MetricSink:
    """Prints metric lines (rank 0) and appends them to ``metrics.jsonl`` in ``output_data_dir``."""

    def __init__(self, env: DistEnv, output_dir: Path) -> None:
        self.env = env
        self.path = output_dir / "metrics.jsonl"
        self.last: dict[str, float] = {}

    def emit(self, step: int, **values: float) -> None:
        if not self.env.is_main:
            return
        with open(self.path, "a", encoding="utf-8") as out:
            for name, value in values.items():
                if value is None or not math.isfinite(value):
                    continue
                print(format_metric(name, value, step), flush=True)
                out.write(json.dumps({"name": name, "value": float(value), "step": step}, sort_keys=True) + "\n")
                self.last[name] = float(value)


def _sync(env: DistEnv) -> None:
    if env.device.type == "cuda":
        torch.cuda.synchronize(env.device)


def train(cfg: TrainConfig) -> dict:
    try:  # before anything is loaded: a GPU instance without CUDA would otherwise train on its CPU for days
        require_cuda_on_gpu_host(torch.cuda.is_available(), "medllama.train")
    except RuntimeError as err:
        raise ModelError(str(err)) from None
    env = init_distributed()
    try:
        summary = _train(cfg, env)
        # every rank is done before the group goes (a rank tearing it down while a peer still talks to it can abort
        # that peer: gloo's "terminate called without an active exception"); not on an error, where it could hang
        barrier(env)
        return summary
    finally:
        cleanup(env)


def _train(cfg: TrainConfig, env: DistEnv) -> dict:
    wall_start = time.perf_counter()
    out_dir = Path(cfg.output_data_dir)
    if env.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        log.info("versions: " + " ".join(f"{k}=={v}" for k, v in versions().items()))
        log.info(f"process rank {env.rank} of {env.world_size}, device {env.device}")
        log.info("config: " + json.dumps(vars(cfg), sort_keys=True))

    train_split = load_split(cfg.train_dir, cfg.seq_len, name="train")
    val_split = load_split(cfg.validation_dir, cfg.seq_len, name="validation")
    plan = StepPlan(
        len(train_split), env.world_size, cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps, cfg.seed
    )
    if plan.steps_per_epoch == 0:
        raise DataError(
            f"the train split has {len(train_split)} blocks, fewer than one global batch of {plan.global_batch} "
            f"({env.world_size} processes × per_device_train_batch_size {cfg.per_device_train_batch_size} × "
            f"gradient_accumulation_steps {cfg.gradient_accumulation_steps})"
        )
    total_steps = plan.total_steps(cfg.num_train_epochs, cfg.max_steps)
    warmup = math.ceil(cfg.warmup_ratio * total_steps)
    tokens_per_step = plan.global_batch * cfg.seq_len
    if env.is_main:
        log.info(
            f"train: {len(train_split)} blocks × {cfg.seq_len} tokens, {plan.steps_per_epoch} steps per epoch, "
            f"{total_steps} steps of {plan.global_batch} blocks ({tokens_per_step} tokens), warmup {warmup}; "
            f"validation: {len(val_split)} blocks"
        )

    base_dir = resolve_base_model_dir(cfg.base_model_dir, env)
    tokenizer = check_data_tokenizer(base_dir, {"train": train_split, "validation": val_split})
    if env.is_main:
        log.info(f"tokenizer of the base model and the data: {tokenizer.identity.describe()}")
    bundle = build_model(cfg, base_dir, env)
    optimizer = build_optimizer(cfg, bundle)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(cfg.lr_scheduler, warmup, total_steps, cfg.min_lr_ratio)
    )
    fpt = flops_per_token(bundle.n_params, bundle.n_layers, bundle.hidden, cfg.seq_len)
    peak = cfg.peak_tflops or (
        peak_tflops_for(torch.cuda.get_device_name(env.device)) if env.device.type == "cuda" else 0.0
    )
    if env.is_main:
        log.info(
            f"model {base_dir}: {bundle.n_params} parameters, {bundle.n_trainable} trainable ({cfg.method}), "
            f"{bundle.n_layers} layers × {bundle.hidden}; {fpt:.4g} FLOPs/token (6N + 12·L·d·T); "
            f"peak {peak or 'unknown'} TFLOPS/device"
        )

    ckpt = Checkpointer(cfg.checkpoint_dir, env, keep=cfg.save_total_limit, fsdp=bundle.fsdp)
    state = TrainerState(world_size=env.world_size, method=cfg.method)
    resumed_from = None
    if cfg.resume:
        restored = ckpt.restore(bundle, optimizer, scheduler)
        if restored is not None:
            state, resumed_from = restored, restored.step
    sink = MetricSink(env, out_dir)
    ddp = env.distributed and not bundle.fsdp
    model = bundle.model
    model.train()
    trainable = [p for _, p in bundle.trainable_parameters()]

    run_tokens, run_train_time = 0, 0.0
    last_train_loss, last_eval = math.nan, (math.nan, 0)
    window = Window()
    while state.step < total_steps:
        step = state.step
        torch.manual_seed(step_seed(cfg.seed, step, env.rank))
        lr = scheduler.get_last_lr()[0]
        micro = plan.micro_batches(step, env.rank)
        step_loss = torch.zeros((), device=env.device)
        for m, idx in enumerate(micro):
            batch = torch.from_numpy(train_split.blocks(idx)).to(env.device, non_blocking=True)
            sync = model.no_sync() if ddp and m < len(micro) - 1 else contextlib.nullcontext()
            with sync:
                with bundle.autocast():
                    loss = model(input_ids=batch, labels=batch, use_cache=False).loss / len(micro)
                loss.backward()
            step_loss += loss.detach().float()
        grad_norm = clip_grad_norm(trainable, cfg.max_grad_norm) if cfg.max_grad_norm > 0 else None
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.tokens_seen += tokens_per_step
        run_tokens += tokens_per_step
        window.add(step_loss)
        done = state.step == total_steps

        if state.step % cfg.logging_steps == 0 or done:
            _sync(env)
            window.pause()
            elapsed = window.train_time
            run_train_time += elapsed
            loss_total, _ = all_reduce_sum(env, [float(window.loss_sum.item()), 0.0])
            last_train_loss = loss_total / env.world_size / window.steps
            if not math.isfinite(last_train_loss):
                raise FloatingPointError(
                    f"train loss is {last_train_loss} at step {state.step}; lower --learning_rate"
                )
            tps = window.steps * tokens_per_step / elapsed
            sink.emit(
                state.step,
                train_loss=last_train_loss,
                learning_rate=lr,
                grad_norm=float(grad_norm) if grad_norm is not None else None,
                tokens_per_second=tps,
                tokens_per_second_per_gpu=tps / env.world_size,
                mfu=mfu(tps / env.world_size, fpt, peak),
                epoch=state.step / plan.steps_per_epoch,
            )
            window = Window()
        evaluate_now = cfg.eval_steps and state.step % cfg.eval_steps == 0 and not done and len(val_split)
        save_now = cfg.save_steps and state.step % cfg.save_steps == 0
        if evaluate_now or save_now:
            _sync(env)
            window.pause()
            if evaluate_now:
                last_eval = evaluate(cfg, bundle, val_split, env)
                sink.emit(state.step, eval_loss=last_eval[0], eval_perplexity=perplexity(last_eval[0]))
            if save_now:
                ckpt.save(bundle, optimizer, scheduler, state)
            window.resume()

    if len(val_split):
        last_eval = evaluate(cfg, bundle, val_split, env)
        sink.emit(state.step, eval_loss=last_eval[0], eval_perplexity=perplexity(last_eval[0]))
    save_final_model(cfg, bundle, base_dir, env)

    tps = run_tokens / run_train_time if run_train_time > 0 else math.nan
    summary = {
        "method": cfg.method,
        "steps": state.step,
        "total_steps": total_steps,
        "resumed_from_step": resumed_from,
        "world_size": env.world_size,
        "tokens_seen": state.tokens_seen,
        "tokens_this_run": run_tokens,
        "wall_time_seconds": round(time.perf_counter() - wall_start, 3),
        "train_time_seconds": round(run_train_time, 3),
        "tokens_per_second": _finite(tps),
        "tokens_per_second_per_gpu": _finite(tps / env.world_size),
        "mfu": _finite(mfu(tps / env.world_size, fpt, peak)),
        "mfu_convention": "6N + 12*L*d*T FLOPs per token, N = all base-model parameters (LoRA too)",
        "peak_tflops_per_device": peak or None,
        "flops_per_token": fpt,
        "n_params": bundle.n_params,
        "n_trainable_params": bundle.n_trainable,
        "seq_len": cfg.seq_len,
        "global_batch_blocks": plan.global_batch,
        "final_train_loss": _finite(last_train_loss),
        "final_eval_loss": _finite(last_eval[0]),
        "final_eval_perplexity": _finite(perplexity(last_eval[0])) if math.isfinite(last_eval[0]) else None,
        "eval_blocks": last_eval[1],
        "tokenizer": tokenizer.identity.as_manifest(),
        "versions": versions(),
    }
    if env.is_main:
        write_json(out_dir / "training_summary.json", summary)
        write_json(Path(cfg.model_dir) / "training_summary.json", summary)
        log.info(
            f"finished: {state.step} steps, {state.tokens_seen} tokens, {summary['wall_time_seconds']}s, "
            f"final train loss {summary['final_train_loss']}, eval loss {summary['final_eval_loss']}"
        )
    return summary


def check_data_tokenizer(base_dir: Path, splits: dict[str, PackedSplit]) -> BaseTokenizer:
    """The base model's tokenizer, after checking that every split was packed with it (DataError if not)."""
    try:
        tokenizer = load_base_tokenizer(base_dir)
        for name, split in splits.items():
            require_same_tokenizer(split.manifest, tokenizer, what=f"the {name} data ({split.path})")
    except TokenizerError as err:
        raise DataError(str(err)) from None
    return tokenizer


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None
