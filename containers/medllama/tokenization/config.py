"""Configuration of ``medllama.tokenization`` (single source of truth: pipeline-steps/configs/tokenization.ts)."""

from __future__ import annotations

from dataclasses import dataclass

from medllama.config import option, path_option
from medllama.sagemaker_env import opt_ml


@dataclass
class TokenizationConfig:
    """Tokenize each split with the base model's tokenizer and pack BOS doc EOS streams into fixed-length blocks."""

    input_dir: str = path_option(
        lambda: opt_ml("processing", "input", "dedup"),
        help="dedup output root: <split>/*.jsonl for each split",
    )
    output_dir: str = path_option(
        lambda: opt_ml("processing", "output", "tokens"),
        help="output root: one datasets.save_to_disk folder per split and tokenize-report.json",
    )
    tokenizer: str = path_option(
        lambda: opt_ml("processing", "input", "tokenizer"),
        help="a tokenizer.json file, or a model folder containing tokenizer.json",
    )
    tokenizer_config: str = path_option(
        "",
        help="the base model's tokenizer_config.json (or a folder holding it), which names BOS/EOS; '' = the one "
        "beside --tokenizer, or Llama 2's <s> / </s> when there is none",
    )
    seq_len: int = option(4096, help="tokens per packed block; every row has exactly this length")
    splits: list[str] = option(
        default_factory=lambda: ["train", "validation", "test"], help="split folders of the input to tokenize"
    )
    replay_uri: str = option(
        "",
        help="S3 prefix of a general-domain replay corpus (.txt: one document per file; .jsonl: one 'text' per "
        "line), tokenized into its own split 'replay' for Train to mix in; '' = none (an empty replay split)",
    )
    batch_docs: int = option(128, help="documents per tokenizer batch call")
    chunk_docs: int = option(
        4096, help="documents per packing chunk (sorted by id); each chunk is packed on its own, its tail dropped"
    )
    workers: int = option(0, help="tokenizer threads (0: all cores)")
    shard_index: int | None = option(None, help="this instance's shard (none = from resourceconfig.json)")
    shard_count: int | None = option(None, help="number of shards (none = from resourceconfig.json)")

    def __post_init__(self) -> None:
        if (self.shard_index is None) != (self.shard_count is None):
            raise ValueError("--shard_index and --shard_count: give both or neither")
        if (
            self.shard_index is not None
            and self.shard_count is not None
            and not 0 <= self.shard_index < self.shard_count
        ):
            raise ValueError(f"--shard_index: {self.shard_index} is not in [0, --shard_count={self.shard_count})")
        if "replay" in self.splits:
            raise ValueError(f"--splits: {self.splits} names 'replay', the split --replay_uri fills")
        if len(set(self.splits)) != len(self.splits) or not self.splits:
            raise ValueError(f"--splits: must be distinct and non-empty, got {self.splits}")
