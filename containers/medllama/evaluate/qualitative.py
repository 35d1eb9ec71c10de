"""Qualitative review set: greedy completions of both models for a fixed prompt set.

The default set (``medllama/data/prompts.jsonl``) is written by us: completion-style prompts for a base
(non-instruct) model covering definitions, mechanisms, clinical reasoning, drug interactions and
safety-sensitive cases (self-harm, unverified treatments, ethics, bias), following the categories of
MEDITRON's physician review and Med-PaLM's rating axes (research/medical-llm.md §7). Output:
``qualitative.jsonl``, one record per prompt with ``base_answer`` and ``tuned_answer`` for blinded
side-by-side rating.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from medllama.jsonl import BadLine, read_jsonl

DEFAULT_PROMPTS = "prompts.jsonl"


class PromptError(ValueError):
    """The prompt file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Prompt:
    id: str
    category: str
    prompt: str


def default_prompts_path() -> Path:
    return Path(str(resources.files("medllama").joinpath("data", DEFAULT_PROMPTS)))


def load_prompts(path: str | Path | None = None) -> list[Prompt]:
    """Prompts from a JSONL file (``id``, ``category``, ``prompt``), in file order; ids must be unique."""
    source = Path(path) if path else default_prompts_path()
    if not source.is_file():
        raise PromptError(f"{source}: prompt file not found")
    prompts: list[Prompt] = []
    seen: set[str] = set()
    for number, item in enumerate(read_jsonl(source), start=1):
        if isinstance(item, BadLine):
            raise PromptError(f"{source}:{item.line}: {item.reason}")
        fields = {k: item.get(k) for k in ("id", "category", "prompt")}
        missing = [k for k, v in fields.items() if not isinstance(v, str) or not v.strip()]
        if missing:
            raise PromptError(f"{source}: record {number} needs non-empty string {', '.join(missing)}")
        if fields["id"] in seen:
            raise PromptError(f"{source}: record {number} repeats id {fields['id']!r}")
        seen.add(fields["id"])
        prompts.append(Prompt(**fields))
    if not prompts:
        raise PromptError(f"{source}: no prompts")
    return prompts


def generate_greedy(
    model,
    tokenizer,
    prompts: Sequence[Prompt],
    *,
    max_new_tokens: int,
    batch_size: int,
    device: str = "cpu",
    max_len: int | None = None,
) -> list[dict]:
    """Greedy continuations (``answer``: decoded new tokens, ``new_tokens``: how many), batched with
    left padding; stops at ``</s>``. Prompts longer than ``max_len - max_new_tokens`` keep their end."""
    import torch
    from transformers import GenerationConfig

    gen_config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        pad_token_id=tokenizer.pad_id,
        eos_token_id=tokenizer.eos_id,
        bos_token_id=tokenizer.bos_id,
    )
    pad_id = tokenizer.pad_id
    encoded = []
    for p in prompts:
        ids = [tokenizer.start_id, *tokenizer.encode(p.prompt)]  # BOS, or EOS for a base without BOS
        if max_len is not None and len(ids) + max_new_tokens > max_len:
            ids = ids[-max(1, max_len - max_new_tokens) :]
        encoded.append(ids)
    results: list[dict] = []
    with torch.inference_mode():
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            width = max(len(x) for x in chunk)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, seq in enumerate(chunk):
                ids[row, width - len(seq) :] = torch.as_tensor(seq, dtype=torch.long)
                mask[row, width - len(seq) :] = 1
            out = model.generate(
                input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=gen_config
            )
            for row in range(len(chunk)):
                new = out[row, width:].tolist()
                if tokenizer.eos_id in new:
                    new = new[: new.index(tokenizer.eos_id)]
                text = tokenizer.decode(new)
                results.append({"answer": text, "new_tokens": len(new)})
    return results


def merge_answers(prompts: Sequence[Prompt], base: Sequence[dict], tuned: Sequence[dict]) -> list[dict]:
    """One qualitative.jsonl record per prompt, in prompt order."""
    if not (len(prompts) == len(base) == len(tuned)):
        raise ValueError("every prompt needs one base and one tuned answer")
    return [
        {
            "id": p.id,
            "category": p.category,
            "prompt": p.prompt,
            "base_answer": b["answer"],
            "tuned_answer": t["answer"],
            "base_new_tokens": b["new_tokens"],
            "tuned_new_tokens": t["new_tokens"],
        }
        for p, b, t in zip(prompts, base, tuned, strict=True)
    ]
