"""Known-answer tests for perplexity and bits per byte (medllama.evaluate.perplexity)."""

from __future__ import annotations

import math

import pytest
from test_evaluate_helpers import BigramLM, FakeTokenizer, UniformLM

from medllama.evaluate.perplexity import bits_per_byte, corpus_perplexity, frame_document, score_documents
from medllama.evaluate.requests import Request, continuation_logprobs, rolling_windows

# P(next | current) over a 4-token vocabulary; row = current token
TABLE = [
    [0.125, 0.5, 0.25, 0.125],  # after 0: P(1) = 1/2
    [0.25, 0.25, 0.25, 0.25],  # after 1: P(2) = 1/4
    [0.5, 0.25, 0.125, 0.125],  # after 2: P(3) = 1/8
    [0.25, 0.25, 0.25, 0.25],
]


def test_rolling_windows_predict_every_token_once() -> None:
    # the harness' get_rolling_token_windows(context_len=1) + make_disjoint_window, max_len 3, prefix 99
    assert rolling_windows(list(range(7)), 99, 3) == [
        Request([99], [0, 1, 2]),
        Request([2], [3, 4, 5]),  # a full window: one token of context
        Request([3, 4, 5], [6]),  # the last, partial window: as much context as fits in 3 positions
    ]
    assert rolling_windows([5], 99, 4096) == [Request([99], [5])]
    assert rolling_windows([], 99, 8) == []
    for n in range(1, 12):
        for max_len in (1, 2, 3, 5):
            windows = rolling_windows(list(range(n)), 99, max_len)
            assert [t for w in windows for t in w.continuation] == list(range(n))
            assert all(w.tokens <= max_len for w in windows)
    with pytest.raises(ValueError):
        rolling_windows([1, 2], 99, 0)


@pytest.mark.parametrize("seq_len,batch_size", [(4, 1), (5, 3), (64, 2)])
def test_uniform_logits_give_perplexity_equal_to_vocab(seq_len: int, batch_size: int) -> None:
    vocab = 50
    docs = [(f"d{i}", "x" * (i + 1), list(range(3 + 4 * i))) for i in range(5)]
    scores = score_documents(UniformLM(vocab), docs, seq_len=seq_len, batch_size=batch_size, prefix_id=1)
    assert corpus_perplexity(scores) == pytest.approx(vocab, rel=1e-6)
    for s in scores:
        assert s.perplexity == pytest.approx(vocab, rel=1e-6)
        assert s.tokens == len(docs[int(s.id[1:])][2])  # every token is predicted
    # bits per byte of a uniform model: tokens * log2(vocab) / bytes
    total_tokens = sum(s.tokens for s in scores)
    total_bytes = sum(len(d[1].encode()) for d in docs)
    assert bits_per_byte(scores) == pytest.approx(total_tokens * math.log2(vocab) / total_bytes)


def test_bits_per_byte_by_hand_one_window() -> None:
    # prefix 0 then tokens 1 2 3: -ln(1/2) - ln(1/4) - ln(1/8) = 6 ln 2 nats = 6 bits; text "hé" = 3 bytes
    (score,) = score_documents(BigramLM(TABLE), [("a", "hé", [1, 2, 3])], seq_len=16, batch_size=2, prefix_id=0)
    assert (score.tokens, score.bytes, score.windows) == (3, 3, 1)
    assert score.nll == pytest.approx(6 * math.log(2))
    assert bits_per_byte([score]) == pytest.approx(2.0)
    assert corpus_perplexity([score]) == pytest.approx(4.0)  # exp(6 ln2 / 3) = 2^2


def test_every_window_is_conditioned_on_the_token_before_it() -> None:
    # seq_len 2: windows [0] -> [1 2], [2] -> [3]: P(1|0) P(2|1) P(3|2) = 1/2 * 1/4 * 1/8 -> 6 bits over 3 tokens
    (score,) = score_documents(BigramLM(TABLE), [("a", "ab", [1, 2, 3])], seq_len=2, batch_size=4, prefix_id=0)
    assert (score.tokens, score.windows) == (3, 2)
    assert score.nll == pytest.approx(6 * math.log(2))
    assert bits_per_byte([score]) == pytest.approx(3.0)


def test_frame_document_follows_the_tokenizer_bos_policy() -> None:
    tok = FakeTokenizer()
    assert frame_document(tok, "ab") == ("ab", [1, 3 + 97 % 5, 3 + 98 % 5])  # no EOS: the harness scores none
    assert frame_document(tok, "abc", max_tokens=3) == ("ab", [1, 3 + 97 % 5, 3 + 98 % 5])


def test_padding_does_not_change_scores_on_the_tiny_model(tiny_base_model) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_base_model).eval()
    reqs = [Request([1, *torch.randint(3, 32000, (n,)).tolist()], [7, 8]) for n in (5, 17, 9, 2, 0)]
    one_by_one = continuation_logprobs(model, reqs, batch_size=1)
    batched = continuation_logprobs(model, reqs, batch_size=4)
    assert batched == pytest.approx(one_by_one, rel=1e-4)


class _CountingLM:
    """Wraps a model and counts the sequences (rows) it reads."""

    def __init__(self, model) -> None:
        self.model, self.rows = model, 0

    def __call__(self, input_ids, attention_mask=None):
        self.rows += int(input_ids.shape[0])
        return self.model(input_ids=input_ids, attention_mask=attention_mask)


def test_choices_that_share_their_input_are_read_once_and_score_as_read_alone(tiny_base_model) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from medllama.evaluate.requests import model_inputs

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_base_model).eval()
    ctx = [1, *torch.randint(3, 32000, (9,)).tolist()]
    reqs = [
        *(Request(ctx, [k]) for k in (319, 350, 315, 360)),  # one-token choices: the same input, ctx
        Request(ctx, [319, 7]),  # two tokens: reads ctx + [319]
        Request([*ctx, 319], [7]),  # another context with the same input as the one before
        Request(ctx[:5], [8]),
    ]
    seqs, of_request = model_inputs(reqs)
    assert seqs == [ctx, [*ctx, 319], ctx[:5]] and of_request == [0, 0, 0, 0, 1, 1, 2]
    alone = [continuation_logprobs(model, [r], batch_size=1)[0] for r in reqs]
    counting = _CountingLM(model)
    shared = continuation_logprobs(counting, reqs, batch_size=2)
    assert counting.rows == 3
    assert shared == pytest.approx(alone, rel=1e-5)
    # the last two differ in context, not input: the same token 7 after the same prefix scores the same
    assert shared[5] == pytest.approx(alone[4] - alone[0], rel=1e-4)
