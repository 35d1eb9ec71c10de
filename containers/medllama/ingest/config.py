"""IngestConfig: every flag of ``medllama.ingest`` (schema: pipeline-steps/configs/ingest.ts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from medllama.config import option, path_option
from medllama.sagemaker_env import opt_ml

DEFAULT_LICENSES = ["CC0", "CC BY", "CC BY-SA"]


@dataclass
class IngestConfig:
    """JATS XML (a folder, the PMC Cloud layout on disk, or S3) → clean, licensed documents (JSON Lines)."""

    input_dir: str = path_option(
        lambda: opt_ml("processing", "input", "articles"),
        help="input root: a folder of .xml/.nxml files (any depth) or a local mirror of the PMC Cloud layout",
    )
    output_dir: str = path_option(
        lambda: opt_ml("processing", "output", "ingest"),
        help="output root: documents/, rejected/ and ingest-report-<shard>.json are written here",
    )
    decontam_pmids: str = path_option(
        "", help="text file of PMIDs (one per line) to exclude, e.g. PubMedQA's pqal_all_pmids.txt; empty = none"
    )
    keys_file: str = path_option(
        "",
        help="s3 mode: a file (local path or s3:// URI) listing metadata JSON keys or article-version prefixes; "
        "empty = read the newest inventory manifest under --inventory_prefix",
    )
    input_mode: Literal["auto", "folder", "pmc-cloud", "s3"] = option(
        "auto", help="auto detects folder vs PMC Cloud layout from --input_dir; s3 reads --s3_uri"
    )
    s3_uri: str = option("", help="s3 mode: s3://bucket[/prefix] holding PMC<id>.<v>/ article folders")
    inventory_prefix: str = option(
        "inventory-reports/pmc-oa-opendata/metadata/",
        help="s3 mode: key prefix (in the s3_uri bucket) of the daily S3 inventory; its newest manifest.json is read",
    )
    anonymous: bool = option(False, help="s3 mode: unsigned requests (the public pmc-oa-opendata bucket)")
    s3_endpoint_url: str = option("", help="s3 mode: custom endpoint URL (tests, S3-compatible stores); empty = AWS")
    s3_concurrency: int = option(32, help="s3 mode: parallel GETs")
    s3_retries: int = option(5, help="s3 mode: attempts per object (throttling, errors, md5 mismatch)")
    licenses: list[str] = option(
        default_factory=lambda: list(DEFAULT_LICENSES), help="license allow-list (normalized codes like 'CC BY')"
    )
    min_words: int = option(200, help="documents with fewer words are rejected as too-short")
    allow_manuscripts: bool = option(True, help="keep author manuscripts (license filter still applies)")
    allow_ocr: bool = option(False, help="keep historical OCR scans")
    keep_captions: bool = option(True, help="emit figure and table captions as 'Figure 1: caption' paragraphs")
    keep_tables: bool = option(False, help="emit table cells as ' | '-separated rows after the caption")
    max_articles: int = option(0, help="process only the first N inputs by sorted key (0 = all)")
    max_file_mb: float = option(32.0, help="XML files larger than this are rejected as too-large")
    shard_index: int | None = option(None, help="this instance's shard (none = from resourceconfig.json)")
    shard_count: int | None = option(None, help="number of shards (none = from resourceconfig.json)")
    input_sharded: bool = option(
        False,
        help="--input_dir holds only this instance's share of the articles (a ShardedByS3Key ProcessingInput): "
        "process all of it, and name the outputs by this instance's position in resourceconfig.json",
    )
    workers: int = option(0, help="worker processes for extraction (0 = one per vCPU); output order is fixed")

    def __post_init__(self) -> None:
        if (self.shard_index is None) != (self.shard_count is None):
            raise ValueError("--shard_index and --shard_count: give both or neither")
        if (
            self.shard_index is not None
            and self.shard_count is not None
            and not (0 <= self.shard_index < self.shard_count)
        ):
            raise ValueError(f"--shard_index: {self.shard_index} is not in [0, --shard_count={self.shard_count})")
        if self.input_mode == "s3" and not self.s3_uri.startswith("s3://"):
            raise ValueError(f"--s3_uri: input_mode s3 needs an s3://bucket[/prefix] URI, got {self.s3_uri!r}")
        self.licenses = [normalize_flag_license(x) for x in self.licenses]


def normalize_flag_license(code: str) -> str:
    return " ".join(code.strip().split())
