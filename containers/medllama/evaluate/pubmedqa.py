"""PubMedQA (PQA-L, official 500-item test split) scored like lm-evaluation-harness ``pubmedqa``.

Prompt (research/medical-llm.md §5): ``Abstract: {CONTEXTS joined by \\n}\\nQuestion: {QUESTION}\\nAnswer:``;
choices `` yes`` / `` no`` / `` maybe`` (the harness' default target delimiter is one space); prediction =
the choice with the highest summed log-likelihood of its tokens given the prompt (the harness' ``acc``).
The conclusion (LONG_ANSWER) is never shown. As in the harness, the continuation's tokens are those of
``tokenize(prompt + choice)`` after the prompt's tokens, and a too-long input is truncated on the left.
We prepend ``<s>`` (Llama's training framing); the harness' HF backend does not by default, so absolute
numbers can differ slightly from published harness runs, while the base-vs-tuned comparison is exact.
Metrics: accuracy and macro-F1 (PubMedQA's official evaluation.py), paired tests base vs tuned.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from medllama.evaluate.perplexity import padded_batches

LABELS = ("yes", "no", "maybe")
ORI_FILE = "ori_pqal.json"
TEST_FILE = "test_ground_truth.json"


class BenchmarkError(ValueError):
    """The benchmark files are missing or malformed; the message names the file and the item."""


@dataclass(frozen=True)
class Item:
    id: str
    prompt: str
    label: str


def build_prompt(contexts: Sequence[str], question: str) -> str:
    return "Abstract: " + "\n".join(contexts) + "\nQuestion: " + question + "\nAnswer:"


def load_pubmedqa(folder: str | Path, limit: int = 0) -> list[Item]:
    """The test items (``test_ground_truth.json`` ids, sorted) with prompts from ``ori_pqal.json``."""
    root = Path(folder)
    paths = {name: root / name for name in (ORI_FILE, TEST_FILE)}
    for path in paths.values():
        if not path.is_file():
            raise BenchmarkError(f"{path}: missing (PubMedQA needs {ORI_FILE} and {TEST_FILE})")
    try:
        ori = json.loads(paths[ORI_FILE].read_text(encoding="utf-8"))
        truth = json.loads(paths[TEST_FILE].read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BenchmarkError(f"{root}: not valid JSON ({err})") from None
    if not isinstance(ori, dict) or not isinstance(truth, dict) or not truth:
        raise BenchmarkError(f"{root}: expected JSON objects keyed by PMID, and a non-empty test set")
    items = []
    for pmid in sorted(truth):
        label = truth[pmid]
        if label not in LABELS:
            raise BenchmarkError(f"{paths[TEST_FILE]}: item {pmid} has label {label!r}, expected one of {LABELS}")
        entry = ori.get(pmid)
        if not isinstance(entry, dict):
            raise BenchmarkError(f"{paths[ORI_FILE]}: test item {pmid} is missing")
        contexts, question = entry.get("CONTEXTS"), entry.get("QUESTION")
        if (
            not isinstance(contexts, list)
            or not all(isinstance(c, str) for c in contexts)
            or not isinstance(question, str)
        ):
            raise BenchmarkError(f"{paths[ORI_FILE]}: item {pmid} needs CONTEXTS (list of strings) and QUESTION")
        if entry.get("final_decision", label) != label:
            raise BenchmarkError(
                f"{root}: item {pmid}: test label {label!r} != final_decision {entry.get('final_decision')!r}"
            )
        items.append(Item(id=pmid, prompt=build_prompt(contexts, question), label=label))
    return items[:limit] if limit > 0 else items


@dataclass(frozen=True)
class Request:
    """One (prompt, choice) pair: score Σ log p(continuation tokens | context tokens)."""

    context: list[int]
    continuation: list[int]


def build_requests(tokenizer, items: Sequence[Item], max_len: int) -> tuple[list[Request], int]:
    """Three requests per item (yes, no, maybe order), and how many items were truncated on the left."""
    return build_choice_requests(tokenizer, [i.prompt for i in items], LABELS, max_len)


def build_choice_requests(
    tokenizer, prompts: Sequence[str], choices: Sequence[str], max_len: int
) -> tuple[list[Request], int]:
    """``len(choices)`` requests per prompt (choice order), continuation = ``" " + choice``; and how many
    prompts were truncated on the left. Shared with MedMCQA/MedQA (:mod:`medllama.evaluate.mcqa`)."""
    requests: list[Request] = []
    truncated = 0
    for prompt in prompts:
        context = tokenizer.encode(prompt)
        was_truncated = False
        for choice in choices:
            # the harness' split: the choice's tokens are those of prompt + choice past the prompt's length
            whole = tokenizer.encode(prompt + " " + choice)
            cont = whole[len(context) :]
            ctx = [tokenizer.start_id, *whole[: len(context)]]  # BOS, or EOS for a base without BOS
            if len(ctx) + len(cont) > max_len:
                ctx = ctx[len(ctx) + len(cont) - max_len :]
                was_truncated = True
            requests.append(Request(ctx, cont))
        truncated += was_truncated
    return requests, truncated


def continuation_logprobs(
    model,
    requests: Sequence[Request],
    *,
    batch_size: int,
    device: str = "cpu",
    pad_id: int = 0,
    on_batch: Callable[[int], None] | None = None,
) -> list[float]:
    """Σ log p(continuation | context) per request (natural log), batched with right padding."""
    import torch

    seqs = [r.context + r.continuation for r in requests]
    out = [0.0] * len(seqs)
    with torch.inference_mode():
        for chunk, ids, mask in padded_batches(seqs, batch_size, pad_id):
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            for row, i in enumerate(chunk):
                n_ctx, n_cont = len(requests[i].context), len(requests[i].continuation)
                # logits at position t predict token t+1
                pos = torch.arange(n_ctx - 1, n_ctx + n_cont - 1, device=logits.device)
                logp = torch.log_softmax(logits[row, pos].float(), dim=-1)
                target = torch.as_tensor(requests[i].continuation, dtype=torch.long, device=logits.device)
                out[i] = float(logp.gather(1, target[:, None]).sum().double().item())
            del logits
            if on_batch is not None:
                on_batch(int(mask.sum().item()))
    return out


def choose(logprobs: Sequence[float]) -> str:
    """The label with the highest log-likelihood (``LABELS`` order breaks ties)."""
    return choose_among(LABELS, logprobs)


def choose_among(choices: Sequence[str], logprobs: Sequence[float]) -> str:
    """The choice with the highest log-likelihood (earlier choices win ties)."""
    if len(logprobs) != len(choices) or not all(math.isfinite(x) for x in logprobs):
        raise ValueError(f"expected {len(choices)} finite log-likelihoods, got {list(logprobs)}")
    best = max(range(len(choices)), key=lambda k: (logprobs[k], -k))
    return choices[best]


def predictions(items: Sequence[Item], logprobs: Sequence[float]) -> list[str]:
    """Per-item predictions from the flat ``[yes, no, maybe] × items`` log-likelihood list."""
    if len(logprobs) != len(LABELS) * len(items):
        raise ValueError(f"{len(items)} items need {len(LABELS) * len(items)} scores, got {len(logprobs)}")
    return [choose(logprobs[k * len(LABELS) : (k + 1) * len(LABELS)]) for k in range(len(items))]
