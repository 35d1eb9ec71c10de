"""medllama.ingest: PMC Open Access JATS → clean, licensed, accounted-for documents (DESIGN §4.2).

    python -m medllama.ingest --input_dir <folder or PMC Cloud mirror> --output_dir <out>
    python -m medllama.ingest --input_mode s3 --s3_uri s3://pmc-oa-opendata --anonymous true --output_dir <out>

Writes ``documents/part-<shard>.jsonl``, ``rejected/part-<shard>.jsonl`` and ``ingest-report-<shard>.json``.
Policy for every extraction case: docs/ingest.md.
"""

from __future__ import annotations

from medllama.config import parse_or_exit
from medllama.logs import setup_logging

from .config import IngestConfig

__all__ = ["IngestConfig", "main"]


def main(argv: list[str] | None = None) -> int:
    cfg = parse_or_exit(IngestConfig, argv, step="ingest")
    log = setup_logging("medllama.ingest")
    from medllama.speedups import ensure

    log.info(f"ingest: speedups {ensure()}")
    from .pipeline import run  # (after ensure(): importing it picks the C or the Python twins)

    try:
        run(cfg)
    except (FileNotFoundError, ValueError) as err:
        log.error(f"ingest failed: {err}")
        return 1
    from medllama.tracking import log_step_reports

    log_step_reports("ingest", cfg.output_dir, "ingest-report*.json")
    return 0
