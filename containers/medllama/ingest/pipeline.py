"""The ingest run: list inputs → shard → (metadata checks, fetch) → extract in workers → write, in order."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from medllama import speedups
from medllama.config import config_values
from medllama.jsonl import dumps, write_json
from medllama.logs import Progress
from medllama.sagemaker_env import Shard, resolve_shard

from .config import IngestConfig
from .filters import check_metadata, load_pmids
from .process import EXTRACTOR_VERSION, Item, process
from .sources import (
    attach_metadata,
    bounded_map,
    cloud_version_items,
    detect_mode,
    folder_items,
    local_cloud_groups,
    md5_from_url,
)

log = logging.getLogger("medllama.ingest")

_STATE: dict[str, Any] = {}


def _init_worker(cfg: IngestConfig, pmids: frozenset[str]) -> None:
    _STATE["cfg"], _STATE["pmids"] = cfg, pmids


def _work(item: Item) -> tuple[str, dict[str, Any], int]:
    return process(item, _STATE["cfg"], _STATE["pmids"])


def select(items: list[Item], max_articles: int, shard: Shard) -> tuple[list[Item], int]:
    """First ``max_articles`` groups (0 = all), then this shard's groups. Returns (items, groups cut)."""
    groups = max((i.group for i in items), default=-1) + 1
    cut = 0
    if max_articles and groups > max_articles:
        cut = groups - max_articles
        items = [i for i in items if i.group < max_articles]
    return [i for i in items if shard.owns(i.group)], cut


def _local_cloud(cfg: IngestConfig, root: Path, pmids: frozenset[str], shard: Shard) -> tuple[list[Item], int, dict]:
    items, cut = select(cloud_version_items(local_cloud_groups(root)), cfg.max_articles, shard)

    def fetch_json(key: str) -> bytes | None:
        p = root / key
        return p.read_bytes() if p.is_file() else None

    for item in items:
        attach_metadata(item, fetch_json, lambda m: check_metadata(m, cfg, pmids))
        if not item.reject:
            path = root / item.source
            if not path.is_file():
                item.reject = ("xml-missing", f"{item.source} not found")
            else:
                item.path = str(path)
    return items, cut, {"mode": "pmc-cloud", "root": str(root)}


def _s3(cfg: IngestConfig, pmids: frozenset[str], shard: Shard) -> tuple[Iterator[Item], int, dict, int]:
    from .s3 import S3Location, S3Store, keys_to_groups, make_client

    loc = S3Location.parse(cfg.s3_uri)
    client = make_client(cfg.anonymous, cfg.s3_endpoint_url, cfg.s3_concurrency, cfg.s3_retries)
    store = S3Store(client, loc, cfg.s3_retries)
    lineage: dict[str, Any] = {"mode": "s3", "bucket": loc.bucket, "prefix": loc.prefix}
    if cfg.keys_file:
        keys = store.read_keys_file(cfg.keys_file)
        lineage["keys_file"] = cfg.keys_file
    else:
        keys, date = store.inventory_keys(cfg.inventory_prefix)
        lineage["inventory_date"] = date
    rel = [k[len(loc.prefix) :] if k.startswith(loc.prefix) else k for k in keys]
    items, cut = select(cloud_version_items(keys_to_groups(rel), prefix=loc.prefix), cfg.max_articles, shard)

    def fetch_json(key: str) -> bytes | None:
        return store.get(key, absolute=True)

    def meta_stage(item: Item) -> Item:
        return attach_metadata(item, fetch_json, lambda m: check_metadata(m, cfg, pmids))

    def xml_stage(item: Item) -> Item:
        if item.reject:
            return item
        md5 = md5_from_url((item.meta or {}).get("xml_url"))
        try:
            data = store.get(item.source, md5=md5, absolute=True)
        except Exception as err:
            item.reject = ("fetch-error", f"{type(err).__name__}: {err}"[:300])
            return item
        if data is None:
            item.reject = ("xml-missing", f"s3://{loc.bucket}/{item.source} not found")
        else:
            item.data = data
            if md5:
                item.extra["xml_md5"] = md5
        return item

    with_meta = bounded_map(meta_stage, items, cfg.s3_concurrency)
    # two bounded stages chained lazily: JSON GETs run ahead of XML GETs, neither holds more than a window
    return bounded_map(xml_stage, with_meta, cfg.s3_concurrency), cut, lineage, len(items)


def _results(items: Iterable[Item], cfg: IngestConfig, pmids: frozenset[str]) -> Iterator[tuple[str, dict, int]]:
    workers = cfg.workers or (os.cpu_count() or 1)
    if workers <= 1:
        for item in items:
            yield process(item, cfg, pmids)
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(cfg, pmids)) as pool:
        yield from pool.imap(_work, items, chunksize=4)


class _Writer:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.tmp = path, path.with_name(path.name + ".tmp")
        self.f = open(self.tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        self.f.write(dumps(record))
        self.f.write("\n")
        self.count += 1

    def close(self) -> None:
        self.f.close()
        os.replace(self.tmp, self.path)


class EmptyInputError(ValueError):
    """The input yields nothing to train on: stop here, not three steps later in Train."""


def useless_input(report: dict[str, Any], mode: str, where: object, shard: Shard) -> str | None:
    """Why the run should stop at Ingest, or None. With several instances one may see no articles or keep none
    while the others do, so only a single instance decides here; Dedup checks the total across instances."""
    if shard.count > 1:
        return None
    if report["inputs"] == 0:
        looked = "PMC<id>.<v>/ article folders" if mode in ("pmc-cloud", "s3") else ".xml/.nxml files (at any depth)"
        return f"no articles found in {where}: looked for {looked}"
    if report["documents"] == 0:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(report["rejected_by_reason"].items(), key=lambda kv: -kv[1]))
        return f"every one of the {report['inputs']} articles was rejected ({reasons}): nothing to train on"
    return None


