"""A GGUF base model with non-Llama-2 special tokens, end to end on a tiny file this test writes itself.

The file has SmolLM2's layout (llama architecture, GPT-2-style byte-level BPE, ``<|endoftext|>`` = 0,
``<|im_start|>`` = 1, ``<|im_end|>`` = 2), a 1-layer model of width 16 and a byte vocabulary plus a few merges,
so the ids of a sentence are known by construction. The test converts it with :mod:`medllama.base_models` and
reads the folder as every step does (:mod:`medllama.tokenizer`, Tokenize's packing, Evaluate's framing).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medllama.base_models import BaseModelError, GgufBase, convert_gguf, describe_base_model
from medllama.tokenization.core import frame_batch
from medllama.tokenizer import TokenizerError, load_base_tokenizer

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGES = ["t h", "th e", "Ġ c", "Ġc a", "Ġca t"]


def byte_symbols() -> list[str]:
    """GPT-2's byte → printable character table, in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def vocabulary() -> list[str]:
    return SPECIALS + byte_symbols() + [m.replace(" ", "") for m in MERGES]


def ids_of(*pieces: str) -> list[int]:
    vocab = vocabulary()
    return [vocab.index(p) for p in pieces]


def write_tiny_gguf(path: Path, seed: int = 0) -> Path:
    import gguf

    n_vocab, dim, ff, heads, kv = len(vocabulary()), 16, 32, 2, 1
    head_dim = dim // heads
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-gguf-test")
    writer.add_context_length(64)
    writer.add_embedding_length(dim)
    writer.add_block_count(1)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(vocabulary())
    writer.add_token_types([gguf.TokenType.CONTROL] * 3 + [gguf.TokenType.NORMAL] * (n_vocab - 3))
    writer.add_token_merges(MERGES)
    # as SmolLM2's file: BOS <|im_start|>, EOS <|im_end|>; neither is the document separator
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    # GGUF stores each matrix as numpy [out, in]
    writer.add_tensor("token_embd.weight", w(n_vocab, dim))
    writer.add_tensor("output_norm.weight", np.ones(dim, dtype=np.float32))
    writer.add_tensor("output.weight", w(n_vocab, dim))
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(dim, dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight", w(dim, dim))
    writer.add_tensor("blk.0.attn_k.weight", w(kv * head_dim, dim))
    writer.add_tensor("blk.0.attn_v.weight", w(kv * head_dim, dim))
    writer.add_tensor("blk.0.attn_output.weight", w(dim, dim))
    writer.add_tensor("blk.0.ffn_norm.weight", np.ones(dim, dtype=np.float32))
    writer.add_tensor("blk.0.ffn_gate.weight", w(ff, dim))
    writer.add_tensor("blk.0.ffn_up.weight", w(ff, dim))
    writer.add_tensor("blk.0.ffn_down.weight", w(dim, ff))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def tiny_spec(**changes) -> GgufBase:
    fields = {
        "name": "tiny-gguf-test",
        "package": "none",
        "version": "0",
        "file": "tiny.gguf",
        "sha256": "",
        "license": "CC0-1.0",
        "eos_token": "<|endoftext|>",
        "eos_id": 0,
        # "the cat": t h → th, th e → the; Ġ c → Ġc, Ġc a → Ġca, Ġca t → Ġcat
        "known_ids": (("the cat", tuple(ids_of("the", "Ġcat"))),),
    }
    return GgufBase(**{**fields, **changes})


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("gguf")
    gguf_file = write_tiny_gguf(root / "tiny.gguf")
    return gguf_file, convert_gguf(tiny_spec(), gguf_file, root / "model")


def test_converted_folder_has_the_documents_framing(converted: tuple[Path, Path]) -> None:
    _, folder = converted
    tok = load_base_tokenizer(folder)
    assert (tok.bos_id, tok.eos_id, tok.start_id, tok.pad_id) == (None, 0, 0, 0)
    assert tok.identity.bos_id is None and tok.identity.as_manifest()["bos_id"] is None
    assert tok.encode("the cat") == ids_of("the", "Ġcat")
    # Evaluate scores a document after the separator it follows in training; Tokenize packs it without BOS
    assert tok.frame("the cat") == [0, *ids_of("the", "Ġcat"), 0]
    packed = frame_batch([ids_of("the"), ids_of("Ġcat")], tok.bos_id, tok.eos_id)
    assert [a.tolist() for a in packed] == [[*ids_of("the"), 0], [*ids_of("Ġcat"), 0]]
    # a literal special token in article text is text
    assert 0 not in tok.encode("the <|endoftext|> cat") and 1 not in tok.encode("<|im_start|>")
    assert tok.decode(tok.encode("the cat, 2 mg")) == "the cat, 2 mg"
    config = json.loads((folder / "config.json").read_text())
    assert (config["eos_token_id"], config["bos_token_id"], config["model_type"]) == (0, None, "llama")
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    assert (tokenizer_config["bos_token"], tokenizer_config["eos_token"]) == (None, "<|endoftext|>")
    about = describe_base_model(folder)
    assert (about["name"], about["random_init"], about["layers"], about["vocab_size"]) == (
        "tiny-gguf-test",
        False,
        1,
        len(vocabulary()),
    )


def test_converted_weights_equal_the_gguf_ones(converted: tuple[Path, Path]) -> None:
    import torch
    from transformers import LlamaForCausalLM

    gguf_file, folder = converted
    from_gguf = LlamaForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    saved = LlamaForCausalLM.from_pretrained(str(folder))
    ids = torch.tensor([[0, *ids_of("the", "Ġcat")]])
    with torch.inference_mode():
        assert torch.equal(from_gguf(input_ids=ids).logits, saved(input_ids=ids).logits)


def test_a_wrong_known_answer_stops_the_conversion(tmp_path: Path) -> None:
    gguf_file = write_tiny_gguf(tmp_path / "tiny.gguf")
    with pytest.raises(BaseModelError, match=r"'the cat' encodes to \[\d+, \d+\], expected \[1, 2\]"):
        convert_gguf(tiny_spec(known_ids=(("the cat", (1, 2)),)), gguf_file, tmp_path / "model")
    with pytest.raises(BaseModelError, match="sha256"):
        convert_gguf(tiny_spec(sha256="0" * 64), gguf_file, tmp_path / "model")
    assert not (tmp_path / "model").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.gguf"]  # no half-written folder either


def test_special_tokens_come_from_tokenizer_config(converted: tuple[Path, Path], tmp_path: Path) -> None:
    _, folder = converted
    (tmp_path / "tokenizer.json").write_bytes((folder / "tokenizer.json").read_bytes())
    config = tmp_path / "tokenizer_config.json"
    # SmolLM2-Instruct's own folder names BOS and EOS; both are used as named
    config.write_text(json.dumps({"bos_token": "<|im_start|>", "eos_token": {"content": "<|im_end|>"}}))
    tok = load_base_tokenizer(tmp_path)
    assert (tok.bos_id, tok.eos_id, tok.frame("the")) == (1, 2, [1, *ids_of("the"), 2])
    # the fingerprint covers the framing: the same vocabulary with other BOS/EOS is another tokenizer
    assert tok.identity.fingerprint != load_base_tokenizer(folder).identity.fingerprint
    # one token for both (SmolLM2 base): a separator, not a BOS; add_bos_token false: no BOS
    config.write_text(json.dumps({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}))
    assert (load_base_tokenizer(tmp_path).bos_id, load_base_tokenizer(tmp_path).eos_id) == (None, 0)
    config.write_text(json.dumps({"bos_token": "<|im_start|>", "eos_token": "<|endoftext|>", "add_bos_token": False}))
    assert load_base_tokenizer(tmp_path).identity == load_base_tokenizer(folder).identity
    config.write_text(json.dumps({"bos_token": None, "eos_token": "</s>"}))
    with pytest.raises(TokenizerError, match=r"eos_token is '</s>', which is not in the vocabulary"):
        load_base_tokenizer(tmp_path)
    config.write_text(json.dumps({"eos_token": None}))
    with pytest.raises(TokenizerError, match=r"eos_token is None, expected the name of a token"):
        load_base_tokenizer(tmp_path)
    config.unlink()
    # no config: Llama 2's <s> / </s>, which this vocabulary lacks
    with pytest.raises(TokenizerError, match=r"bos_token \(Llama 2's, no tokenizer_config.json\) is '<s>'"):
        load_base_tokenizer(tmp_path)
    # an explicit config file elsewhere (Tokenize's --tokenizer_config input)
    elsewhere = tmp_path / "cfg"
    elsewhere.mkdir()
    (elsewhere / "tokenizer_config.json").write_text(json.dumps({"bos_token": None, "eos_token": "<|endoftext|>"}))
    assert load_base_tokenizer(tmp_path / "tokenizer.json", elsewhere).eos_id == 0
    with pytest.raises(TokenizerError, match=r"no tokenizer_config\.json there"):
        load_base_tokenizer(tmp_path, tmp_path / "missing")
