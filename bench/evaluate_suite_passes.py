"""Evaluate's benchmark suite: one forward pass per distinct model input (what Evaluate does,
``requests.model_inputs``) against one pass per choice (the baseline: the same requests scored choice by choice,
so no two inputs of a call are equal), in the same process, on the project's suite fixtures.

Prints the forward tokens and seconds of each, the ratio, and the largest difference of the two sets of scores.

    .venv/bin/python bench/evaluate_suite_passes.py                       # SmolLM2-135M when converted, else tiny
    .venv/bin/python bench/evaluate_suite_passes.py --model runs/.base-model/smollm2 --repeat 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from medllama.evaluate import suite
from medllama.evaluate.requests import continuation_logprobs, model_inputs
from medllama.resources import repo_root
from medllama.tokenizer import load_base_tokenizer

FIXTURES = repo_root() / "fixtures" / "benchmarks-mini"
SMOLLM2 = repo_root() / "runs" / ".base-model" / "smollm2"


def per_choice(model, requests, choices: int, batch_size: int) -> list[float]:
    """The baseline: each choice index scored in its own call, so every input is read once per choice."""
    out = [0.0] * len(requests)
    for k in range(choices):
        scored = continuation_logprobs(
            model, requests[k::choices], batch_size=batch_size
        )
        out[k::choices] = scored
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        help="an HF model folder (default: SmolLM2 if converted, else the tiny model)",
    )
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if args.model:
        folder = Path(args.model)
    elif (SMOLLM2 / "config.json").exists():
        folder = SMOLLM2
    else:
        from medllama.tiny_model import create_tiny_base_model

        folder = create_tiny_base_model(
            Path(tempfile.mkdtemp(prefix="bench-tiny-")) / "model"
        )
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    tokenizer = load_base_tokenizer(folder)
    tasks, _ = suite.load_suite(FIXTURES)
    print(
        f"model {folder}; {len(tasks)} fixture tasks; {torch.get_num_threads()} threads"
    )
    totals = {"distinct": [0, 0.0], "per choice": [0, 0.0]}
    worst = 0.0
    for task in tasks:
        task.build_requests(tokenizer, max_len=2048)
        choices = len(task.items[0].pairs)
        if any(len(item.pairs) != choices for item in task.items):
            continue  # ARC items have 3 to 5 choices: the stride baseline needs a fixed count
        distinct_tokens = sum(len(s) for s in model_inputs(task.requests)[0])
        choice_tokens = sum(r.tokens for r in task.requests)
        for _ in range(args.repeat):
            t = time.perf_counter()
            ours = continuation_logprobs(
                model, task.requests, batch_size=args.batch_size
            )
            totals["distinct"][1] += time.perf_counter() - t
            t = time.perf_counter()
            base = per_choice(model, task.requests, choices, args.batch_size)
            totals["per choice"][1] += time.perf_counter() - t
            totals["distinct"][0] += distinct_tokens
            totals["per choice"][0] += choice_tokens
            worst = max(worst, max(abs(a - b) for a, b in zip(ours, base, strict=True)))
    for name, (tokens, seconds) in totals.items():
        print(f"{name:>10}: {tokens:,} forward tokens in {seconds:.1f}s")
    ratio = totals["per choice"][1] / totals["distinct"][1]
    print(
        f"speed-up (per choice / distinct inputs, time): {ratio:.2f}x; largest score difference {worst:.2e} nats"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