def run(cfg: IngestConfig) -> dict[str, Any]:
    started = time.monotonic()
    # `shard` names this instance's outputs; `share` picks its inputs. With a ShardedByS3Key input SageMaker already
    # gave each instance its share of the files, so it keeps all of them (sharding again would drop most).
    shard = resolve_shard(cfg.shard_index, cfg.shard_count)
    share = Shard() if cfg.input_sharded else shard
    pmids = load_pmids(cfg.decontam_pmids)
    mode = cfg.input_mode
    root = Path(cfg.input_dir)
    if mode == "auto":
        mode = "s3" if cfg.s3_uri else detect_mode(root)
    if cfg.input_sharded and mode == "s3":
        raise ValueError("--input_sharded applies to a ProcessingInput folder, not to --input_mode s3")
    if cfg.input_sharded and mode == "pmc-cloud" and shard.count > 1:
        raise ValueError(
            f"{root} is in the PMC Cloud layout, but its files were split over {shard.count} instances "
            "(ShardedByS3Key), which separates an article's XML from its metadata JSON and its versions from each "
            "other. Stage a plain folder of XML, read the bucket with --input_mode s3 (data.usePmcOpenData), or "
            "run Ingest on one instance (IngestInstanceCount=1)."
        )
    total: int
    if mode == "s3":
        items_iter, cut, lineage, total = _s3(cfg, pmids, share)
    elif mode == "pmc-cloud":
        items, cut, lineage = _local_cloud(cfg, root, pmids, share)
        items_iter, total = iter(items), len(items)
    else:
        if not root.is_dir():
            raise FileNotFoundError(f"--input_dir: {root} is not a folder")
        items, cut = select(folder_items(root), cfg.max_articles, share)
        items_iter, total, lineage = iter(items), len(items), {"mode": "folder", "root": str(root)}
    if cfg.input_sharded:
        lineage["input_sharded"] = True
    log.info(
        f"ingest: mode={mode} shard={shard.index}/{shard.count}{' (input sharded by S3 key)' if cfg.input_sharded else ''}"
        f" inputs={total} (cut by max_articles: {cut} groups)"
    )

    out = Path(cfg.output_dir)
    docs = _Writer(out / "documents" / f"part-{shard.suffix}.jsonl")
    rejected = _Writer(out / "rejected" / f"part-{shard.suffix}.jsonl")
    reasons: Counter = Counter()
    licenses: Counter = Counter()
    article_types: Counter = Counter()
    dropped: Counter = Counter()
    bytes_in = words = chars = 0
    digest = hashlib.sha256()
    progress = Progress(log, "articles", every=500, total=total)
    try:
        for kind, record, nbytes in _results(items_iter, cfg, pmids):
            bytes_in += nbytes
            if kind == "documents":
                docs.write(record)
                words += record["words"]
                chars += len(record["text"])
                licenses[record["license"]] += 1
                article_types[record["article_type"] or "(none)"] += 1
                dropped.update(record["dropped"])
            else:
                rejected.write(record)
                reasons[record["reason"]] += 1
            digest.update(record["source"].encode("utf-8") + b"\n")
            progress.update(kept=docs.count, rejected=rejected.count)
    finally:
        docs.close()
        rejected.close()
    progress.close(kept=docs.count, rejected=rejected.count)
    elapsed = time.monotonic() - started
    report = {
        "step": "ingest",
        "extractor": EXTRACTOR_VERSION,
        "shard": {"index": shard.index, "count": shard.count},
        "source": lineage,
        "config": config_values(cfg),
        "inputs": docs.count + rejected.count,
        "documents": docs.count,
        "rejected": rejected.count,
        "rejected_by_reason": dict(sorted(reasons.items())),
        "licenses": dict(sorted(licenses.items())),
        "article_types": dict(sorted(article_types.items())),
        "dropped": dict(sorted(dropped.items())),
        "groups_cut_by_max_articles": cut,
        "bytes_in": bytes_in,
        "words": words,
        "chars": chars,
        "sources_sha256": digest.hexdigest(),
        "timing": {
            "seconds": round(elapsed, 3),
            "articles_per_s": round((docs.count + rejected.count) / max(elapsed, 1e-9), 1),
            "speedups": speedups.status,  # whether the C twins ran (the output is the same either way)
        },
    }
    if report["inputs"] != total:
        raise RuntimeError(f"accounting error: {total} inputs but {report['inputs']} records")
    report["verdict"] = useless_input(report, mode, root if mode != "s3" else cfg.s3_uri, shard)
    write_json(out / f"ingest-report-{shard.suffix}.json", report)
    if report["verdict"]:
        raise EmptyInputError(report["verdict"])
    log.info(
        f"ingest: {report['documents']} documents, {report['rejected']} rejected {report['rejected_by_reason']} "
        f"in {elapsed:.1f}s"
    )
    return report
