"""Known-answer tests for perplexity and bits per byte (medllama.evaluate.perplexity)."""

from __future__ import annotations

import math

import pytest
from test_evaluate_helpers import BigramLM, FakeTokenizer, UniformLM

from medllama.evaluate.perplexity import (
    bits_per_byte,
    corpus_perplexity,
    frame_document,
    score_documents,
    score_sequences,
    scored_tokens,
    windows_of,
)

# P(next | current) over a 4-token vocabulary; row = current token
TABLE = [
    [0.125, 0.5, 0.25, 0.125],  # after 0: P(1) = 1/2
    [0.25, 0.25, 0.25, 0.25],  # after 1: P(2) = 1/4
    [0.5, 0.25, 0.125, 0.125],  # after 2: P(3) = 1/8
    [0.25, 0.25, 0.25, 0.25],
]


def test_windows_and_scored_tokens() -> None:
    assert windows_of(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert scored_tokens(7, 3) == 2 + 2 + 0
    assert scored_tokens(8, 3) == 2 + 2 + 1
    assert scored_tokens(3, 4096) == 2
    with pytest.raises(ValueError):
        windows_of([1, 2], 1)


@pytest.mark.parametrize("seq_len,batch_size", [(4, 1), (5, 3), (64, 2)])
def test_uniform_logits_give_perplexity_equal_to_vocab(seq_len: int, batch_size: int) -> None:
    vocab = 50
    docs = [(f"d{i}", "x" * (i + 1), list(range(3 + 4 * i))) for i in range(5)]
    scores = score_documents(UniformLM(vocab), docs, seq_len=seq_len, batch_size=batch_size)
    assert corpus_perplexity(scores) == pytest.approx(vocab, rel=1e-6)
    for s in scores:
        assert s.perplexity == pytest.approx(vocab, rel=1e-6)
        assert s.tokens == scored_tokens(len(docs[int(s.id[1:])][2]), seq_len)
    # bits per byte of a uniform model: tokens * log2(vocab) / bytes
    total_tokens = sum(s.tokens for s in scores)
    total_bytes = sum(len(d[1].encode()) for d in docs)
    assert bits_per_byte(scores) == pytest.approx(total_tokens * math.log2(vocab) / total_bytes)


def test_bits_per_byte_by_hand_one_window() -> None:
    # tokens 0 1 2 3, one window: -ln(1/2) - ln(1/4) - ln(1/8) = 6 ln 2 nats = 6 bits; text "hé" = 3 bytes
    (score,) = score_documents(BigramLM(TABLE), [("a", "hé", [0, 1, 2, 3])], seq_len=16, batch_size=2)
    assert score.tokens == 3
    assert score.bytes == 3
    assert score.nll == pytest.approx(6 * math.log(2))
    assert bits_per_byte([score]) == pytest.approx(2.0)
    assert corpus_perplexity([score]) == pytest.approx(4.0)  # exp(6 ln2 / 3) = 2^2


def test_first_token_of_each_window_is_not_scored() -> None:
    # seq_len 2: windows [0 1] [2 3]: only P(1|0) = 1/2 and P(3|2) = 1/8 are scored -> 4 bits over 2 tokens
    (score,) = score_documents(BigramLM(TABLE), [("a", "ab", [0, 1, 2, 3])], seq_len=2, batch_size=4)
    assert (score.tokens, score.windows) == (2, 2)
    assert score.nll == pytest.approx(4 * math.log(2))
    assert bits_per_byte([score]) == pytest.approx(2.0)


def test_frame_document_adds_bos_and_eos() -> None:
    assert frame_document(FakeTokenizer(), "ab") == [1, 3 + 97 % 5, 3 + 98 % 5, 2]


def test_padding_does_not_change_scores_on_the_tiny_model(tiny_base_model) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_base_model).eval()
    seqs = [[1, *torch.randint(3, 32000, (n,)).tolist()] for n in (5, 17, 9, 2, 0)]
    one_by_one = score_sequences(model, seqs, batch_size=1)
    batched = score_sequences(model, seqs, batch_size=4)
    assert batched == pytest.approx(one_by_one, rel=1e-4)
    assert batched[-1] == 0.0  # a one-token sequence has nothing to score
