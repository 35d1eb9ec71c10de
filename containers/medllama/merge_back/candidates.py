"""Merge-back candidates: what to build from the base and the tuned model, and building them.

A candidate is named by a spec: ``tuned`` (the tuned model as trained), ``linear:t=0.5``, ``slerp:t=0.5``,
``ties:weight=0.5,density=0.5`` or ``dare_ties:weight=0.5,density=0.5`` (weights of the tuned model; the base is
the reference). BioMistral merged its PMC-trained model back into Mistral-7B-Instruct with DARE-TIES and SLERP at
0.5 (Labrak et al. 2024): the default candidates are ``tuned`` and ``slerp:t=0.5``.

Every tensor is merged in fp32 and cast once to the tuned model's dtype. DARE's random drop is seeded per tensor
from (seed, tensor name), so a candidate is the same bytes whatever the order or the machine that builds it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import methods

DEFAULT_CANDIDATES = ("tuned", "slerp:t=0.5")

# method → its parameters and their defaults (None: required)
PARAMETERS: dict[str, dict[str, float | None]] = {
    "tuned": {},
    "linear": {"t": None},
    "slerp": {"t": None},
    "ties": {"weight": None, "density": 0.5},
    "dare_ties": {"weight": None, "density": 0.5},
}


#: A parameter's number: decimal, optional exponent (no inf, nan or ``_``; the TypeScript parser uses the same pattern).
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class CandidateError(ValueError):
    """A candidate spec or the models cannot be merged; the message names the spec or the tensor."""


@dataclass(frozen=True)
class Candidate:
    method: str
    params: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """A folder name: ``slerp-t0.5``, ``dare_ties-weight0.5-density0.5``, ``tuned``."""
        return "-".join([self.method, *(f"{k}{v:g}" for k, v in self.params.items())])

    @classmethod
    def parse(cls, spec: str) -> Candidate:
        method, _, rest = spec.strip().partition(":")
        if method not in PARAMETERS:
            raise CandidateError(
                f"candidate {spec!r}: unknown method {method!r}, expected one of {sorted(PARAMETERS)}"
            )
        allowed = PARAMETERS[method]
        given: dict[str, float] = {}
        for part in filter(None, rest.split(",")):
            key, eq, value = part.partition("=")
            key = key.strip()
            if key not in allowed or not eq:
                raise CandidateError(
                    f"candidate {spec!r}: {part!r} is not key=value with a key of {sorted(allowed) or 'none'}"
                )
            if not NUMBER.fullmatch(value.strip()):
                raise CandidateError(f"candidate {spec!r}: {key}={value!r} is not a number")
            given[key] = float(value)
        params: dict[str, float] = {}
        for key, default in allowed.items():
            if key not in given and default is None:
                raise CandidateError(f"candidate {spec!r}: {key} is required (e.g. {method}:{key}=0.5)")
            params[key] = given.get(key, default)  # type: ignore[assignment]
            if not 0 <= params[key] <= 1 or (key == "density" and params[key] == 0):
                interval = "(0, 1]" if key == "density" else "[0, 1]"
                raise CandidateError(f"candidate {spec!r}: {key}={params[key]:g}, expected a number in {interval}")
        return cls(method, params)


def parse_candidates(text: str) -> list[Candidate]:
    """The candidates of a ``--candidates`` / ``MergeCandidates`` value: ``tuned`` first (always evaluated), then each
    spec in the order given. Specs are separated by spaces or commas; a ``key=value`` part without a method belongs
    to the spec before it, so ``"tuned, ties:weight=0.5,density=0.3 slerp:t=0.5"`` is three specs. ``tuned`` may be
    named (it stays first); a name given twice, or a parameter before any method, is a :class:`CandidateError`.
    pipeline-steps/merge-candidates.ts implements the same grammar (a shared fixture holds them equal)."""
    specs: list[str] = []
    for token in (t for t in re.split(r"[\s,]+", text.strip()) if t):
        if ":" not in token and "=" in token:
            if not specs or ":" not in specs[-1]:
                raise CandidateError(f"{token!r} has no method before it (e.g. ties:weight=0.5,{token})")
            specs[-1] += f",{token}"
        else:
            specs.append(token)
    out = [Candidate("tuned")]
    for spec in specs:
        candidate = Candidate.parse(spec)
        if candidate.method == "tuned":
            if candidate.params:
                raise CandidateError(f"candidate {spec!r}: tuned takes no parameters")
            continue
        if any(c.name == candidate.name for c in out):
            raise CandidateError(f"candidate {spec!r}: {candidate.name} is given twice")
        out.append(candidate)
    return out


def tensor_seed(seed: int, name: str) -> int:
    """DARE's generator seed for one tensor: independent of the order tensors are merged in."""
    return int.from_bytes(hashlib.sha256(f"{seed}|{name}".encode()).digest()[:8], "little") & (2**63 - 1)


