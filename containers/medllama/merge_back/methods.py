"""Merge methods on one tensor: the base weight and the tuned weights (several tuned models allowed), in fp32.

The formulas are mergekit 0.1.5's (PyPI ``mergekit``, ``merge_methods/{linear,slerp,generalized_task_arithmetic}.py``
and ``sparsify.py``), which follow the papers; ``containers/tests/test_merge_back.py`` holds them equal to mergekit
when it is importable and to hand-computed cases always. With task vectors ``τ_i = θ_i − θ_base``:

- linear: ``Σ w_i θ_i / Σ w_i`` over the base (weight ``1 − t``) and the tuned model (``t``).
- SLERP (Shoemake 1985, as in mergekit): over the flattened tensors, ``θ = acos(⟨â, b̂⟩)``;
  ``sin((1−t)θ)/sin θ · a + sin(tθ)/sin θ · b``, linear interpolation when ``|⟨â, b̂⟩| > 0.9995``.
- TIES (Yadav et al. 2023): keep the ``max(1, ⌊density · n⌋)`` largest ``|τ_i|`` of each tensor, weight them, elect
  the sign of ``Σ w_i τ_i`` per element (``≥ 0`` counts as +), keep only the agreeing entries, and (``normalize``)
  divide by the sum of the agreeing weights: ``θ = θ_base + Σ_i w_i τ'_i m_i / Σ_i w_i m_i``.
- DARE-TIES (Yu et al. 2023): like TIES, but each ``τ_i`` keeps every element with probability ``density``
  (Bernoulli, from a seeded generator) and is rescaled to its original L1 norm (mergekit's ``rescale``; the
  paper's ``1/density`` has the same expectation); no normalization by default.
"""

from __future__ import annotations

import torch

DOT_THRESHOLD = 0.9995
EPS = 1e-8


def linear(base: torch.Tensor, tuned: torch.Tensor, t: float) -> torch.Tensor:
    """``(1 − t)·base + t·tuned`` (mergekit ``linear`` with weights 1 − t and t, normalized)."""
    a, b = base.to(torch.float32), tuned.to(torch.float32)
    return ((1 - t) * a + t * b) / ((1 - t) + t)


def slerp(base: torch.Tensor, tuned: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of the flattened tensors, ``t`` = 0 the base, 1 the tuned weight."""
    a = base.to(torch.float32).reshape(-1)
    b = tuned.to(torch.float32).reshape(-1)
    norm_a, norm_b = torch.linalg.vector_norm(a), torch.linalg.vector_norm(b)
    norm_a = norm_a if norm_a > EPS else torch.ones_like(norm_a)
    norm_b = norm_b if norm_b > EPS else torch.ones_like(norm_b)
    dot = ((a / norm_a) * (b / norm_b)).sum().clamp(-1, 1)
    if dot.abs() > DOT_THRESHOLD:
        coef_a, coef_b = torch.tensor(1 - t), torch.tensor(t)
    else:
        theta = torch.acos(dot)
        coef_a = torch.sin((1 - t) * theta) / torch.sin(theta)
        coef_b = torch.sin(t * theta) / torch.sin(theta)
    return (coef_a * a + coef_b * b).reshape(base.shape)


def keep_largest(delta: torch.Tensor, density: float) -> torch.Tensor:
    """TIES' trim: the ``max(1, ⌊density · n⌋)`` largest magnitudes of ``delta`` kept, the rest zeroed."""
    if density >= 1:
        return delta
    if density <= 0 or delta.numel() == 0:
        return torch.zeros_like(delta)
    k = max(1, int(density * delta.numel()))
    mask = torch.zeros(delta.numel(), dtype=delta.dtype)
    mask[torch.argsort(delta.abs().reshape(-1).float(), descending=True)[:k]] = 1
    return delta * mask.reshape(delta.shape)


def drop_and_rescale(delta: torch.Tensor, density: float, generator: torch.Generator) -> torch.Tensor:
    """DARE's drop: each element kept with probability ``density``, the result rescaled to ``delta``'s L1 norm."""
    if density >= 1:
        return delta
    mask = torch.bernoulli(torch.full_like(delta, density), generator=generator)
    kept = delta * mask
    before, after = delta.abs().sum(), kept.abs().sum()
    if before < 1e-7 or after < 1e-7:
        return kept
    return kept * (before / after)


def ties(
    base: torch.Tensor,
    tuned: list[torch.Tensor],
    weights: list[float],
    density: float,
    *,
    normalize: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """TIES (``generator`` None: magnitude trim) or DARE-TIES (a ``generator``: random drop and L1 rescale)."""
    base32 = base.to(torch.float32)
    deltas = torch.stack(
        [
            drop_and_rescale(d, density, generator) if generator is not None else keep_largest(d, density)
            for d in (m.to(torch.float32) - base32 for m in tuned)
        ]
    )
    w = torch.tensor(weights, dtype=torch.float32).reshape(-1, *([1] * base.dim()))
    deltas = deltas * w
    majority = (deltas.sum(dim=0) >= 0).to(torch.float32) * 2 - 1
    mask = (deltas.sign() == majority).to(torch.float32)
    mixed = (deltas * mask).sum(dim=0)
    if normalize:
        divisor = (w * mask).sum(dim=0)
        divisor[divisor == 0] = 1
        mixed = mixed / divisor
    return base32 + mixed
