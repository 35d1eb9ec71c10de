"""FSDP for full fine-tuning: sharding the model, clipping its gradients, gathering its full weights.

Uses FSDP2 (``torch.distributed.fsdp.fully_shard``, per-parameter DTensor sharding): one code path on GPU
(NCCL) and CPU (gloo). FSDP1 (``FullyShardedDataParallel``) refuses CPU-only processes in torch 2.9
("FSDP needs a non-CPU accelerator device") unless told ``device_id=cpu``, and is deprecated; FSDP2 takes
its device from the ``DeviceMesh``, so the tests' 2-process gloo runs exercise the same calls as 8 GPUs.

- Sharding: every decoder layer is its own FSDP unit (all-gathered just before its forward/backward and
  resharded after: ZeRO-3 / ``FULL_SHARD``), then the root takes the rest (embeddings, final norm, LM
  head). Parameters stay fp32 shards (the master weights the optimizer updates).
- Mixed precision (GPU with ``bf16``): parameters are all-gathered and computed in bf16, gradients are
  reduce-scattered in fp32 (``reduce_dtype``) into the fp32 shards. On CPU everything is fp32.
- Gradient accumulation reduce-scatters on every micro-step, which keeps only sharded gradients in memory.
"""

from __future__ import annotations

import torch

from medllama.train.distributed import DistEnv


def shard_model(model: torch.nn.Module, layer_cls: type, env: DistEnv, *, bf16: bool) -> torch.nn.Module:
    """Applies ``fully_shard`` to each ``layer_cls`` module, then to ``model``; returns ``model`` (sharded in
    place, moved to ``env.device``). Call before building the optimizer: parameters become DTensors."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(env.device.type, (env.world_size,))
    mp = (
        MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        if bf16
        else MixedPrecisionPolicy()
    )
    layers = [m for m in model.modules() if isinstance(m, layer_cls)]
    if not layers:
        raise ValueError(f"no {layer_cls.__name__} in {type(model).__name__} to shard")
    for layer in layers:
        fully_shard(layer, mesh=mesh, mp_policy=mp, reshard_after_forward=True)
    fully_shard(model, mesh=mesh, mp_policy=mp)
    return model


def clip_grad_norm(parameters: list[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """Clips the global gradient norm (over all ranks' shards for DTensor gradients); returns the norm
    before clipping as a plain tensor."""
    from torch.distributed.tensor import DTensor

    norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    return norm.full_tensor() if isinstance(norm, DTensor) else norm


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The unsharded weights under their plain names (no FSDP prefixes), gathered to rank 0 on CPU.
    Collective: every rank must call it; ranks other than 0 get ``{}``."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
