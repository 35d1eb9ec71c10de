"""``medllama.dedup``: exact + MinHash-LSH near-duplicate removal over all ingest shards, then a stable split.

Run ``python -m medllama.dedup --input_dir <ingest output> --output_dir <dir>``; see :mod:`medllama.dedup.core`
for the algorithm and docs/data-prep.md for the contract and measured numbers.
"""

from __future__ import annotations

from .config import DedupConfig
from .core import SPLITS, InputError, check_record, plan, run, split_hash

__all__ = ["SPLITS", "DedupConfig", "InputError", "check_record", "main", "plan", "run", "split_hash"]


def main(argv: list[str] | None = None) -> int:
    from medllama.config import parse_or_exit
    from medllama.logs import setup_logging

    cfg = parse_or_exit(DedupConfig, argv, step="dedup")
    log = setup_logging("medllama.dedup")
    try:
        report = run(cfg, log)
    except InputError as err:
        log.error(str(err))
        return 1
    splits = " ".join(f"{k}={v['documents']}" for k, v in report["splits"].items())
    log.info(
        f"dedup done: records={report['input']['records']} kept={report['kept']} "
        f"duplicates={report['duplicates']['total']} rejected={report['rejected']['total']} {splits}"
    )
    from medllama.tracking import log_step_reports

    log_step_reports("dedup", cfg.output_dir, "dedup-report.json")
    return 0
