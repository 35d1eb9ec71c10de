"""The base model: found in its channel (extracting a model .tar.gz safely), loaded with SDPA attention,
given LoRA adapters (peft) or left whole for full fine-tuning, and wrapped for DDP (LoRA) or sharded
with FSDP2 (full fine-tuning across processes; see fsdp.py).

Precision: on GPU with ``bf16`` the LoRA base weights are bfloat16 (adapters stay fp32 and matmuls run
under bf16 autocast); full fine-tuning keeps fp32 master weights and computes in bf16 (FSDP2
``MixedPrecisionPolicy`` with fp32 gradient reduction, or autocast on a single GPU). On CPU everything is
fp32 (tests).
"""

from __future__ import annotations

import contextlib
import logging
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from medllama.train.config import TrainConfig
from medllama.train.distributed import DistEnv, barrier

log = logging.getLogger("medllama.train")


class ModelError(ValueError):
    """The base model folder is missing or unusable, or the LoRA targets match nothing."""


def find_config_dir(root: Path, depth: int = 2) -> Path | None:
    if (root / "config.json").is_file():
        return root
    if depth == 0:
        return None
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        found = find_config_dir(child, depth - 1)
        if found:
            return found
    return None


def safe_extract(archive: Path, dest: Path) -> None:
    """Extracts a tar archive refusing absolute paths, ``..``, links out of ``dest`` and device files."""
    dest = dest.resolve()
    with tarfile.open(archive, "r:*") as tar:
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if not target.is_relative_to(dest):
                raise ModelError(f"{archive}: member {member.name!r} would be written outside the folder")
            if member.issym() or member.islnk():
                link = (
                    (target.parent / member.linkname).resolve()
                    if member.issym()
                    else (dest / member.linkname).resolve()
                )
                if not link.is_relative_to(dest):
                    raise ModelError(f"{archive}: link {member.name!r} -> {member.linkname!r} leaves the folder")
            elif not (member.isfile() or member.isdir()):
                raise ModelError(f"{archive}: member {member.name!r} is not a file or folder")
        tar.extractall(dest, filter="data")


def model_archive(root: Path, flag: str) -> tuple[Path, Path] | None:
    """Where a model folder flag points: ``None`` when ``root`` holds the model (``config.json``), else the one
    ``*.tar.gz`` it holds (JumpStart, user-staged, or a Train step's ``model.tar.gz``) and where to extract it:
    ``<root>.extracted``, or a fixed temporary folder when that is not writable (the same on every rank).
    Raises ModelError for anything else."""
    if not root.is_dir():
        raise ModelError(f"--{flag} {root} is not a folder")
    if (root / "config.json").is_file():
        return None
    archives = sorted(root.glob("*.tar.gz"))
    if len(archives) != 1:
        raise ModelError(
            f"--{flag} {root} has no config.json and {len(archives)} *.tar.gz files; expected an HF model "
            "folder or exactly one model archive"
        )
    dest = root.parent / f"{root.name}.extracted"
    try:
        dest.mkdir(exist_ok=True)
    except OSError:
        dest = Path(tempfile.gettempdir()) / f"medllama-{flag}"
        dest.mkdir(exist_ok=True)
    return archives[0], dest


def resolve_base_model_dir(path: str | Path, env: DistEnv) -> Path:
    """The folder holding the base model's ``config.json``: the ``base_model`` channel itself, or the model in
    its single ``*.tar.gz`` (see :func:`model_archive`), extracted by local rank 0 of each node while the
    other ranks wait."""
    root = Path(path)
    located = model_archive(root, "base_model_dir")
    if located is None:
        return root
    archive, dest = located
    if env.local_rank == 0 and not find_config_dir(dest):
        log.info(f"extracting {archive} into {dest}")
        safe_extract(archive, dest)
    barrier(env)
    found = find_config_dir(dest)
    if not found:
        raise ModelError(f"{archive} holds no config.json (looked two folders deep)")
    return found


