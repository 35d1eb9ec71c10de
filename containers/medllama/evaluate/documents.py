"""Reads evaluation documents: dedup's JSONL split folders and general-text folders.

Every input line ends up either as a document or as a rejection (reason + where), never silently dropped.
Documents are put in a stable hash order of their ids (sha1), so ``limit`` takes an unbiased, reproducible
subset (PMC ids sorted as strings would favour old articles).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from medllama.jsonl import BadLine, jsonl_files, read_jsonl


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    source: str = ""  # the file it came from, relative to the folder read (the general-text resampling unit)


@dataclass
class Loaded:
    documents: list[Document]
    rejected: list[dict] = field(default_factory=list)
    not_sampled: int = 0
    files: int = 0

    def summary(self) -> dict:
        return {
            "files": self.files,
            "documents": len(self.documents),
            "not_sampled": self.not_sampled,
            "rejected": dict(sorted(Counter(r["reason"] for r in self.rejected).items())),
        }


def _order_and_limit(docs: list[Document], limit: int) -> tuple[list[Document], int]:
    docs = sorted(docs, key=lambda d: (hashlib.sha1(d.id.encode("utf-8")).hexdigest(), d.id))
    if limit > 0 and len(docs) > limit:
        return docs[:limit], len(docs) - limit
    return docs, 0


def _accept(record: dict, source: str, number: int, seen: set[str], out: Loaded, docs: list[Document]) -> None:
    doc_id, text = record.get("id"), record.get("text")
    where = {"source": source, "record": number}
    if not isinstance(doc_id, str) or not doc_id:
        out.rejected.append({**where, "reason": "missing-id", "detail": "no string `id`"})
    elif not isinstance(text, str):
        out.rejected.append({**where, "id": doc_id, "reason": "missing-text", "detail": "no string `text`"})
    elif not text.strip():
        out.rejected.append({**where, "id": doc_id, "reason": "empty-text", "detail": "`text` is blank"})
    elif doc_id in seen:
        out.rejected.append({**where, "id": doc_id, "reason": "duplicate-id", "detail": "id seen earlier"})
    else:
        seen.add(doc_id)
        docs.append(Document(doc_id, text, source))


def _read_jsonl_file(path: Path, root: Path, seen: set[str], out: Loaded, docs: list[Document]) -> None:
    source = path.relative_to(root).as_posix()
    number = 0  # index of the JSON object in the file (BadLine reports its physical line instead)
    for item in read_jsonl(path):
        if isinstance(item, BadLine):
            out.rejected.append({"source": source, "line": item.line, "reason": "bad-line", "detail": item.reason})
            continue
        number += 1
        _accept(item, source, number, seen, out, docs)


def load_jsonl_documents(folder: str | Path, limit: int = 0) -> Loaded:
    """Documents (``id``, ``text``) from every ``*.jsonl``/``*.jsonl.gz`` under ``folder``."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder of JSONL documents")
    out = Loaded(documents=[])
    docs: list[Document] = []
    seen: set[str] = set()
    files = jsonl_files(root)
    for path in files:
        _read_jsonl_file(path, root, seen, out, docs)
    out.files = len(files)
    out.documents, out.not_sampled = _order_and_limit(docs, limit)
    return out


def split_paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, whitespace-trimmed, empty ones dropped."""
    paragraphs, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line.rstrip())
        elif current:
            paragraphs.append("\n".join(current).strip())
            current = []
    if current:
        paragraphs.append("\n".join(current).strip())
    return paragraphs


def load_general_documents(folder: str | Path, limit: int = 0) -> Loaded:
    """General-domain text: ``*.jsonl`` records (``id``, ``text``) and ``*.txt`` files, where each
    blank-line separated paragraph of a ``.txt`` file is one document (id ``<file>#<n>``). Each document keeps
    its file in ``source``: the file, not the paragraph, is what the regression's bootstrap resamples
    (paragraphs of one text are not independent), so a general-text set is several files."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder of general text (.txt / .jsonl)")
    out = Loaded(documents=[])
    docs: list[Document] = []
    seen: set[str] = set()
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith((".txt", ".jsonl", ".jsonl.gz")))
    for path in files:
        source = path.relative_to(root).as_posix()
        if path.name.endswith(".txt"):
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                out.rejected.append({"source": source, "reason": "not-utf8", "detail": "file is not UTF-8"})
                continue
            for k, paragraph in enumerate(split_paragraphs(text), start=1):
                _accept({"id": f"{source}#{k}", "text": paragraph}, source, k, seen, out, docs)
        else:
            _read_jsonl_file(path, root, seen, out, docs)
    out.files = len(files)
    out.documents, out.not_sampled = _order_and_limit(docs, limit)
    return out
