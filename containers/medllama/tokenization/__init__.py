"""``medllama.tokenization``: Llama 2 tokenization and fixed-length packing of each split.

Run ``python -m medllama.tokenization --input_dir <dedup output> --output_dir <dir> --tokenizer <file|folder>``;
see :mod:`medllama.tokenization.core` for the algorithm and docs/data-prep.md for the layout.
"""

from __future__ import annotations

import os

from .config import TokenizationConfig
from .core import InputError, Packer, frame_batch, index_split, load_tokenizer, pack_split, run

__all__ = [
    "InputError",
    "Packer",
    "TokenizationConfig",
    "frame_batch",
    "index_split",
    "load_tokenizer",
    "main",
    "pack_split",
    "run",
]


def main(argv: list[str] | None = None) -> int:
    from medllama.config import parse_or_exit
    from medllama.logs import setup_logging
    from medllama.sagemaker_env import resolve_shard

    cfg = parse_or_exit(TokenizationConfig, argv, step="tokenization")
    log = setup_logging("medllama.tokenization")
    if cfg.workers > 0:  # read by the tokenizers thread pool when it starts (first batch call)
        os.environ["RAYON_NUM_THREADS"] = str(cfg.workers)
    try:
        shard = resolve_shard(cfg.shard_index, cfg.shard_count)
        report = run(cfg, shard, log)
    except (InputError, ValueError) as err:
        log.error(str(err))
        return 1
    log.info(
        "tokenization done: "
        + " ".join(f"{k}={v['blocks']}blocks/{v['documents']}docs" for k, v in report["splits"].items())
    )
    from medllama.tracking import log_step_reports

    log_step_reports("tokenize", cfg.output_dir, "tokenize-report*.json")
    return 0
