"""Test doubles for medllama.evaluate: causal LMs with known outputs, duck-typed like transformers'."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch


class UniformLM(torch.nn.Module):
    """Returns all-zero logits: every token has probability 1/vocab, so perplexity = vocab exactly."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> SimpleNamespace:
        return SimpleNamespace(logits=torch.zeros(*input_ids.shape, self.vocab))


class BigramLM(torch.nn.Module):
    """Logits = log P[next | current] from a fixed table (rows sum to 1), so NLLs are known by hand."""

    def __init__(self, table: list[list[float]]) -> None:
        super().__init__()
        self.log_table = torch.tensor([[math.log(p) for p in row] for row in table])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> SimpleNamespace:
        return SimpleNamespace(logits=self.log_table[input_ids])


class FakeTokenizer:
    """Maps characters to ids (bytes of the text), bos = 1, eos = 2: the medllama.tokenizer.BaseTokenizer calls
    that evaluation makes."""

    bos_id = 1
    eos_id = 2
    pad_id = 2
    start_id = 1
    prefix = (1,)  # a tokenizer that adds BOS, as Llama 2's

    def encode(self, text: str) -> list[int]:
        return [3 + (b % 5) for b in text.encode("utf-8")]

    def frame(self, text: str) -> list[int]:
        return [self.bos_id, *self.encode(text), self.eos_id]

    def decode(self, ids) -> str:
        return "".join({5: "a", 6: "b", 7: "c"}.get(i, "?") for i in ids)  # enough for the tests' "abc"


def test_doubles_behave_as_documented() -> None:
    ids = torch.tensor([[0, 1, 2]])
    assert UniformLM(7)(input_ids=ids).logits.shape == (1, 3, 7)
    table = [[0.5, 0.5], [0.25, 0.75]]
    probs = BigramLM(table)(input_ids=torch.tensor([[1, 0]])).logits.exp()
    assert probs[0, 0].tolist() == pytest.approx([0.25, 0.75])
    assert FakeTokenizer().encode("ab") == [3 + 97 % 5, 3 + 98 % 5]