@dataclass
class ModelBundle:
    model: torch.nn.Module  # what the loop calls (DDP-wrapped, FSDP2-sharded, or the plain model)
    inner: Any  # the unwrapped HF / peft model
    n_params: int  # parameters of the base model (embeddings and head included; adapters excluded)
    n_trainable: int
    n_layers: int
    hidden: int
    fsdp: bool
    autocast_dtype: torch.dtype | None
    device: torch.device

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def trainable_parameters(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]


def _decoder_layer_class(model: torch.nn.Module) -> type:
    for module in model.modules():
        if type(module).__name__.endswith("DecoderLayer"):
            return type(module)
    raise ModelError(f"{type(model).__name__} has no *DecoderLayer modules; is it a Llama-architecture model?")


def add_lora(model: Any, r: int, alpha: int, dropout: float, targets: list[str], *, seed: int) -> Any:
    """Wraps ``model`` with peft LoRA adapters (fp32) on every module named in ``targets``."""
    from peft import LoraConfig, get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in targets if t not in names]
    if missing:
        raise ModelError(f"--lora_target: {missing} match no module of {type(model).__name__}")
    torch.manual_seed(seed)  # LoRA A matrices are initialised from the global RNG
    config = LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none", task_type="CAUSAL_LM"
    )
    return get_peft_model(model, config)  # adapters in fp32 (autocast_adapter_dtype)


def enable_gradient_checkpointing(model: Any) -> None:
    """Recompute each decoder layer's activations in the backward pass instead of keeping them: the memory that
    lets a 7B model train at 4096 tokens on a 24 GB GPU, for about a third more compute per step. Non-reentrant, so
    LoRA (whose inputs need no grad) works without ``enable_input_require_grads``. Used on GPUs only: on a CPU the
    memory is not the limit and the recomputation only costs time (≈1.4× per step for SmolLM2-135M, LoRA, 512
    tokens, on 2 cores)."""
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def build_model(cfg: TrainConfig, base_dir: Path, env: DistEnv) -> ModelBundle:
    from transformers import AutoModelForCausalLM

    on_gpu = env.device.type == "cuda"
    bf16 = cfg.bf16 and on_gpu
    if cfg.bf16 and not on_gpu:
        log.info("bf16 requested but no GPU: computing in fp32 on CPU")
    fsdp = cfg.method == "full" and env.distributed
    # LoRA keeps the frozen base in bf16; full fine-tuning keeps fp32 master weights.
    load_dtype = torch.bfloat16 if (bf16 and cfg.method == "lora") else torch.float32
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=load_dtype, attn_implementation="sdpa")
    model.config.use_cache = False
    n_params = sum(p.numel() for p in model.parameters())
    n_layers, hidden = int(model.config.num_hidden_layers), int(model.config.hidden_size)
    layer_cls = _decoder_layer_class(model)
    if cfg.gradient_checkpointing and on_gpu:
        enable_gradient_checkpointing(model)
    elif cfg.gradient_checkpointing:
        log.info("gradient checkpointing requested but no GPU: off on CPU (it saves accelerator memory only)")

    if cfg.method == "lora":
        model = add_lora(model, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, list(cfg.lora_target), seed=cfg.seed)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if not fsdp:  # FSDP: fully_shard moves only this rank's shards to the device
        model.to(env.device)
    if cfg.torch_compile and on_gpu:
        for module in model.modules():
            if isinstance(module, layer_cls):
                module.compile()
    inner = model

    if fsdp:
        from medllama.train.fsdp import shard_model

        model = shard_model(model, layer_cls, env, bf16=bf16)  # in place: `inner` is the same (sharded) object
        autocast_dtype = None
    else:
        if env.distributed:
            from torch.nn.parallel import DistributedDataParallel

            model = DistributedDataParallel(model, device_ids=[env.local_rank] if on_gpu else None)
        autocast_dtype = torch.bfloat16 if bf16 else None
    return ModelBundle(
        model=model,
        inner=inner,
        n_params=n_params,
        n_trainable=n_trainable,
        n_layers=n_layers,
        hidden=hidden,
        fsdp=fsdp,
        autocast_dtype=autocast_dtype,
        device=env.device,
    )
