"""Throughput, MFU and the one metric line format that CloudWatch MetricDefinitions scrape.

MFU convention (DESIGN §4.5; llm-foundry / PaLM): one trained token costs ``6·N + 12·L·d·T`` FLOPs, where
N is the number of parameters of the *whole model* (embeddings and LM head included, 6.74e9 for Llama 2
7B), L the layers, d the hidden size and T the sequence length; the attention term counts the full T×T
matrix (no causal-mask discount). We use the same 6N for LoRA: activations flow forward and backward
through the frozen base, only the weight gradients of the base (≈2N) are skipped, so LoRA's real cost is
≈4N + 8·L·d·T (see docs/training.md). Reporting LoRA against 6N makes its MFU comparable with full
fine-tuning as "model tokens/s relative to peak"; ``executed_flops_per_token`` gives the stricter figure.
Activation recomputation (gradient checkpointing) is never counted (that would be HFU).
"""

from __future__ import annotations

import math
import re

# Dense BF16 tensor-core peaks per device, in TFLOPS. Sources: NVIDIA datasheets via
# ../shared/research/performance.md §0 (H100 SXM 989 dense, A100 312). A10G has no published figure;
# 125 is the A10's (an upper bound), so MFU on g5 reads low rather than high.
PEAK_TFLOPS = (("H200", 989.0), ("H100", 989.0), ("A100", 312.0), ("A10G", 125.0), ("L40S", 362.0), ("L4", 121.0))

METRIC_LINE = "metric name={name} value={value} step={step}"
METRIC_RE = re.compile(r"^metric name=([a-z0-9_]+) value=([-+0-9.eE]+|nan|inf|-inf) step=(\d+)$")


def format_metric(name: str, value: float, step: int) -> str:
    """``metric name=train_loss value=1.5e-05 step=10``: Python's repr of the float (shortest round-trip)."""
    return METRIC_LINE.format(name=name, value=repr(float(value)), step=int(step))


def flops_per_token(n_params: int, n_layers: int, hidden: int, seq_len: int) -> float:
    """Model FLOPs of training one token: 6N + 12·L·d·T."""
    return 6.0 * n_params + 12.0 * n_layers * hidden * seq_len


def lora_executed_flops_per_token(n_params: int, n_layers: int, hidden: int, seq_len: int) -> float:
    """What LoRA actually computes per token without recomputation: forward 2N + 4LdT, input grads 2N + 8LdT."""
    return 4.0 * n_params + 8.0 * n_layers * hidden * seq_len


def peak_tflops_for(device_name: str) -> float:
    """Peak dense BF16 TFLOPS of a known GPU name (``NVIDIA H100 80GB HBM3`` → 989), else 0."""
    upper = device_name.upper()
    for key, tflops in PEAK_TFLOPS:
        if key in upper:
            return tflops
    return 0.0


def mfu(tokens_per_second_per_device: float, flops_per_tok: float, peak_tflops: float) -> float:
    """Model FLOPs utilization in [0, 1]; NaN when the peak is unknown."""
    if peak_tflops <= 0:
        return math.nan
    return tokens_per_second_per_device * flops_per_tok / (peak_tflops * 1e12)


def perplexity(loss: float) -> float:
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf
