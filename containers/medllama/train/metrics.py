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
from dataclasses import dataclass


@dataclass(frozen=True)
class Peak:
    """A GPU's dense (no 2:4 sparsity) BF16 tensor-core peak and where the figure comes from."""

    tflops: float
    source: str


# Keyed by the exact torch.cuda.get_device_name() string of each GPU SageMaker offers (g5, g6, g6e, p4d/p4de,
# p5, p5e/p5en) and its PCIe sibling. NVIDIA's datasheets print the with-sparsity figure first; dense is half of it.
# A name that is not here gets no MFU: a substring match would give an H100 PCIe (756) the SXM's 989, or an
# "L4" entry an L40S, and a wrong peak is worse than none.
PEAKS: dict[str, Peak] = {
    # NVIDIA publishes no A10G datasheet; the A10's 125 (250 sparse) is an upper bound (AWS's variant has less tensor
    # throughput; ../shared/research/performance.md §0), so MFU on g5 reads low rather than high.
    "NVIDIA A10G": Peak(125.0, "NVIDIA A10 datasheet, BF16 125 dense / 250 sparse; an upper bound for the A10G"),
    "NVIDIA L4": Peak(121.0, "NVIDIA L4 datasheet, BF16 242 with sparsity"),
    "NVIDIA L40S": Peak(362.05, "NVIDIA L40S datasheet, BF16 362.05 dense / 733 sparse"),
    "NVIDIA A100-SXM4-40GB": Peak(312.0, "NVIDIA A100 datasheet, BF16 312 dense / 624 sparse (SXM and PCIe)"),
    "NVIDIA A100-SXM4-80GB": Peak(312.0, "NVIDIA A100 datasheet, BF16 312 dense / 624 sparse (SXM and PCIe)"),
    "NVIDIA A100-PCIE-40GB": Peak(312.0, "NVIDIA A100 datasheet, BF16 312 dense / 624 sparse (SXM and PCIe)"),
    "NVIDIA A100 80GB PCIe": Peak(312.0, "NVIDIA A100 datasheet, BF16 312 dense / 624 sparse (SXM and PCIe)"),
    "NVIDIA H100 80GB HBM3": Peak(989.0, "NVIDIA H100 datasheet, H100 SXM BF16 1,979 with sparsity"),
    "NVIDIA H100 PCIe": Peak(756.0, "NVIDIA H100 datasheet, H100 PCIe BF16 1,513 with sparsity"),
    "NVIDIA H200": Peak(989.0, "NVIDIA H200 datasheet, H200 SXM BF16 1,979 with sparsity"),
}

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
    """Peak dense BF16 TFLOPS of a GPU named exactly as ``torch.cuda.get_device_name`` names it
    (``NVIDIA H100 80GB HBM3`` → 989, ``NVIDIA H100 PCIe`` → 756); 0 (no MFU) for any other name."""
    peak = PEAKS.get(device_name.strip())
    return peak.tflops if peak else 0.0


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
