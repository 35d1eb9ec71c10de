"""Configuration of ``medllama.dedup`` (single source of truth: pipeline-steps/configs/dedup.ts)."""

from __future__ import annotations

from dataclasses import dataclass

from medllama.config import option, path_option
from medllama.sagemaker_env import opt_ml


@dataclass
class DedupConfig:
    """Exact + MinHash-LSH near-duplicate removal over all ingest shards, then a stable train/validation/test split."""

    input_dir: str = path_option(
        lambda: opt_ml("processing", "input", "ingest"),
        help="ingest output root; every documents/*.jsonl under it is read (any number of shards)",
    )
    output_dir: str = path_option(
        lambda: opt_ml("processing", "output", "dedup"),
        help="output root: train/, validation/, test/, rejected/ part-00000.jsonl and dedup-report.json",
    )
    jaccard_threshold: float = option(
        0.7, help="LSH candidates are duplicates when their estimated 5-gram Jaccard similarity is >= this"
    )
    validation_fraction: float = option(0.01, help="share of clusters (by stable hash of the kept id) in validation")
    test_fraction: float = option(0.01, help="share of clusters (by stable hash of the kept id) in test")
    max_validation_docs: int = option(2000, help="cap on validation documents; overflow goes to train (0: no cap)")
    max_test_docs: int = option(2000, help="cap on test documents; overflow goes to train (0: no cap)")
    split_salt: str = option("medllama-split-v1", help="salt of the split hash; changing it reshuffles every split")
    match_ids: bool = option(True, help="also treat records sharing an id, pmcid or doi as one cluster")
    bucket_window: int = option(
        16,
        help="within an LSH bucket, compare each member with the next N members in hash order (all pairs if smaller)",
    )

    def __post_init__(self) -> None:
        if self.validation_fraction + self.test_fraction >= 1:
            raise ValueError(
                f"--validation_fraction + --test_fraction must be < 1, got {self.validation_fraction} + {self.test_fraction}"
            )
