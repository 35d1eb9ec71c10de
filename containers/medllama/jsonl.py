"""Deterministic JSON Lines: every step's records are written and read through here.

Records are written with sorted keys, no ASCII escaping and ``\\n`` endings, so the same records give the
same bytes. Reading never raises on a bad line: it yields a :class:`BadLine` with the reason instead,
so a step can turn it into a rejection record.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class BadLine:
    path: str
    line: int
    reason: str


def _open_text(path: Path, mode: str) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8", newline="\n")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8", newline="\n")


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any] | BadLine]:
    """Yields each line's object, or a BadLine (invalid JSON, not an object, bad UTF-8)."""
    p = Path(path)
    with gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                yield BadLine(str(p), number, "not UTF-8")
                continue
            except json.JSONDecodeError as err:
                yield BadLine(str(p), number, f"invalid JSON: {err.msg}")
                continue
            if not isinstance(obj, dict):
                yield BadLine(str(p), number, f"expected a JSON object, got {type(obj).__name__}")
                continue
            yield obj


def write_jsonl(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> int:
    """Writes records atomically (temp file + rename); returns how many were written."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    count = 0
    with _open_text(tmp, "w") as out:
        for record in records:
            out.write(dumps(record))
            out.write("\n")
            count += 1
    os.replace(tmp, p)
    return count


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Pretty, sorted, deterministic JSON (reports, manifests)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(
        json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    os.replace(tmp, p)


def jsonl_files(root: str | os.PathLike[str]) -> list[Path]:
    """All ``*.jsonl`` / ``*.jsonl.gz`` files under ``root``, in a stable order."""
    base = Path(root)
    return sorted(
        p for p in base.rglob("*") if p.is_file() and (p.name.endswith(".jsonl") or p.name.endswith(".jsonl.gz"))
    )
