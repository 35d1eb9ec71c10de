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

from medllama.base_models import describe_base_model
from medllama.jsonl import write_json
from medllama.sagemaker_env import require_cuda_on_gpu_host
from medllama.tokenizer import BaseTokenizer, TokenizerError, load_base_tokenizer, require_same_tokenizer
from medllama.tracking import Tracker, flatten_numbers
from medllama.train.budget import Pace, planned_steps, project
from medllama.train.checkpoint import Checkpointer, TrainerState
from medllama.train.config import TrainConfig
from medllama.train.data import DataError, MixedSplit, PackedSplit, StepPlan, load_replay_split, load_split
from medllama.train.distributed import DistEnv, all_reduce_sum, barrier, cleanup, init_distributed
from medllama.train.fsdp import clip_grad_norm
from medllama.train.merge import save_final_model
from medllama.train.metrics import flops_per_token, format_metric, mfu, peak_tflops_for, perplexity
from medllama.train.model import ModelBundle, ModelError, build_model, resolve_base_model_dir
from medllama.train.stop import StopRequest, merge_fits

log = logging.getLogger("medllama.train")
# When this process started, near enough (the module is imported at start): the clock the job's MaxRuntime runs on.
PROCESS_START = time.perf_counter()

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


class Schedule:
    """:func:`lr_lambda` over the steps that will run. A callable object, so LambdaLR's state_dict carries its
    fields and a run whose steps were capped resumes with the capped schedule; :meth:`fit_to` recomputes warmup and
    decay for a new step count."""

    def __init__(self, kind: str, warmup_ratio: float, total: int, min_ratio: float) -> None:
        self.kind, self.warmup_ratio, self.min_ratio = kind, warmup_ratio, min_ratio
        self.fit_to(total)

    def fit_to(self, total: int) -> None:
        self.total = total
        self.warmup = math.ceil(self.warmup_ratio * total)

    def __call__(self, step: int) -> float:
        return lr_lambda(self.kind, self.warmup, self.total, self.min_ratio)(step)


