"""Token perplexity and bits per byte of a causal LM over documents, per document.

Definitions (DESIGN §4.6, research/medical-llm.md "Recommended evaluation design" 1):
- A document is tokenized as ``<s> text </s>`` (as the tokenize step frames documents for training) and
  cut into non-overlapping windows of ``seq_len`` tokens; the last window may be shorter.
- Each window is scored on its own: the loss covers every token of the window except the first (which
  has no context inside the window). A window of one token contributes nothing.
- Per document: ``nll`` = Σ −ln p(token) in nats over the scored tokens, ``tokens`` = how many were scored,
  ``bytes`` = UTF-8 bytes of the document text.
- Corpus token perplexity = exp(Σ nll / Σ tokens) (token-weighted, not a mean of document perplexities);
  bits per byte = Σ nll / ln 2 / Σ bytes (tokenizer-agnostic; the scored ``</s>`` counts towards the
  numerator, the text's bytes are the denominator).

The model is duck-typed: anything callable as ``model(input_ids=..., attention_mask=...)`` that returns
an object with ``.logits`` of shape ``[batch, time, vocab]`` (a transformers causal LM, or a test double).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

LN2 = math.log(2.0)


@dataclass(frozen=True)
class DocumentScore:
    id: str
    nll: float  # nats, summed over scored tokens
    tokens: int  # scored tokens
    bytes: int  # UTF-8 bytes of the text
    windows: int

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll / self.tokens) if self.tokens else math.nan


def windows_of(ids: Sequence[int], seq_len: int) -> list[list[int]]:
    """Non-overlapping windows of at most ``seq_len`` tokens, in order."""
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2, got {seq_len}")
    return [list(ids[i : i + seq_len]) for i in range(0, len(ids), seq_len)]


def scored_tokens(ids_len: int, seq_len: int) -> int:
    """How many tokens a document of ``ids_len`` tokens contributes: one fewer than each window's length."""
    full, rest = divmod(ids_len, seq_len)
    return full * (seq_len - 1) + max(rest - 1, 0)


def frame_document(tokenizer, text: str) -> list[int]:
    """``<s>`` + the text's tokens + ``</s>``: :meth:`medllama.tokenizer.BaseTokenizer.frame`, the tokenize step's
    own framing (any object with a ``frame(text)`` method)."""
    return tokenizer.frame(text)


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


def score_sequences(
    model,
    sequences: Sequence[Sequence[int]],
    *,
    batch_size: int,
    device: str = "cpu",
    pad_id: int = 0,
    on_batch: Callable[[int], None] | None = None,
) -> list[float]:
    """Σ −ln p(x_t | x_<t) over t = 1..len-1 for each sequence (nats, float64), batched with right
    padding. Sequences are grouped by length (longest first) to waste little padding; results come
    back in input order. ``on_batch(tokens_in_batch)`` is called after each forward pass."""
    import torch

    out = [0.0] * len(sequences)
    with torch.inference_mode():
        for chunk, ids, mask in padded_batches(sequences, batch_size, pad_id):
            if ids.shape[1] < 2:
                continue  # one-token windows have nothing to score (out stays 0.0)
            ids, mask = ids.to(device), mask.to(device)
            logits = model(input_ids=ids, attention_mask=mask).logits
            for row, i in enumerate(chunk):
                n = len(sequences[i])
                if n < 2:
                    continue
                # one row at a time in float32: bounds the memory of the vocabulary-wide softmax
                row_logits = logits[row, : n - 1].float()
                nll = torch.nn.functional.cross_entropy(row_logits, ids[row, 1:n], reduction="none")
                out[i] = float(nll.double().sum().item())
            del logits
            if on_batch is not None:
                on_batch(int(mask.sum().item()))
    return out


def score_documents(
    model,
    docs: Sequence[tuple[str, str, Sequence[int]]],
    *,
    seq_len: int,
    batch_size: int,
    device: str = "cpu",
    pad_id: int = 0,
    on_batch: Callable[[int], None] | None = None,
) -> list[DocumentScore]:
    """Scores ``(id, text, framed_token_ids)`` documents; one :class:`DocumentScore` per document."""
    flat: list[list[int]] = []
    owner: list[int] = []
    for d, (_, _, ids) in enumerate(docs):
        for window in windows_of(ids, seq_len):
            flat.append(window)
            owner.append(d)
    nlls = score_sequences(model, flat, batch_size=batch_size, device=device, pad_id=pad_id, on_batch=on_batch)
    totals = [0.0] * len(docs)
    counts = [0] * len(docs)
    for d, nll in zip(owner, nlls, strict=True):
        totals[d] += nll
        counts[d] += 1
    return [
        DocumentScore(
            id=doc_id,
            nll=totals[d],
            tokens=scored_tokens(len(ids), seq_len),
            bytes=len(text.encode("utf-8")),
            windows=counts[d],
        )
        for d, (doc_id, text, ids) in enumerate(docs)
    ]


def pool_by_unit(scores: Sequence[DocumentScore], units: Sequence[str]) -> list[DocumentScore]:
    """One score per resampling unit (e.g. the source file of each document), units in sorted order: NLL, tokens,
    bytes and windows summed over the unit's documents.

    Documents of one file share a topic and an author, so they are not independent draws; the bootstrap must
    resample files. Every statistic here is a ratio of sums, so resampling the pooled units is exactly the cluster
    bootstrap, and corpus values (perplexity, bits per byte) are unchanged by the pooling."""
    if len(scores) != len(units):
        raise ValueError(f"{len(scores)} scores but {len(units)} unit labels")
    pooled: dict[str, list[float]] = {}
    for score, unit in zip(scores, units, strict=True):
        acc = pooled.setdefault(unit, [0.0, 0, 0, 0])
        acc[0] += score.nll
        acc[1] += score.tokens
        acc[2] += score.bytes
        acc[3] += score.windows
    return [
        DocumentScore(id=unit, nll=nll, tokens=int(tokens), bytes=int(nbytes), windows=int(windows))
        for unit, (nll, tokens, nbytes, windows) in sorted(pooled.items())
    ]


def corpus_perplexity(scores: Sequence[DocumentScore]) -> float:
    return math.exp(sum(s.nll for s in scores) / sum(s.tokens for s in scores))


def bits_per_byte(scores: Sequence[DocumentScore]) -> float:
    return sum(s.nll for s in scores) / LN2 / sum(s.bytes for s in scores)


class Throughput:
    """Counts tokens through forward passes and the seconds they took (for tokens/s and ETAs)."""

    def __init__(self) -> None:
        self.tokens = 0
        self.start = time.monotonic()

    def add(self, tokens: int) -> None:
        self.tokens += tokens

    @property
    def seconds(self) -> float:
        return max(time.monotonic() - self.start, 1e-9)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds
