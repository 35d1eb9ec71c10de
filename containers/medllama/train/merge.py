"""Writes the trained model to ``--model_dir``: what the serving container and the evaluation step load.

- LoRA: the adapter alone in ``model_dir/adapter/`` (peft format, fp32), then the adapter merged into the base
  weights (W + (α/r)·B·A) and the full model saved in the output dtype (bf16 when ``bf16``, else fp32). The merge
  is done in fp32 and cast once (:func:`merge_lora`): each merged weight is the output dtype's nearest value to the
  exact W + ΔW, so no update is lost to an intermediate rounding (a delta rounded to bf16 before the add, as some
  of peft's dtype paths do, rounds twice). What the final bf16 cast itself costs is measured by
  containers/tests/test_train_merge.py;
- full fine-tuning: the (FSDP-gathered) weights in the output dtype.

Always sharded safetensors (``max_shard_size``) + ``config.json`` + the base model's tokenizer and
generation config files, copied byte for byte.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from medllama.train.config import TrainConfig
from medllama.train.distributed import DistEnv, barrier

log = logging.getLogger("medllama.train")

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "generation_config.json",
    # names the base model the tuned one came from (medllama.base_models.describe_base_model)
    "medllama-base-model.json",
)


def copy_tokenizer(base_dir: Path, model_dir: Path) -> list[str]:
    copied = []
    for name in TOKENIZER_FILES:
        src = base_dir / name
        if src.is_file() and not (model_dir / name).exists():
            shutil.copyfile(src, model_dir / name)
            copied.append(name)
    if not any(n.startswith("tokenizer") and n != "tokenizer_config.json" for n in copied):
        log.warning(f"no tokenizer.json / tokenizer.model in {base_dir}: the model folder has no tokenizer")
    return copied


class MergeError(ValueError):
    """An adapter this merge does not implement (a LoRA variant such as DoRA, an adapter bias, embedding LoRA)."""


def lora_delta_fp32(layer: Any, adapter: str) -> torch.Tensor:
    """(α/r)·B·A of one peft LoRA layer in fp32, shaped like the base weight."""
    if layer.lora_variant.get(adapter) is not None or layer.lora_bias.get(adapter):
        raise MergeError(f"{adapter}: a LoRA variant or adapter bias; only plain LoRA is merged here")
    a = layer.lora_A[adapter].weight.detach().to(torch.float32)
    b = layer.lora_B[adapter].weight.detach().to(torch.float32)
    delta = (b @ a) * float(layer.scaling[adapter])
    return delta.T if layer.fan_in_fan_out else delta


def merge_lora(peft_model: Any, out_dtype: torch.dtype) -> torch.nn.Module:
    """The base model with every active adapter merged: W + ΣΔW computed in fp32, one layer at a time (so a 7B
    bf16 model needs one fp32 weight matrix of extra memory), then cast once to ``out_dtype``; the other weights
    are cast once too. Consumes ``peft_model`` (its LoRA layers are replaced by the merged base layers)."""
    from peft.tuners.lora import LoraLayer

    with torch.no_grad():
        for name, layer in peft_model.named_modules():
            if not isinstance(layer, LoraLayer):
                continue
            adapters = [a for a in layer.active_adapters if a in layer.lora_A]
            if len(adapters) != len(layer.active_adapters):
                raise MergeError(f"{name}: an active adapter without lora_A (embedding LoRA is not merged here)")
            base = layer.get_base_layer()
            merged = base.weight.detach().to(torch.float32)
            for adapter in adapters:
                merged = merged + lora_delta_fp32(layer, adapter)
            base.weight.data = merged.to(out_dtype)
    return peft_model.unload().to(out_dtype)  # unload drops the adapters without merging them again


def save_final_model(cfg: TrainConfig, bundle: Any, base_dir: Path, env: DistEnv, *, merge: bool = True) -> Path:
    """Called on every rank (FSDP gathers collectively); rank 0 writes. ``merge`` False writes a LoRA run's adapter
    only (after SIGTERM, when merging would not fit the grace period)."""
    model_dir = Path(cfg.model_dir)
    # BF16 weights when training ran in BF16 (GPU); fp32 when it ran in fp32 (CPU), so the saved model is
    # exactly what was trained and compares fairly with an fp32 base.
    out_dtype = torch.bfloat16 if cfg.bf16 and bundle.device.type == "cuda" else torch.float32
    state_dict = None
    if bundle.fsdp:
        from medllama.train.fsdp import full_state_dict

        state_dict = full_state_dict(bundle.model)
    if env.is_main:
        model_dir.mkdir(parents=True, exist_ok=True)
        inner = bundle.inner
        inner.config.use_cache = True
        if cfg.method == "lora":
            inner.save_pretrained(str(model_dir / "adapter"), safe_serialization=True)
            log.info(f"adapter saved to {model_dir / 'adapter'}")
            if cfg.merge_adapter and merge:
                merge_lora(inner, out_dtype).save_pretrained(
                    str(model_dir), safe_serialization=True, max_shard_size=cfg.max_shard_size
                )
        elif state_dict is not None:
            inner.save_pretrained(
                str(model_dir),
                state_dict={k: v.to(out_dtype) for k, v in state_dict.items()},
                safe_serialization=True,
                max_shard_size=cfg.max_shard_size,
            )
        else:
            inner.to(out_dtype).save_pretrained(
                str(model_dir), safe_serialization=True, max_shard_size=cfg.max_shard_size
            )
        if cfg.method == "full" or (cfg.merge_adapter and merge):
            copy_tokenizer(base_dir, model_dir)
        log.info(f"model saved to {model_dir} ({out_dtype})")
    barrier(env)
    return model_dir
