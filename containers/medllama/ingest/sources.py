"""Where inputs come from: a folder of JATS files, the PMC Cloud layout on disk, or the same layout on S3.

Every source yields :class:`Item`s in a deterministic order (sorted key) with a group number (one per
article; all versions of a PMCID share one), so sharding and ``max_articles`` are decided on groups.
PMC Cloud: only the highest version of a PMCID is read; lower versions are rejected as
``superseded-version``. Its JSON is checked (license, retraction, manuscript, OCR, PMID) before the
XML is read. On S3 the keys come from a keys file or the newest S3 inventory; the article keyspace is
never listed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .process import Item

XML_SUFFIXES = {".xml", ".nxml"}
VERSION_DIR = re.compile(r"^(PMC\d+)\.(\d+)$")
VERSION_KEY = re.compile(r"(?:^|/)(PMC\d+)\.(\d+)(?:/|\.json$|\.xml$|$)")


def detect_mode(root: Path) -> str:
    """``pmc-cloud`` when the folder holds ``PMC<id>.<v>/`` article folders, else ``folder``."""
    try:
        with os.scandir(root) as it:
            for entry in it:
                if entry.is_dir() and VERSION_DIR.match(entry.name):
                    return "pmc-cloud"
    except FileNotFoundError:
        raise FileNotFoundError(f"--input_dir: {root} does not exist") from None
    return "folder"


def folder_items(root: Path) -> list[Item]:
    """Every .xml/.nxml under ``root`` (any depth), sorted by relative path. Links leading outside
    ``root`` are inputs too, rejected as unsafe-path (never read)."""
    real_root = root.resolve()
    items: list[Item] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in filenames:
            if Path(name).suffix.lower() not in XML_SUFFIXES:
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            item = Item(source=rel, path=str(path))
            real = path.resolve()
            if not real.is_relative_to(real_root):
                item.reject = ("unsafe-path", "symbolic link pointing outside the input folder")
                item.path = None
            elif not real.is_file():
                item.reject = ("parse-error", "not a regular file")
                item.path = None
            items.append(item)
    items.sort(key=lambda i: i.source)
    for n, item in enumerate(items):
        item.group = n
    return items


def _pmc_sort_key(pmcid: str) -> int:
    return int(pmcid[3:])


def group_versions(versions: dict[str, list[int]]) -> list[tuple[str, int, list[int]]]:
    """(pmcid, newest version, older versions) sorted by numeric PMCID."""
    out = []
    for pmcid in sorted(versions, key=_pmc_sort_key):
        vs = sorted(set(versions[pmcid]))
        out.append((pmcid, vs[-1], vs[:-1]))
    return out


def cloud_version_items(groups: list[tuple[str, int, list[int]]], prefix: str = "") -> list[Item]:
    """Items for a version listing: the newest version first-class, older ones pre-rejected."""
    items: list[Item] = []
    for g, (pmcid, newest, older) in enumerate(groups):
        for v in older:
            items.append(
                Item(
                    source=f"{prefix}{pmcid}.{v}/{pmcid}.{v}.xml",
                    group=g,
                    pmcid=pmcid,
                    version=v,
                    reject=("superseded-version", f"{pmcid}.{newest} is newer"),
                )
            )
        items.append(
            Item(source=f"{prefix}{pmcid}.{newest}/{pmcid}.{newest}.xml", group=g, pmcid=pmcid, version=newest)
        )
    return items


def local_cloud_groups(root: Path) -> list[tuple[str, int, list[int]]]:
    versions: dict[str, list[int]] = {}
    with os.scandir(root) as it:
        for entry in it:
            m = VERSION_DIR.match(entry.name)
            if m and entry.is_dir(follow_symlinks=False):
                versions.setdefault(m.group(1), []).append(int(m.group(2)))
    return group_versions(versions)


def parse_metadata(raw: bytes, source: str) -> dict[str, Any]:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"metadata JSON for {source} is invalid: {err}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"metadata JSON for {source} is not an object")
    return meta


def attach_metadata(
    item: Item, fetch_json: Callable[[str], bytes | None], check: Callable[[dict[str, Any]], tuple[str, str] | None]
) -> Item:
    """Reads the item's JSON, decides metadata-level rejections and records lineage. Never raises."""
    if item.reject:
        return item
    json_key = item.source[: -len(".xml")] + ".json"
    try:
        raw = fetch_json(json_key)
    except Exception as err:
        item.reject = ("fetch-error", f"{json_key}: {type(err).__name__}: {err}"[:300])
        return item
    if raw is None:
        item.reject = ("metadata-missing", f"{json_key} not found")
        return item
    try:
        meta = parse_metadata(raw, json_key)
    except ValueError as err:
        item.reject = ("metadata-invalid", str(err)[:300])
        return item
    item.meta = meta
    verdict = check(meta)
    if verdict:
        item.reject = verdict
    return item


def md5_from_url(url: str | None) -> str | None:
    if not url:
        return None
    m = re.search(r"[?&]md5=([0-9a-fA-F]{32})", url)
    return m.group(1).lower() if m else None


def bounded_map(fn: Callable[[Any], Any], items: Iterable[Any], concurrency: int) -> Iterator[Any]:
    """``map(fn, items)`` on a thread pool, in order, with at most ``2 * concurrency`` pending."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    if concurrency <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * concurrency:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
