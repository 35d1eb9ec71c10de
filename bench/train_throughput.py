"""Training throughput of the MedLlama train step's model path: Llama-2-7B shape, BF16, LoRA, packed seq.

Random weights (speed does not depend on them) and random tokens; the same model construction (SDPA,
peft LoRA on all linear layers, non-reentrant gradient checkpointing), autocast and fused AdamW as
``medllama.train``. For each variant it runs a few warmup steps, then times ``--steps`` steps between
``torch.cuda.synchronize()`` calls, and prints tokens/s/GPU and MFU against ``--peak_tflops``
(989 = H100 SXM dense BF16). MFU uses the project convention 6N + 12·L·d·T per token (N = all base
parameters, also for LoRA); ``executed_mfu`` uses what LoRA really computes (4N + 8·L·d·T, recomputation
not counted). ``--tiny`` runs the same code on CPU with a tiny shape (a smoke test, numbers meaningless).

    .venv/bin/python bench/train_throughput.py                       # 1 GPU, micro-batch 1 and 2, ckpt on/off
    .venv/bin/python bench/train_throughput.py --micro_batch 4 --checkpointing on --compile
    .venv/bin/python bench/train_throughput.py --tiny
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "containers"))
from medllama.train.config import LLAMA_LINEAR_LAYERS
from medllama.train.metrics import flops_per_token, lora_executed_flops_per_token, mfu
from medllama.train.model import add_lora, enable_gradient_checkpointing

LLAMA2_7B = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
             "num_key_value_heads": 32, "vocab_size": 32000, "max_position_embeddings": 4096}  # fmt: skip
TINY = {"hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 4, "vocab_size": 32000, "max_position_embeddings": 512}  # fmt: skip


def build(
    shape: dict,
    device: torch.device,
    dtype: torch.dtype,
    *,
    lora_r: int,
    checkpointing: bool,
    compile_: bool,
):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        **shape, rms_norm_eps=1e-5, tie_word_embeddings=False, use_cache=False
    )
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(
        dtype
    )  # initialise directly in bf16 on the GPU (no fp32 copy of 7B)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(default)
    n_params = sum(p.numel() for p in model.parameters())
    if checkpointing:
        enable_gradient_checkpointing(model)  # what Train does on a GPU
    model = add_lora(model, lora_r, 2 * lora_r, 0.05, list(LLAMA_LINEAR_LAYERS), seed=0)
    if compile_:
        for module in model.modules():
            if type(module).__name__ == "LlamaDecoderLayer":
                module.compile()
    return model, config, n_params


def run_variant(
    args: argparse.Namespace, micro_batch: int, checkpointing: bool
) -> dict:
    device = torch.device(
        "cpu" if args.tiny or not torch.cuda.is_available() else "cuda"
    )
    on_gpu = device.type == "cuda"
    dtype = torch.bfloat16 if on_gpu else torch.float32
    shape = TINY if args.tiny else LLAMA2_7B
    seq_len = args.seq_len or (64 if args.tiny else 4096)
    model, config, n_params = build(
        shape,
        device,
        dtype,
        lora_r=args.lora_r,
        checkpointing=checkpointing,
        compile_=args.compile and on_gpu,
    )
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, fused=on_gpu)
    gen = torch.Generator(device="cpu").manual_seed(0)
    batch = torch.randint(
        3, shape["vocab_size"], (micro_batch, seq_len), generator=gen
    ).to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_gpu)

    def step() -> None:
        with autocast:
            loss = model(input_ids=batch, labels=batch, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    if on_gpu:
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        step()
    if on_gpu:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if on_gpu:
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start
    tps = args.steps * micro_batch * seq_len / elapsed
    L, d = config.num_hidden_layers, config.hidden_size
    result = {
        "device": torch.cuda.get_device_name(device) if on_gpu else "cpu",
        "shape": "tiny" if args.tiny else "llama-2-7b",
        "seq_len": seq_len,
        "micro_batch": micro_batch,
        "checkpointing": checkpointing,
        "compile": bool(args.compile and on_gpu),
        "lora_r": args.lora_r,
        "n_params": n_params,
        "step_seconds": elapsed / args.steps,
        "tokens_per_second_per_gpu": tps,
        "mfu": mfu(tps, flops_per_token(n_params, L, d, seq_len), args.peak_tflops),
        "executed_mfu": mfu(
            tps,
            lora_executed_flops_per_token(n_params, L, d, seq_len),
            args.peak_tflops,
        ),
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30
        if on_gpu
        else None,
    }
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="tiny shape on CPU (smoke test of this script)",
    )
    parser.add_argument(
        "--seq_len", type=int, default=0, help="default 4096 (64 with --tiny)"
    )
    parser.add_argument("--micro_batch", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--checkpointing", choices=["on", "off"], nargs="+", default=["on", "off"]
    )
    parser.add_argument("--lora_r", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument(
        "--peak_tflops",
        type=float,
        default=989.0,
        help="dense BF16 peak per GPU (H100 SXM: 989)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile each decoder layer (GPU)"
    )
    return parser.parse_args(argv)


def measure(args: argparse.Namespace) -> list[dict]:
    """Runs every micro-batch x checkpointing variant; prints one ``bench`` line each and returns the results."""
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    results = []
    for mb in args.micro_batch:
        for ckpt in args.checkpointing:
            try:
                r = run_variant(args, mb, ckpt == "on")
            except torch.cuda.OutOfMemoryError:
                r = {
                    "micro_batch": mb,
                    "checkpointing": ckpt == "on",
                    "error": "out of memory",
                }
                torch.cuda.empty_cache()
            results.append(r)
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if "error" in r:
                print(
                    f"bench micro_batch={mb} checkpointing={ckpt}: {r['error']}",
                    flush=True,
                )
            else:
                print(
                    f"bench micro_batch={mb} checkpointing={ckpt} seq_len={r['seq_len']} "
                    f"tokens_per_second_per_gpu={r['tokens_per_second_per_gpu']:.1f} mfu={r['mfu']:.4f} "
                    f"executed_mfu={r['executed_mfu']:.4f} step_s={r['step_seconds']:.4f} "
                    f"peak_mem_gib={r['peak_memory_gib']}",
                    flush=True,
                )
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = measure(args)
    print(json.dumps({"peak_tflops": args.peak_tflops, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
