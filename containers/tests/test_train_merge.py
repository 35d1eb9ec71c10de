"""The LoRA merge: fp32, cast once, and what the bf16 model it writes costs against the adapter it was trained as.

As on a GPU, the tiny base model is loaded in bf16 with fp32 LoRA adapters (medllama.train.model.add_lora); the
adapters get a trained-like B (peft initializes it to zero). The reference is the adapter model's function computed
in fp32 (the bf16 base weights are exact in fp32); the merged bf16 model is run in fp32 too, so the difference is the
rounding of the merged weights alone.

Tolerance: PyTorch's own tolerance for bf16 results, ``torch.testing.assert_close``'s default rtol of 1.6e-2 for
bfloat16, applied to the logits' scale (max |logit|): an elementwise rtol cannot hold near zero, where any absolute
error is large relative to the value. The adapter's own effect on the logits is asserted to exceed that tolerance
several times, so a merge that lost the update would fail.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from medllama.train.merge import MergeError, lora_delta_fp32, merge_lora
from medllama.train.model import add_lora

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
BF16_RTOL = 1.6e-2  # torch.testing.assert_close default rtol for torch.bfloat16


@pytest.fixture(scope="module")
def adapter_model(tiny_base_model: Path):
    """The tiny base in bf16 with fp32 LoRA adapters whose B is random: ΔW about 4% of W (a trained adapter's order)."""
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_base_model, dtype=torch.bfloat16)
    model = add_lora(base, r=8, alpha=16, dropout=0.0, targets=TARGETS, seed=0)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 2e-3)
    return model.eval()


def _lora_layers(model):
    from peft.tuners.lora import LoraLayer

    return [(n, m) for n, m in model.named_modules() if isinstance(m, LoraLayer)]


def _logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.float()(input_ids=ids).logits


def test_merge_is_fp32_then_one_cast(adapter_model) -> None:
    expected = {
        name.removeprefix("base_model.model.") + ".weight": (
            layer.get_base_layer().weight.float() + lora_delta_fp32(layer, "default")
        ).to(torch.bfloat16)
        for name, layer in _lora_layers(adapter_model)
    }
    originals = {k: v.clone() for k, v in adapter_model.get_base_model().state_dict().items() if "lora_" not in k}
    merged = merge_lora(copy.deepcopy(adapter_model), torch.bfloat16).state_dict()
    assert len(expected) == 2 * len(TARGETS)
    for key, value in merged.items():
        assert value.dtype == torch.bfloat16, key
        want = expected[key] if key in expected else originals[key]  # not adapted: the base weight, untouched
        assert torch.equal(value, want), key
    # Rounding the delta to bf16 before adding it (peft's path for bf16 adapters) rounds twice and lands elsewhere:
    # the equality above is a check a double-rounding merge fails.
    name, layer = _lora_layers(adapter_model)[0]
    twice = layer.get_base_layer().weight + lora_delta_fp32(layer, "default").to(torch.bfloat16)
    assert not torch.equal(twice, expected[name.removeprefix("base_model.model.") + ".weight"])


def test_merged_logits_match_the_adapter_within_bf16_tolerance(adapter_model, record_property) -> None:
    ids = torch.randint(3, 32000, (2, 48), generator=torch.Generator().manual_seed(2))
    reference = _logits(copy.deepcopy(adapter_model), ids)  # the trained function: bf16 base + fp32 adapters
    merged = _logits(merge_lora(copy.deepcopy(adapter_model), torch.bfloat16), ids)
    plain = copy.deepcopy(adapter_model)
    with plain.disable_adapter():
        without_update = _logits(plain, ids)
    scale = reference.abs().max().item()
    error = (merged - reference).abs().max().item()
    lost = (without_update - reference).abs().max().item()
    print(
        f"\nmerged (bf16) vs adapter (fp32) logits: max |error| {error:.3e} = {error / scale:.2e} of max |logit| "
        f"{scale:.3f} (tolerance {BF16_RTOL:g}); the adapter's own effect {lost:.3e}"
    )
    record_property("merge_max_logit_error", error)
    record_property("merge_relative_logit_error", error / scale)
    assert error <= BF16_RTOL * scale
    assert lost >= 2 * BF16_RTOL * scale  # a merge that dropped the update would fail the line above


def test_fp32_output_is_the_exact_sum(adapter_model) -> None:
    """With an fp32 output (CPU training) nothing is rounded beyond fp32 arithmetic."""
    name, layer = _lora_layers(adapter_model)[0]
    exact = layer.get_base_layer().weight.float() + lora_delta_fp32(layer, "default")
    merged = merge_lora(copy.deepcopy(adapter_model), torch.float32).state_dict()
    assert torch.equal(merged[name.removeprefix("base_model.model.") + ".weight"], exact)


def test_unsupported_adapters_are_refused(adapter_model) -> None:
    model = copy.deepcopy(adapter_model)
    _, layer = _lora_layers(model)[0]
    layer.lora_bias["default"] = True
    with pytest.raises(MergeError, match="only plain LoRA is merged here"):
        merge_lora(model, torch.bfloat16)