def build_optimizer(cfg: TrainConfig, bundle: ModelBundle) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for _, p in bundle.trainable_parameters():
        (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(
        [g for g in groups if g["params"]],
        lr=cfg.method_value("learning_rate"),
        betas=(cfg.adam_beta1, cfg.method_value("adam_beta2")),
        eps=cfg.method_value("adam_epsilon"),
        fused=bundle.device.type == "cuda",
    )


# ---- evaluation ---------------------------------------------------------------------------------------


def eval_subset(n_blocks: int, seed: int, size: int) -> np.ndarray:
    """The validation blocks of a periodic evaluation: the first ``size`` of a permutation fixed by ``seed``, so every
    evaluation of a run scores the same random blocks (never "the first N in id order") and a smaller subset is a
    prefix of a larger one."""
    order = np.random.default_rng([seed, 0xE7A1]).permutation(n_blocks)
    return np.sort(order[: max(0, min(size, n_blocks))])


def initial_eval_size(cfg: TrainConfig, n_blocks: int, global_batch: int) -> int:
    """Validation blocks per periodic evaluation before any is timed: a forward pass costs about a third of a
    training block's forward + backward, so ``eval_budget × eval_steps × global_batch × 3`` blocks cost about
    ``eval_budget`` of the training time; ``max_eval_blocks`` caps it."""
    size = math.ceil(cfg.eval_budget * max(1, cfg.eval_steps) * global_batch * 3)
    if cfg.max_eval_blocks:
        size = min(size, cfg.max_eval_blocks)
    return max(1, min(n_blocks, size))


@torch.no_grad()
def evaluate(
    cfg: TrainConfig, bundle: ModelBundle, split: PackedSplit, env: DistEnv, blocks: np.ndarray | None = None
) -> tuple[float, int]:
    """Mean next-token loss over ``blocks`` of the validation split (all when None; rank r takes every W-th). Every
    rank runs the same number of forward passes (FSDP needs that); padding rows have weight 0."""
    chosen = np.arange(len(split)) if blocks is None else np.asarray(blocks, dtype=np.int64)
    n = len(chosen)
    mine = chosen[env.rank :: env.world_size]
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
    """Prints metric lines (rank 0), appends them to ``metrics.jsonl`` in ``output_data_dir`` and logs them to
    MLflow with their step (when tracking is configured; medllama/tracking.py)."""

    def __init__(self, env: DistEnv, output_dir: Path, tracker: Tracker | None = None) -> None:
        self.env = env
        self.path = output_dir / "metrics.jsonl"
        self.last: dict[str, float] = {}
        self.tracker = tracker or Tracker.off("train")

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
        self.tracker.log_metrics(values, step=step)


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
    tracker = Tracker.from_env("train") if env.is_main else Tracker.off("train")
    tracker.log_params(vars(cfg))

    domain_split = load_split(cfg.train_dir, cfg.seq_len, name="train")
    val_split = load_split(cfg.validation_dir, cfg.seq_len, name="validation")
    replay_split = load_replay_split(cfg.replay_dir, cfg.seq_len)
    train_split = MixedSplit(domain_split, replay_split, cfg.replay_fraction, cfg.seed)
    plan = StepPlan(
        len(train_split), env.world_size, cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps, cfg.seed
    )
    if plan.steps_per_epoch == 0:
        raise DataError(
            f"the train split has {len(train_split)} blocks (with replay), fewer than one global batch of {plan.global_batch} "
            f"({env.world_size} processes × per_device_train_batch_size {cfg.per_device_train_batch_size} × "
            f"gradient_accumulation_steps {cfg.gradient_accumulation_steps})"
        )
    tokens_per_step = plan.global_batch * cfg.seq_len
    total_steps, decided_by = planned_steps(
        cfg.max_steps, cfg.max_tokens, tokens_per_step, plan.total_steps(cfg.num_train_epochs, -1)
    )
    schedule = Schedule(cfg.lr_scheduler, cfg.warmup_ratio, total_steps, cfg.min_lr_ratio)
    if env.is_main:
        log.info(
            f"train: {len(train_split)} blocks × {cfg.seq_len} tokens, {plan.steps_per_epoch} steps per epoch, "
            f"{total_steps} steps of {plan.global_batch} blocks ({tokens_per_step} tokens; set by {decided_by}), "
            f"warmup {schedule.warmup}; validation: {len(val_split)} blocks"
        )
        log.info(
            f"replay: {train_split.extra} of {len(train_split)} blocks per epoch from the replay split "
            f"({len(replay_split) if replay_split else 0} blocks"
            f"{', from ' + str(replay_split.manifest.get('source')) if replay_split else ''}), "
            f"replay_fraction {cfg.replay_fraction}"
        )

    base_dir = resolve_base_model_dir(cfg.base_model_dir, env)
    splits = {"train": domain_split, "validation": val_split, **({"replay": replay_split} if replay_split else {})}
    tokenizer = check_data_tokenizer(base_dir, splits)
    if env.is_main:
        log.info(f"tokenizer of the base model and the data: {tokenizer.identity.describe()}")
    bundle = build_model(cfg, base_dir, env)
    optimizer = build_optimizer(cfg, bundle)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    fpt = flops_per_token(bundle.n_params, bundle.n_layers, bundle.hidden, cfg.seq_len)
    peak = cfg.peak_tflops or (
        peak_tflops_for(torch.cuda.get_device_name(env.device)) if env.device.type == "cuda" else 0.0
    )
    if env.is_main:
        log.info(
            f"model {base_dir}: {bundle.n_params} parameters, {bundle.n_trainable} trainable ({cfg.method}), "
            f"{bundle.n_layers} layers × {bundle.hidden}; {fpt:.4g} FLOPs/token (6N + 12·L·d·T); "
            f"peak {peak or 'unknown'} TFLOPS/device; learning rate {cfg.method_value('learning_rate'):.3g}, "
            f"AdamW β2 {cfg.method_value('adam_beta2')}, ε {cfg.method_value('adam_epsilon'):.3g}"
        )

    ckpt = Checkpointer(cfg.checkpoint_dir, env, keep=cfg.save_total_limit, fsdp=bundle.fsdp)
    state = TrainerState(world_size=env.world_size, method=cfg.method)
    resumed_from = None
    if cfg.resume:
        restored = ckpt.restore(bundle, optimizer, scheduler)
        if restored is not None:
            state, resumed_from = restored, restored.step
            # A run whose steps the budget capped resumes capped (after a spot interruption the pace is the same);
            # otherwise the configured step count holds, even if the checkpoint was written under another one.
            total_steps = state.capped_total or total_steps
        schedule.fit_to(total_steps)  # (LambdaLR's state_dict brought the checkpoint's schedule fields back)
    sink = MetricSink(env, out_dir, tracker)
    ddp = env.distributed and not bundle.fsdp
    model = bundle.model
    model.train()
    trainable = [p for _, p in bundle.trainable_parameters()]

    eval_size = initial_eval_size(cfg, len(val_split), plan.global_batch) if len(val_split) else 0
    budget: dict = {"decided_by": decided_by, "planned_steps": total_steps, "projection": None}
    probe_at = min(total_steps, state.step + PROBE_STEPS)
    stop = StopRequest().install()
    stopped_early: dict | None = None
    run_tokens, run_train_time, train_at_last_eval = 0, 0.0, 0.0
    last_train_loss, last_eval = math.nan, (math.nan, 0)
    window = Window()
    pace = Pace(state.step)
    try:
        while state.step < total_steps:
            step = state.step
            torch.manual_seed(step_seed(cfg.seed, step, env.rank))
            lr = scheduler.get_last_lr()[0]
            micro = plan.micro_batches(step, env.rank)
            step_loss = torch.zeros((), device=env.device)
            abandoned = False
            for m, idx in enumerate(micro):
                if stop.requested and env.world_size == 1:  # alone: no peer waits on this step's collectives
                    abandoned = True
                    break
                batch = torch.from_numpy(train_split.blocks(idx)).to(env.device, non_blocking=True)
                sync = model.no_sync() if ddp and m < len(micro) - 1 else contextlib.nullcontext()
                with sync:
                    with bundle.autocast():
                        loss = model(input_ids=batch, labels=batch, use_cache=False).loss / len(micro)
                    loss.backward()
                step_loss += loss.detach().float()
            if abandoned:
                optimizer.zero_grad(set_to_none=True)
                stopped_early = _stop_record(stop, state.step, total_steps, "abandoned the step in progress")
                break
            grad_norm = clip_grad_norm(trainable, cfg.max_grad_norm) if cfg.max_grad_norm > 0 else None
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            state.tokens_seen += tokens_per_step
            run_tokens += tokens_per_step
            window.add(step_loss)
            done = state.step == total_steps

            if state.step <= probe_at:  # the pace, from the end of the first step (which warms up) to the probe
                _sync(env)
                pace.mark(state.step, time.perf_counter())
            if state.step == probe_at and not done:
                total_steps, budget["projection"] = _check_budget(cfg, env, state.step, total_steps, pace)
                if total_steps != schedule.total:
                    schedule.fit_to(total_steps)
                    state.capped_total = total_steps
                    done = state.step >= total_steps

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
            if _any_rank(env, stop.requested):
                stopped_early = _stop_record(stop, state.step, total_steps, "finished the step in progress")
                break
            evaluate_now = cfg.eval_steps and state.step % cfg.eval_steps == 0 and not done and len(val_split)
            save_now = cfg.save_steps and state.step % cfg.save_steps == 0
            if evaluate_now or save_now:
                _sync(env)
                window.pause()
                if evaluate_now:
                    started = time.perf_counter()
                    last_eval = evaluate(cfg, bundle, val_split, env, eval_subset(len(val_split), cfg.seed, eval_size))
                    sink.emit(state.step, eval_loss=last_eval[0], eval_perplexity=perplexity(last_eval[0]))
                    trained = run_train_time + window.train_time  # the window is paused: its time is current
                    eval_size = _rebudget_eval(
                        cfg, env, eval_size, time.perf_counter() - started, trained - train_at_last_eval
                    )
                    train_at_last_eval = trained
                if save_now:
                    ckpt.save(bundle, optimizer, scheduler, state)
                window.resume()
    finally:
        stop.uninstall()

    if stopped_early is not None:
        # Within SageMaker's 120 s: the checkpoint first (a restarted spot job resumes from it), then a usable model.
        ckpt.save(bundle, optimizer, scheduler, state)
        merge = cfg.method == "lora" and cfg.merge_adapter and merge_fits(bundle.n_params, stop.seconds_left())
        weights = cfg.method == "lora" or merge_fits(bundle.n_params, stop.seconds_left())
        if weights:
            save_final_model(cfg, bundle, base_dir, env, merge=merge)
        stopped_early["model"] = (
            ("merged model and adapter" if merge else "adapter only (no time to merge)")
            if cfg.method == "lora"
            else ("full model" if weights else "checkpoint only (no time to write the model)")
        )
    else:
        if len(val_split):
            # the complete validation split, once; or the same seeded max_eval_blocks subset when that is set (a
            # small CPU run cannot afford the whole split: SmolLM2's 279 blocks took longer than its training)
            final = eval_subset(len(val_split), cfg.seed, cfg.max_eval_blocks) if cfg.max_eval_blocks else None
            last_eval = evaluate(cfg, bundle, val_split, env, final)
            sink.emit(state.step, eval_loss=last_eval[0], eval_perplexity=perplexity(last_eval[0]))
        save_final_model(cfg, bundle, base_dir, env)

    tps = run_tokens / run_train_time if run_train_time > 0 else math.nan
    summary = {
        "method": cfg.method,
        "steps": state.step,
        "total_steps": total_steps,
        "resumed_from_step": resumed_from,
        "stopped_early": stopped_early,
        "budget": budget,
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
        "learning_rate": cfg.method_value("learning_rate"),
        "final_train_loss": _finite(last_train_loss),
        "final_eval_loss": _finite(last_eval[0]),
        "final_eval_perplexity": _finite(perplexity(last_eval[0])) if math.isfinite(last_eval[0]) else None,
        "eval_blocks": last_eval[1],
        "replay": train_split.summary(plan, state.step),
        "tokenizer": tokenizer.identity.as_manifest(),
        "base_model": describe_base_model(base_dir),
        "versions": versions(),
    }
    if env.is_main:
        write_json(out_dir / "training_summary.json", summary)
        Path(cfg.model_dir).mkdir(parents=True, exist_ok=True)
        write_json(Path(cfg.model_dir) / "training_summary.json", summary)
        tracker.log_metrics(flatten_numbers(summary, "summary."), step=state.step)
        tracker.log_artifacts([out_dir / "training_summary.json", out_dir / "metrics.jsonl"])
        tracker.finish()
        how = f"stopped early ({stopped_early['reason']}; {stopped_early['model']})" if stopped_early else "finished"
        log.info(
            f"{how}: {state.step} of {total_steps} steps, {state.tokens_seen} tokens, {summary['wall_time_seconds']}s, "
            f"final train loss {summary['final_train_loss']}, eval loss {summary['final_eval_loss']}; replay "
            f"{summary['replay']['replay_blocks_read']} of {summary['replay']['blocks_read']} blocks read "
            f"(realized fraction {summary['replay']['realized_fraction']}, requested {cfg.replay_fraction})"
        )
    return summary


# Steps whose pace decides the projected finish (after the first, which warms up).
PROBE_STEPS = 10


def _check_budget(cfg: TrainConfig, env: DistEnv, done: int, total: int, pace: Pace) -> tuple[int, dict]:
    """Projects the finish from the measured pace, the same on every rank (averaged), and caps ``total`` or fails
    as ``--on_overrun`` says. Returns the step count to run and the projection."""
    local = pace.seconds_per_step()
    per_step, elapsed = (v / env.world_size for v in all_reduce_sum(env, [local, time.perf_counter() - PROCESS_START]))
    projection = project(
        done=done,
        total=total,
        seconds_per_step=per_step,
        elapsed=elapsed,
        eval_overhead=cfg.eval_budget if cfg.eval_steps else 0.0,
        max_runtime_seconds=cfg.max_runtime_seconds,
        margin_seconds=cfg.runtime_margin_seconds,
        on_overrun=cfg.on_overrun,
    )
    if env.is_main:
        log.info(f"projected finish: {projection.describe()}")
        if projection.capped_to is not None:
            log.warning(
                f"capping the run at {projection.capped_to} of {total} steps to end within MaxRuntime "
                f"({cfg.max_runtime_seconds} s) less {cfg.runtime_margin_seconds} s; the learning-rate schedule now "
                "decays over the steps that will run"
            )
    return (projection.capped_to or total), projection.as_dict()


def _rebudget_eval(cfg: TrainConfig, env: DistEnv, size: int, eval_seconds: float, train_seconds: float) -> int:
    """Logs what the evaluation cost against the training since the last one, and shrinks the next subset when it
    cost more than ``eval_budget`` (the subset stays a prefix of the same seeded order)."""
    share = eval_seconds / train_seconds if train_seconds > 0 else math.inf
    smaller = max(1, math.floor(size * cfg.eval_budget / share)) if share > cfg.eval_budget else size
    if env.is_main:
        log.info(
            f"evaluation on {size} validation blocks (a fixed random subset): {eval_seconds:.1f} s, "
            f"{share:.1%} of the training time since the last one (budget {cfg.eval_budget:.0%})"
            + (f"; next evaluations use {smaller} blocks" if smaller < size else "")
        )
    return smaller


def _any_rank(env: DistEnv, flag: bool) -> bool:
    """Whether any rank raised ``flag`` (ranks must agree on stopping: their collectives pair up)."""
    if not env.distributed:
        return flag
    return all_reduce_sum(env, [1.0 if flag else 0.0])[0] > 0


def _stop_record(stop: StopRequest, step: int, total: int, what: str) -> dict:
    return {
        "reason": "SIGTERM (MaxRuntime, a spot interruption or a stop request)",
        "at_step": step,
        "planned_steps": total,
        "how": what,
        "seconds_left_of_grace_at_stop": round(stop.seconds_left(), 1),
    }


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
