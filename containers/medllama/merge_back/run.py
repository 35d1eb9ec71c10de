"""``python -m medllama.merge_back``: the merge-back candidates of one run, each a full HF model folder.

Reads the base and the tuned model (a folder, or a folder holding one ``.tar.gz`` such as Train's
``model.tar.gz``: resolved as Evaluate resolves them), checks every spec before loading any weights (the config
does), then builds each merged candidate into ``<output_dir>/<name>/`` (safetensors in fp32 arithmetic, cast once
to the tuned dtype; config, tokenizer and generation files copied from the tuned folder) with a
``medllama-candidate.json`` manifest, and writes ``<output_dir>/candidates.json``. The tuned model itself is always
a candidate (first) and is never copied: Evaluate and Register read it where Train wrote it.

Memory: one safetensors shard of the tuned model and its merged copy at a time, the base read tensor by tensor
(memory-mapped), so about two shards of RAM whatever the model size (docs/training.md "Merging back").
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from medllama.base_models import describe_base_model
from medllama.config import config_values, parse_or_exit
from medllama.jsonl import write_json
from medllama.logs import setup_logging
from medllama.merge_back.candidates import Candidate, CandidateError, build, parse_candidates
from medllama.merge_back.config import STEP, MergeBackConfig
from medllama.tracking import log_merge_back

log = setup_logging("medllama.merge_back")

SCHEMA_VERSION = "1.0.0"
MANIFEST = "medllama-candidate.json"
INDEX = "candidates.json"


def identity(path: str, given: str) -> dict[str, Any]:
    """What names a model folder in a manifest: the path it was given as and describe_base_model's facts."""
    return {"path": given, **describe_base_model(path)}


def run(cfg: MergeBackConfig) -> dict:
    from medllama.evaluate.runner import EvaluationError, resolve_model_dir

    candidates = parse_candidates(cfg.candidates)
    given = {"base": cfg.base_model_dir, "tuned": cfg.tuned_model_dir}
    try:
        base_dir = resolve_model_dir(cfg.base_model_dir, "base_model_dir")
        tuned_dir = resolve_model_dir(cfg.tuned_model_dir, "tuned_model_dir")
    except EvaluationError as err:
        raise CandidateError(str(err)) from None
    models = {"base": identity(base_dir, given["base"]), "tuned": identity(tuned_dir, given["tuned"])}
    out_dir = Path(cfg.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    for candidate in candidates:
        if candidate.method == "tuned":
            records.append({"name": "tuned", "method": "tuned", "params": {}, "folder": None})
            continue
        started = time.monotonic()
        folder = out_dir / candidate.name
        record = build(candidate, Path(base_dir), Path(tuned_dir), folder, cfg.seed)
        write_json(folder / MANIFEST, {**record, "base": models["base"], "tuned": models["tuned"]})
        records.append({**record, "folder": candidate.name})
        log.info(f"candidate {candidate.name}: built in {time.monotonic() - started:.1f}s → {folder}")
    document = {
        "schema_version": SCHEMA_VERSION,
        "step": STEP,
        "config": config_values(cfg),
        "models": models,
        "candidates": records,
    }
    write_json(out_dir / INDEX, document)
    log.info(f"wrote {out_dir / INDEX}: {', '.join(r['name'] for r in records)}")
    return document


def read_candidates(folder: str | Path) -> list[Candidate]:
    """The candidates listed in a MergeBack output folder's candidates.json, in order (tuned first)."""
    doc = json.loads((Path(folder) / INDEX).read_text(encoding="utf-8"))
    return [Candidate(r["method"], dict(r["params"])) for r in doc["candidates"]]


def main(argv: list[str] | None = None) -> int:
    cfg = parse_or_exit(MergeBackConfig, argv, step=STEP)
    try:
        run(cfg)
    except (CandidateError, FileNotFoundError) as err:
        log.error(f"medllama.merge_back: {err}")
        return 1
    log_merge_back(cfg.output_dir)  # MLflow, when the pipeline configured it (docs/tracking.md)
    return 0


__all__ = ["INDEX", "MANIFEST", "main", "read_candidates", "run"]
