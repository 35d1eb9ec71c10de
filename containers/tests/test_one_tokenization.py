"""One tokenization: the ids Evaluate scores are the ids the Tokenize step packs for training.

Tokenize runs as the pipeline runs it (``medllama.tokenization.run`` on a dedup-style split, the base model folder as
``--tokenizer``) and its packed blocks are read back as Train reads them; Evaluate's own code path (the tokenizer
``check_same_tokenizer`` returns, the JSONL reader, ``_frame``, PubMedQA's request builder) encodes the same texts.
The texts are the cases where tokenizers disagree: leading whitespace, newlines and tabs, and look-alikes of the
special tokens, which must stay text (never BOS, EOS or UNK ids) on both sides.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from medllama.evaluate import pubmedqa
from medllama.evaluate.documents import load_jsonl_documents
from medllama.evaluate.requests import encode_pair
from medllama.evaluate.runner import _frame, check_same_tokenizer
from medllama.sagemaker_env import Shard
from medllama.tokenization import TokenizationConfig, run
from medllama.train.data import load_split

SEQ = 16
PROMPT = pubmedqa.build_prompt(["  Indented context.", "A <s> inside </s> a context."], "\nDoes it hold?")
TEXTS = {
    "a-leading-spaces": "   Three leading spaces, then text.",
    "b-leading-newlines": "\n\nTwo newlines first.\nThen a line.\n\n  And an indented one.",
    "c-tabs": "\tA tab first and\ttabs inside.",
    "d-specials": "Literal <s> and </s> and <unk> in article text.",
    "e-specials-at-edges": "<s>starts like BOS and ends like EOS</s>",
    "f-look-alikes": "<<s>> < s > <S> </ s> <unk><unk> [INST] <<SYS>> <0x0A>",
    "g-unicode": "naïve T cells – 5 µm; Ångström ≥ 2",
    "h-trailing-whitespace": "Trailing spaces and a newline   \n",
    "i-one-space": " x",
    "j-pubmedqa-prompt": PROMPT,
    "zz-filler": "Filler text so that every document above lies inside whole packed blocks. " * 6,
}


@pytest.fixture(scope="module")
def packed(tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, Path]:
    """The Tokenize step's test split for TEXTS (one dedup-style JSONL file), as Train reads it."""
    root = tmp_path_factory.mktemp("one-tokenization")
    split = root / "dedup" / "test"
    split.mkdir(parents=True)
    with open(split / "part-00000.jsonl", "w", encoding="utf-8") as fh:
        for doc_id, text in reversed(TEXTS.items()):  # file order must not matter: both sides order by id
            fh.write(json.dumps({"id": doc_id, "text": text, "split": "test"}, ensure_ascii=False) + "\n")
    cfg = TokenizationConfig(
        input_dir=str(root / "dedup"), output_dir=str(root / "tokens"), tokenizer=str(tiny_base_model),
        seq_len=SEQ, splits=["test"],
    )  # fmt: skip
    run(cfg, Shard(), logging.getLogger("test"))
    data = load_split(root / "tokens" / "test", SEQ, name="test")
    return data.blocks(np.arange(len(data))).ravel(), split


def test_evaluate_frames_equal_the_packed_stream(packed: tuple[np.ndarray, Path], tiny_base_model: Path) -> None:
    stream, split = packed
    tok = check_same_tokenizer(str(tiny_base_model), str(tiny_base_model), None)  # Evaluate's tokenizer
    corpus = _frame("test", load_jsonl_documents(split), tok)  # Evaluate's documents, framed as it scores them
    # Evaluate scores a document as the harness' loglikelihood_rolling does: the packed document without its EOS
    frames = {doc_id: [*ids, tok.eos_id] for doc_id, _, ids in corpus.framed}
    assert set(frames) == set(TEXTS)
    expected = np.array([t for doc_id in sorted(TEXTS) for t in frames[doc_id]])
    checked = sum(len(frames[d]) for d in sorted(TEXTS)[:-1])
    assert len(stream) >= checked, "the packed blocks must hold every document but the filler whole"
    assert stream.tolist() == expected[: len(stream)].tolist()


def test_special_token_look_alikes_stay_text(packed: tuple[np.ndarray, Path], tiny_base_model: Path) -> None:
    stream, _ = packed
    tok = check_same_tokenizer(str(tiny_base_model), str(tiny_base_model), None)
    unk = tok.tokenizer.token_to_id("<unk>")
    for doc_id, text in TEXTS.items():
        ids = tok.frame(text)
        assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id, doc_id
        assert not {tok.bos_id, tok.eos_id, unk} & set(ids[1:-1]), doc_id
        assert tok.decode(ids) == text, doc_id  # nothing dropped, not even leading whitespace
    # in the packed data, BOS/EOS occur only at document boundaries and UNK never
    lengths = [len(tok.frame(TEXTS[d])) for d in sorted(TEXTS)]
    starts = np.cumsum([0, *lengths[:-1]])
    assert np.flatnonzero(stream == tok.bos_id).tolist() == [s for s in starts.tolist() if s < len(stream)]
    assert unk not in stream.tolist()
    # leading whitespace is part of the text: it changes the ids instead of being normalized away
    assert tok.encode("   Three") != tok.encode("Three") and tok.encode("\n\nTwo") != tok.encode("Two")


def test_pubmedqa_context_is_the_tokenize_framing(packed: tuple[np.ndarray, Path], tiny_base_model: Path) -> None:
    """PubMedQA's prompt ids are the packed document's ids without its EOS: the same encoder, the same BOS."""
    stream, _ = packed
    tok = check_same_tokenizer(str(tiny_base_model), str(tiny_base_model), None)
    request, truncated = encode_pair(tok, PROMPT, " yes", max_len=4096)
    assert not truncated
    lengths = {d: len(tok.frame(TEXTS[d])) for d in sorted(TEXTS)}
    start = sum(lengths[d] for d in sorted(TEXTS) if d < "j-pubmedqa-prompt")
    packed_doc = stream[start : start + lengths["j-pubmedqa-prompt"]].tolist()
    assert request.context == packed_doc[:-1]
