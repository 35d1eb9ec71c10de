"""One input → one record (a kept document or a rejection). Runs in worker processes; never raises."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .filters import check_article, check_license
from .jats import extract
from .language import detect_language
from .licenses import normalize_code
from .safety import Rejected, parse

# 2: table cells lose their citation marks; what lies inside a dropped table body is not counted apart
EXTRACTOR_VERSION = "medllama-jats-2"


@dataclass
class Item:
    """One input: an XML file on disk (``path``) or fetched bytes (``data``), with optional metadata."""

    source: str
    group: int = 0
    path: str | None = None
    data: bytes | None = None
    meta: dict[str, Any] | None = None
    pmcid: str | None = None
    version: int | None = None
    reject: tuple[str, str] | None = None  # decided before reading the XML
    extra: dict[str, Any] = field(default_factory=dict)


def stable_id(source: str) -> str:
    return "src-" + hashlib.sha1(source.encode("utf-8")).hexdigest()[:16]


def _rejection(item: Item, reason: str, detail: str, **known: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"source": item.source, "reason": reason, "detail": detail, **item.extra}
    pmcid = known.get("pmcid") or item.pmcid
    if pmcid:
        rec["pmcid"] = pmcid
        rec["id"] = pmcid
    if item.version is not None:
        rec["version"] = item.version
    return rec


def process(item: Item, cfg: Any, pmids: frozenset[str]) -> tuple[str, dict[str, Any], int]:
    """("documents" | "rejected", record, bytes read)."""
    if item.reject:
        return "rejected", _rejection(item, *item.reject), 0
    try:
        return _process(item, cfg, pmids)
    except Rejected as r:
        return "rejected", _rejection(item, r.reason, r.detail), len(item.data or b"")
    except RecursionError:
        return "rejected", _rejection(item, "unsafe-xml", "nesting too deep to walk"), len(item.data or b"")
    except Exception as err:  # a bug must not kill a job of millions of files: record it and move on
        return "rejected", _rejection(item, "extract-error", f"{type(err).__name__}: {err}"[:300]), 0


def _read(item: Item, max_bytes: int) -> bytes:
    if item.data is not None:
        return item.data
    assert item.path is not None
    with open(item.path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Rejected("too-large", f"larger than max_file_mb ({max_bytes} bytes)")
    return data


def _process(item: Item, cfg: Any, pmids: frozenset[str]) -> tuple[str, dict[str, Any], int]:
    from medllama.minhash import fingerprint

    max_bytes = int(cfg.max_file_mb * 1024 * 1024)
    data = _read(item, max_bytes)
    parsed = parse(data, max_bytes, cut_tables=not cfg.keep_tables, mark_citations=True)
    doc = extract(parsed.root, keep_captions=cfg.keep_captions, keep_tables=cfg.keep_tables)
    doc.dropped.update(parsed.precut)
    meta = item.meta or {}
    pmcid = meta.get("pmcid") or item.pmcid or doc.pmcid
    if pmcid and not str(pmcid).upper().startswith("PMC"):
        pmcid = f"PMC{pmcid}"
    known = {"pmcid": pmcid}
    if item.meta is not None:
        raw = meta.get("license_code")
        license_code, evidence, license_source = normalize_code(raw), f"metadata license_code {raw!r}", "metadata"
    else:
        license_code, evidence, license_source = doc.license, doc.license_evidence, "xml"
    verdict = check_license(license_code, evidence, cfg.licenses)
    is_manuscript = parsed.is_manuscript or meta.get("is_manuscript") is True
    is_ocr = parsed.is_ocr or meta.get("is_historical_ocr") is True
    verdict = verdict or check_article(doc, is_manuscript=is_manuscript, is_ocr=is_ocr, cfg=cfg, pmids=pmids)
    words = len(doc.text.split())
    if verdict is None and words < cfg.min_words:
        verdict = ("too-short", f"{words} words < min_words {cfg.min_words}")
    lang, prob = ("und", 0.0)
    if verdict is None:
        lang, prob = detect_language(doc.text)
        if lang != "en":
            verdict = ("not-english", f"language {lang} (p={prob:.2f})")
    if verdict:
        return "rejected", _rejection(item, *verdict, **known), len(data)
    pmid = str(meta.get("pmid") or doc.pmid or "") or None
    doi = meta.get("doi") or doc.doi
    text_hash, sig = fingerprint(doc.text)
    record: dict[str, Any] = {
        "id": pmcid or stable_id(item.source),
        "source": item.source,
        "title": doc.title,
        "text": doc.text,
        "license": license_code,
        "license_source": license_source,
        "article_type": doc.article_type,
        "is_manuscript": bool(is_manuscript),
        "language": lang,
        "words": words,
        "dropped": dict(sorted((k, v) for k, v in doc.dropped.items() if v)),
        "text_hash": text_hash,
        "minhash": sig.tolist(),
        "extractor": EXTRACTOR_VERSION,
        **item.extra,
    }
    if pmcid:
        record["pmcid"] = pmcid
    if pmid:
        record["pmid"] = pmid
    if doi:
        record["doi"] = str(doi)
    if item.version is not None:
        record["version"] = item.version
    if parsed.repairs:
        record["repairs"] = dict(sorted(parsed.repairs.items()))
    if doc.translation_used:
        record["translation_used"] = True
    return "documents", record, len(data)
