"""A tiny Llama-architecture base model with the real Llama 2 tokenizer, for tests and the local demo.

The real run loads Meta Llama 2 7B from the ``base_model`` channel; locally the same code loads this
folder instead (``fixtures/tiny-llama/config.json``: 2 layers, width 64, the 32,000-piece vocabulary).
Weights are random but seeded, so the folder is byte-identical for the same seed.

    python -m medllama.tiny_model --output_dir runs/base-model
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from medllama.base_models import PROVENANCE_FILE
from medllama.resources import find_llama2_tokenizer, repo_root

DEFAULT_CONFIG = Path("fixtures/tiny-llama/config.json")


def save_llama2_tokenizer(tokenizer_json: str | Path, out_dir: str | Path) -> None:
    """Writes an HF tokenizer folder (tokenizer.json + config) that ``AutoTokenizer`` loads as Llama 2's."""
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_json),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=4096,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    tok.save_pretrained(str(out_dir))


def create_tiny_base_model(
    out_dir: str | Path,
    *,
    config_path: str | Path | None = None,
    tokenizer_json: str | Path | None = None,
    seed: int = 0,
) -> Path:
    """Creates (or replaces) ``out_dir`` with a seeded tiny Llama model in safetensors and the tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cfg_file = Path(config_path) if config_path else repo_root() / DEFAULT_CONFIG
    config = LlamaConfig(**{k: v for k, v in json.loads(cfg_file.read_text()).items() if k != "architectures"})
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(str(out), safe_serialization=True)
    save_llama2_tokenizer(tokenizer_json or find_llama2_tokenizer(), out)
    provenance = {
        "name": "tiny-llama (seeded random weights)",
        "source": f"medllama.tiny_model: {cfg_file.name} ({config.num_hidden_layers} layers, width "
        f"{config.hidden_size}), seed {seed}, the Llama 2 tokenizer",
        "license": "Apache-2.0",
        "random_init": True,
        "notes": ["never trained on text: its answers are noise by construction"],
    }
    (out / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medllama.tiny_model", description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", required=True, help="folder to create (replaced if it exists)")
    parser.add_argument("--config", default=None, help=f"model config JSON (default: {DEFAULT_CONFIG})")
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="tokenizer.json (default: the Llama 2 one set-up writes, medllama.resources.find_llama2_tokenizer)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = create_tiny_base_model(
        args.output_dir, config_path=args.config, tokenizer_json=args.tokenizer, seed=args.seed
    )
    print(f"tiny base model written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
