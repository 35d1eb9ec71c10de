"""Filters with reasons. Metadata-level checks run before any XML is read (PMC Cloud JSON); the same
checks run on what the XML says. Each returns None (keep) or (reason, detail)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .jats import Article
from .licenses import normalize_code

Verdict = tuple[str, str] | None


def load_pmids(path: str) -> frozenset[str]:
    """PMIDs from a text file, one per line (blank lines and ``#`` comments ignored)."""
    if not path:
        return frozenset()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--decontam_pmids: {path} is not a file")
    pmids = set()
    for line in p.read_text(encoding="utf-8").splitlines():
        token = line.split("#", 1)[0].strip()
        if token:
            if not token.isdigit():
                raise ValueError(f"--decontam_pmids: {path}: {token!r} is not a PMID")
            pmids.add(token)
    return frozenset(pmids)


def check_license(code: str | None, evidence: str, allowed: list[str]) -> Verdict:
    if code is None:
        return "license-unknown", evidence or "no license found"
    if code not in allowed:
        return "license-not-allowed", f"{code} not in {allowed} ({evidence})"
    return None


def check_metadata(meta: dict[str, Any], cfg: Any, pmids: frozenset[str]) -> Verdict:
    """The PMC Cloud per-version JSON: checked before the XML is fetched."""
    raw = meta.get("license_code")
    code = normalize_code(raw) if isinstance(raw, str) else None
    verdict = check_license(code, f"metadata license_code {raw!r}", cfg.licenses)
    if verdict:
        return verdict
    if meta.get("is_retracted") is True:
        return "retracted", "metadata is_retracted"
    if meta.get("is_manuscript") is True and not cfg.allow_manuscripts:
        return "manuscript", "metadata is_manuscript (allow_manuscripts is false)"
    if meta.get("is_historical_ocr") is True and not cfg.allow_ocr:
        return "ocr-scan", "metadata is_historical_ocr (allow_ocr is false)"
    if meta.get("is_pmc_openaccess") is False:
        return "not-open-access", "metadata is_pmc_openaccess is false"
    pmid = str(meta.get("pmid") or "")
    if pmid and pmid in pmids:
        return "decontaminated", f"PMID {pmid} is in the decontamination list"
    return None


def check_article(doc: Article, *, is_manuscript: bool, is_ocr: bool, cfg: Any, pmids: frozenset[str]) -> Verdict:
    """What the XML says, after extraction (license checked separately)."""
    if doc.retracted:
        return "retracted", doc.retracted
    if doc.notice:
        return "notice", doc.notice
    if is_manuscript and not cfg.allow_manuscripts:
        return "manuscript", "author manuscript (allow_manuscripts is false)"
    if is_ocr and not cfg.allow_ocr:
        return "ocr-scan", "historical OCR scan (allow_ocr is false)"
    if doc.pmid and doc.pmid in pmids:
        return "decontaminated", f"PMID {doc.pmid} is in the decontamination list"
    if doc.body_chars == 0:
        return "no-body", "no body text" + (" (abstract only)" if doc.abstract_chars else "")
    return None