def merge_tensor(candidate: Candidate, name: str, base: torch.Tensor, tuned: torch.Tensor, seed: int) -> torch.Tensor:
    """One tensor of ``candidate`` in the tuned tensor's dtype (computed in fp32)."""
    if base.shape != tuned.shape:
        raise CandidateError(f"tensor {name}: base shape {tuple(base.shape)} != tuned shape {tuple(tuned.shape)}")
    if not tuned.is_floating_point():
        return tuned
    p = candidate.params
    if candidate.method == "tuned":
        return tuned
    if candidate.method == "linear":
        out = methods.linear(base, tuned, p["t"])
    elif candidate.method == "slerp":
        out = methods.slerp(base, tuned, p["t"])
    elif candidate.method == "ties":
        out = methods.ties(base, [tuned], [p["weight"]], p["density"], normalize=True)
    else:
        gen = torch.Generator().manual_seed(tensor_seed(seed, name))
        out = methods.ties(base, [tuned], [p["weight"]], p["density"], normalize=False, generator=gen)
    return out.to(tuned.dtype)


def merge_state(
    candidate: Candidate,
    base: Callable[[str], torch.Tensor],
    tuned: dict[str, torch.Tensor] | Iterator[tuple[str, torch.Tensor]],
    seed: int,
) -> dict[str, torch.Tensor]:
    """Every tensor of the tuned model merged with the base's tensor of the same name (``base(name)``), in name
    order; a tensor the base lacks is a :class:`CandidateError`."""
    items = sorted(tuned.items() if isinstance(tuned, dict) else tuned)
    out = {}
    for name, tensor in items:
        try:
            reference = base(name)
        except KeyError:
            raise CandidateError(f"tensor {name}: in the tuned model but not in the base") from None
        out[name] = merge_tensor(candidate, name, reference, tensor, seed)
    return out


def build(candidate: Candidate, base_dir: Path, tuned_dir: Path, out_dir: Path, seed: int) -> dict:
    """Writes ``candidate`` as an HF model folder (the tuned folder's config and tokenizer files, merged
    safetensors); returns its record for the merge report."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    base_files = {n: f for f in sorted(base_dir.glob("*.safetensors")) for n in _keys(f)}
    tuned_files = sorted(tuned_dir.glob("*.safetensors"))
    if not tuned_files:
        raise CandidateError(f"{tuned_dir}: no *.safetensors (a LoRA run's model_dir holds the merged model too)")
    out_dir.mkdir(parents=True, exist_ok=True)
    for extra in sorted(tuned_dir.iterdir()):
        if extra.is_file() and extra.suffix != ".safetensors" and extra.name != "model.safetensors.index.json":
            (out_dir / extra.name).write_bytes(extra.read_bytes())
    index: dict[str, str] = {}

    def base_tensor(name: str) -> torch.Tensor:
        with safe_open(base_files[name], framework="pt") as fh:
            return fh.get_tensor(name)

    for path in tuned_files:
        with safe_open(path, framework="pt") as fh:
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118
        merged = merge_state(candidate, base_tensor, tensors, seed)
        save_file(merged, out_dir / path.name, metadata={"format": "pt"})
        index.update(dict.fromkeys(merged, path.name))
    if len(tuned_files) > 1:
        (out_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": index}, indent=1))
    return {"name": candidate.name, "method": candidate.method, "params": candidate.params, "seed": seed}


def _keys(path: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(path, framework="pt") as fh:
        return list(fh.keys())
