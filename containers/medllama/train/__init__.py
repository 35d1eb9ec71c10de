"""``medllama.train``: fine-tunes Llama 2 (LoRA or full) on the tokenization step's packed blocks.

    python -m medllama.train --train_dir W/train --validation_dir W/validation --base_model_dir M \\
        --model_dir out/model --checkpoint_dir out/checkpoints --output_data_dir out/data --seq_len 512

Multi-GPU: ``torchrun --nproc_per_node 8 -m medllama.train ...`` (SageMaker ``torch_distributed``).
See docs/training.md.
"""

from __future__ import annotations

import logging

from medllama.config import parse_or_exit
from medllama.logs import setup_logging
from medllama.train.config import TrainConfig

__all__ = ["TrainConfig", "main"]


def main(argv: list[str] | None = None) -> int:
    cfg = parse_or_exit(TrainConfig, argv, step="train", description=TrainConfig.__doc__ or "")
    setup_logging("medllama.train")
    from medllama.train.budget import OverrunError
    from medllama.train.data import DataError
    from medllama.train.loop import train
    from medllama.train.model import ModelError

    try:
        train(cfg)
    except (DataError, ModelError, OverrunError) as err:
        logging.getLogger("medllama.train").error(str(err))
        return 2
    return 0
