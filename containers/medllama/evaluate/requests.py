"""Log-likelihood requests framed as lm-evaluation-harness 0.4.13 frames them for a Hugging Face causal LM
(``HFLM``), and their scoring. Every benchmark and the held-out perplexity go through here, so base and tuned
models (and every merge candidate) score the same token ids.

Framing (read from lm_eval/models/huggingface.py ``tok_encode`` and lm_eval/api/model.py ``_encode_pair``,
re-implemented here; docs/evaluation.md "Agreement with the harness"):

- **BOS follows the tokenizer's own policy** (``HFLM(add_bos_token=None)``, the default): a text is encoded
  with the tokenizer's special tokens, so Llama 2's tokenizer puts ``<s>`` first and SmolLM2's puts nothing.
  Here that is :attr:`BaseTokenizer.prefix` (``[BOS]`` or ``[]``) before the plain ids.
- **A (context, continuation) pair**: trailing whitespace of the context moves to the start of the continuation;
  ``whole = encode(context + continuation)``, ``ctx = encode(context)``, and the continuation's tokens are
  ``whole[len(ctx):]`` (so a merge across the boundary goes to the continuation, as in the harness).
- **Truncation**: the model reads ``(ctx + cont)[-(max_len + 1):][:-1]``; requests keep at most
  ``max_len + 1`` tokens, dropping context from the left, and the last token is never fed.
- **Score**: Σ log p(continuation token | everything before it), natural log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    """One scored pair: Σ log p(continuation tokens | context tokens). The model reads ``context +
    continuation[:-1]``."""

    context: list[int]
    continuation: list[int]

    @property
    def tokens(self) -> int:
        return len(self.context) + len(self.continuation) - 1


def harness_encode(tokenizer, text: str) -> list[int]:
    """``text``'s ids as the harness' ``tok_encode`` gives them: the tokenizer's BOS policy (``prefix``) first."""
    return [*tokenizer.prefix, *tokenizer.encode(text)]


def encode_pair(tokenizer, context: str, continuation: str, max_len: int) -> tuple[Request, bool]:
    """The harness' ``_encode_pair`` of a non-empty ``context`` and its left truncation to ``max_len + 1``
    tokens; and whether it was truncated."""
    if not context:
        raise ValueError("an empty context is not used by any task here")
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = harness_encode(tokenizer, context + continuation)
    n_ctx = len(harness_encode(tokenizer, context))
    ctx, cont = whole[:n_ctx], whole[n_ctx:]
    if not cont:
        raise ValueError(f"continuation {continuation!r} adds no tokens after its context")
    keep = max_len + 1
    truncated = len(ctx) + len(cont) > keep
    if truncated:
        if len(cont) > max_len:
            raise ValueError(f"a continuation of {len(cont)} tokens does not fit {max_len} positions")
        ctx = ctx[len(ctx) + len(cont) - keep :]
    return Request(ctx, cont), truncated


def rolling_windows(token_ids: Sequence[int], prefix_id: int, max_len: int) -> list[Request]:
    """A document's ids as the harness' ``loglikelihood_rolling`` scores them (``get_rolling_token_windows``
    with ``context_len=1``, then ``make_disjoint_window``): every id is predicted exactly once. The first window
    predicts ids[0 : max_len] after ``prefix_id``; each later one predicts the next ``max_len`` ids (fewer at the
    end) with as much preceding text as fits in ``max_len`` positions: one token for a full window, more for
    the last, partial one."""
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    ids = list(token_ids)
    if not ids:
        return []
    first = min(max_len, len(ids))
    out = [Request([prefix_id], ids[:first])]
    done = first
    while done < len(ids):
        n = min(len(ids) - done, max_len)
        end = done + n
        # the harness' window: ids[end - max_len - 1 : end - 1] as input, the last n ids as the prediction;
        # disjoint: the context is the input minus the predicted ids it already contains
        window = ids[end - max_len - 1 : end - 1]
        out.append(Request(window[: len(window) - (n - 1)], ids[done:end]))
        done = end
    return out


def padded_batches(sequences: Sequence[Sequence[int]], batch_size: int, pad_id: int):
    """Right-padded batches of ``sequences`` as CPU tensors ``(indices, input_ids, attention_mask)``, longest
    first so each batch wastes little padding; ``indices`` map rows back to input positions."""
    import torch

    order = sorted(range(len(sequences)), key=lambda i: (-len(sequences[i]), i))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = len(sequences[chunk[0]])
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):
            seq = sequences[i]
            ids[row, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
            mask[row, : len(seq)] = 1
        yield chunk, ids, mask


def model_inputs(requests: Sequence[Request]) -> tuple[list[list[int]], list[int]]:
    """The distinct sequences the model must read for ``requests`` (``context + continuation[:-1]`` each) and, per
    request, the index of its sequence. Choices that differ only in a one-token continuation (" A" / " B" / " C" /
    " D", " yes" / " no" / " maybe") read the same sequence: one forward pass scores them all, as the harness'
    one-token-continuation cache does."""
    index: dict[tuple[int, ...], int] = {}
    sequences: list[list[int]] = []
    of_request: list[int] = []
    for r in requests:
        seq = tuple(r.context + r.continuation[:-1])
        if seq not in index:
            index[seq] = len(sequences)
            sequences.append(list(seq))
        of_request.append(index[seq])
    return sequences, of_request


def continuation_logprobs(
    model,
    requests: Sequence[Request],
    *,
    batch_size: int,
    device: str = "cpu",
    pad_id: int = 0,
    on_batch: Callable[[int], None] | None = None,
) -> list[float]:
    """Σ log p(continuation | context) per request (natural log, float64 sums), batched with right padding, one
    forward pass per distinct model input (:func:`model_inputs`). The model is duck-typed:
    ``model(input_ids=..., attention_mask=...).logits`` of ``[batch, time, vocab]``."""
    import torch

    seqs, of_request = model_inputs(requests)
    readers: list[list[int]] = [[] for _ in seqs]
    for i, s in enumerate(of_request):
        readers[s].append(i)
    out = [0.0] * len(requests)
    with torch.inference_mode():
        for chunk, ids, mask in padded_batches(seqs, batch_size, pad_id):
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            for row, s in enumerate(chunk):
                for i in readers[s]:
                    n_ctx, n_cont = len(requests[i].context), len(requests[i].continuation)
                    # logits at position t predict token t + 1; one request at a time bounds the softmax's memory
                    pos = torch.arange(n_ctx - 1, n_ctx + n_cont - 1, device=logits.device)
                    logp = torch.log_softmax(logits[row, pos].float(), dim=-1)
                    target = torch.as_tensor(requests[i].continuation, dtype=torch.long, device=logits.device)
                    out[i] = float(logp.gather(1, target[:, None]).double().sum().item())
            del logits
            if on_batch is not None:
                on_batch(int(mask.sum().item()))
    return out


__all__ = [
    "Request",
    "continuation_logprobs",
    "encode_pair",
    "harness_encode",
    "model_inputs",
    "padded_batches",
    "rolling_windows",
]
