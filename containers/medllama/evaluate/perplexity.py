"""Token perplexity and bits per byte of a causal LM over documents, per document, framed as lm-evaluation-harness
0.4.13 frames ``loglikelihood_rolling`` (the ``wikitext`` task's word/byte perplexity and bits per byte).

Definitions (DESIGN §4.6; docs/evaluation.md "Held-out perplexity"):
- A document is the harness' ``tok_encode(text)``: the tokenizer's own BOS policy (``<s>`` first for Llama 2,
  nothing for SmolLM2), then the text's ids; no EOS (:func:`frame_document`).
- Its ids are cut into rolling windows of at most ``seq_len`` positions (:func:`~medllama.evaluate.requests.
  rolling_windows`): the first window predicts its ids after the tokenizer's prefix token (BOS, or EOS for a base
  without BOS), each later one predicts the next ``seq_len`` ids after the one token before them (the last,
  partial window after as much preceding text as fits). Every id of the document is predicted exactly once, so a
  Llama document's own ``<s>`` is scored after the prefix ``<s>``, as the harness does.
- Per document: ``nll`` = Σ −ln p(id) in nats over its ids, ``tokens`` = how many ids that is, ``bytes`` = UTF-8
  bytes of the text.
- Corpus token perplexity = exp(Σ nll / Σ tokens) (token-weighted, not a mean of document perplexities);
  bits per byte = Σ nll / ln 2 / Σ bytes (tokenizer-agnostic; the harness' ``bits_per_byte``).

The model is duck-typed: anything callable as ``model(input_ids=..., attention_mask=...)`` that returns
an object with ``.logits`` of shape ``[batch, time, vocab]`` (a transformers causal LM, or a test double).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from medllama.evaluate.requests import Request, continuation_logprobs, harness_encode, rolling_windows

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


def frame_document(tokenizer, text: str, max_tokens: int = 0) -> tuple[str, list[int]]:
    """``(text, ids)`` of a document as the harness encodes it (:func:`~medllama.evaluate.requests.harness_encode`).
    ``max_tokens > 0`` keeps its first ``max_tokens`` ids and the text they cover (decoded), so bits per byte
    stay per byte of what was scored."""
    ids = harness_encode(tokenizer, text)
    if 0 < max_tokens < len(ids):
        ids = ids[:max_tokens]
        text = tokenizer.decode(ids[len(tokenizer.prefix) :])
    return text, ids


def score_documents(
    model,
    docs: Sequence[tuple[str, str, Sequence[int]]],
    *,
    seq_len: int,
    batch_size: int,
    prefix_id: int,
    device: str = "cpu",
    pad_id: int = 0,
    on_batch: Callable[[int], None] | None = None,
) -> list[DocumentScore]:
    """Scores ``(id, text, ids)`` documents (``ids`` from :func:`frame_document`) in rolling windows of
    ``seq_len`` positions after ``prefix_id`` (the tokenizer's ``start_id``); one :class:`DocumentScore` each."""
    flat: list[Request] = []
    owner: list[int] = []
    for d, (_, _, ids) in enumerate(docs):
        for window in rolling_windows(ids, prefix_id, seq_len):
            flat.append(window)
            owner.append(d)
    logprobs = continuation_logprobs(
        model, flat, batch_size=batch_size, device=device, pad_id=pad_id, on_batch=on_batch
    )
    totals = [0.0] * len(docs)
    counts = [0] * len(docs)
    for d, logprob in zip(owner, logprobs, strict=True):
        totals[d] -= logprob
        counts[d] += 1
    return [
        DocumentScore(id=doc_id, nll=totals[d], tokens=len(ids), bytes=len(text.encode("utf-8")), windows=counts[d])
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
