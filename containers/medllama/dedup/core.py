"""Dedup + split over every ingest shard, in two streaming passes with per-document state only.

Pass 1 reads each ``documents/*.jsonl`` record once and keeps, per valid document, a fixed-size row:
its id (bytes), the first 16 bytes of the text hash, the 112-value MinHash signature (448 bytes), words,
version, is_manuscript and 64-bit keys of id / pmcid / doi. The text is dropped as soon as the row is
stored, so memory grows with the number of documents, not their size (about 520 bytes per document plus
transient arrays while clustering; see ``DedupState.nbytes``).

Clustering (union-find):
1. exact duplicates: equal normalized-text hash;
2. optional id matches: equal ``id``, ``pmcid`` or ``doi`` (versions / copies of one article);
3. near duplicates: MinHash LSH over one representative per exact group. 14 bands of 8 rows; within each
   band the documents are sorted by band key and every document is compared with the next
   ``bucket_window`` documents of the same bucket (all pairs in buckets up to that size). A candidate pair
   is joined when its estimated Jaccard similarity (share of equal signature values) is >= the threshold.

Keep rule, per cluster (first wins): version of record over accepted manuscript (``is_manuscript`` false
first), then the highest ``version``, then the most ``words``, then the smallest ``id``.

Split: ``u = sha256(salt + "\\0" + kept_id)[:8] / 2**64``; ``u < validation_fraction`` → validation,
``u < validation_fraction + test_fraction`` → test, else train. Caps keep the smallest ``u`` of a split
and send the overflow to train. Only the kept member of a cluster is written, so no cluster spans splits.

Pass 2 streams the records again and writes kept ones to their split (``minhash`` dropped, ``split``
added) and the rest to ``rejected/`` (bad input with its reason, duplicates with ``duplicate_of``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medllama import minhash
from medllama.jsonl import BadLine, dumps, jsonl_files, read_jsonl, write_json
from medllama.logs import Progress

from .config import DedupConfig

SPLITS = ("train", "validation", "test")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_SIG_BYTES = 4 * minhash.NUM_PERM


class InputError(RuntimeError):
    """The input folder cannot be processed at all (missing, no documents/*.jsonl)."""


@dataclass
class Checked:
    """A valid document record, reduced to what dedup needs."""

    id: str
    text_hash: str
    sig: bytes
    words: int
    version: int
    is_manuscript: bool
    pmcid: str | None
    doi: str | None
    recomputed_hash: bool = False
    recomputed_sig: bool = False


def check_record(obj: dict[str, Any], *, compute: bool = True) -> Checked | tuple[str, str]:
    """Validates one ingest record. Returns :class:`Checked` or ``(reason, detail)`` for a rejection.

    ``text_hash`` / ``minhash`` / ``words`` are computed when absent (``compute``); present but malformed
    values are rejected, since they mean the upstream step is broken.
    """
    rid = obj.get("id")
    if not isinstance(rid, str) or not rid.strip():
        return ("missing-field", "record has no non-empty string 'id'")
    text = obj.get("text")
    if not isinstance(text, str):
        return ("missing-field", f"record {rid} has no string 'text'")
    if not text.strip():
        return ("empty-text", f"record {rid} has an empty text")
    th = obj.get("text_hash")
    recomputed_hash = False
    if th is None:
        th = minhash.exact_hash(text) if compute else "0" * 40
        recomputed_hash = True
    elif not isinstance(th, str) or not _HEX40.match(th):
        return ("invalid-field", f"record {rid}: text_hash must be 40 lowercase hex digits")
    sig = obj.get("minhash")
    recomputed_sig = False
    if sig is None:
        sig_bytes = minhash.signature_array(text).astype("<u4").tobytes() if compute else b""
        recomputed_sig = True
    else:
        if (
            not isinstance(sig, list)
            or len(sig) != minhash.NUM_PERM
            or not all(type(v) is int and 0 <= v <= 0xFFFFFFFF for v in sig)
        ):
            return ("invalid-field", f"record {rid}: minhash must be a list of {minhash.NUM_PERM} uint32 integers")
        sig_bytes = np.asarray(sig, dtype="<u4").tobytes()
    words = obj.get("words")
    if words is None:
        words = len(text.split())
    elif type(words) is not int or words < 0:
        return ("invalid-field", f"record {rid}: words must be a non-negative integer")
    version = obj.get("version")
    if version is None:
        version = 0
    elif type(version) is not int or not 0 <= version < 2**31:
        return ("invalid-field", f"record {rid}: version must be a non-negative integer")
    manuscript = obj.get("is_manuscript", False)
    if manuscript is None:
        manuscript = False
    elif type(manuscript) is not bool:
        return ("invalid-field", f"record {rid}: is_manuscript must be true or false")
    pmcid = obj.get("pmcid")
    doi = obj.get("doi")
    for name, value in (("pmcid", pmcid), ("doi", doi)):
        if value is not None and not isinstance(value, str):
            return ("invalid-field", f"record {rid}: {name} must be a string")
    return Checked(
        id=rid,
        text_hash=th,
        sig=sig_bytes,
        words=words,
        version=version,
        is_manuscript=manuscript,
        pmcid=pmcid.strip().upper() or None if pmcid else None,
        doi=doi.strip().lower() or None if doi else None,
        recomputed_hash=recomputed_hash,
        recomputed_sig=recomputed_sig,
    )


def _key64(text: str | None) -> int:
    """A non-zero 64-bit key of a string; 0 means absent."""
    if not text:
        return 0
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little") or 1


def split_hash(salt: str, doc_id: str) -> float:
    """Stable uniform value in [0, 1) of a document id (independent of every other document)."""
    digest = hashlib.sha256(f"{salt}\0{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass
class DedupState:
    """Per-document rows of pass 1, in compact typed buffers (no per-document Python objects)."""

    id_bytes: bytearray = field(default_factory=bytearray)
    id_end: array = field(default_factory=lambda: array("q"))
    hash16: bytearray = field(default_factory=bytearray)
    sigs: bytearray = field(default_factory=bytearray)
    words: array = field(default_factory=lambda: array("q"))
    version: array = field(default_factory=lambda: array("i"))
    manuscript: array = field(default_factory=lambda: array("B"))
    key_id: array = field(default_factory=lambda: array("Q"))
    key_pmcid: array = field(default_factory=lambda: array("Q"))
    key_doi: array = field(default_factory=lambda: array("Q"))

    def add(self, rec: Checked) -> None:
        self.id_bytes += rec.id.encode("utf-8")
        self.id_end.append(len(self.id_bytes))
        self.hash16 += bytes.fromhex(rec.text_hash[:32])
        self.sigs += rec.sig
        self.words.append(rec.words)
        self.version.append(rec.version)
        self.manuscript.append(1 if rec.is_manuscript else 0)
        self.key_id.append(_key64(rec.id))
        self.key_pmcid.append(_key64(rec.pmcid))
        self.key_doi.append(_key64(rec.doi))

    def __len__(self) -> int:
        return len(self.id_end)

    def doc_id(self, i: int) -> str:
        start = self.id_end[i - 1] if i else 0
        return self.id_bytes[start : self.id_end[i]].decode("utf-8")

    def signatures(self) -> np.ndarray:
        return np.frombuffer(self.sigs, dtype="<u4").reshape(len(self), minhash.NUM_PERM)

    @property
    def nbytes(self) -> int:
        buffers = (self.id_bytes, self.hash16, self.sigs)
        arrays = (self.id_end, self.words, self.version, self.manuscript, self.key_id, self.key_pmcid, self.key_doi)
        return sum(len(b) for b in buffers) + sum(a.itemsize * len(a) for a in arrays)


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = array("q", range(n))

    def find(self, x: int) -> int:
        p = self.parent
        while p[x] != x:
            p[x] = p[p[x]]
            x = p[x]
        return x

    def union_pairs(self, a: np.ndarray, b: np.ndarray) -> int:
        """Joins each (a[i], b[i]); the smaller root becomes the parent. Returns how many joins merged sets."""
        merged = 0
        p = self.parent
        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            rx, ry = self.find(x), self.find(y)
            if rx != ry:
                if rx < ry:
                    p[ry] = rx
                else:
                    p[rx] = ry
                merged += 1
        return merged

    def roots(self) -> np.ndarray:
        parent = np.frombuffer(self.parent, dtype=np.int64).copy()
        while True:
            nxt = parent[parent]
            if np.array_equal(nxt, parent):
                return parent
            parent = nxt


def _equal_neighbors(order: np.ndarray, equal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return order[:-1][equal], order[1:][equal]


def _fmix64(x: np.ndarray) -> np.ndarray:
    return minhash._fmix64(x)


def band_keys(sigs: np.ndarray, band: int, rows_of: np.ndarray | None = None) -> np.ndarray:
    """A 64-bit key per row (or per row in ``rows_of``) of one band; equal bands give equal keys, and
    key collisions only add candidates (every candidate is verified)."""
    cols = slice(band * minhash.ROWS, (band + 1) * minhash.ROWS)
    part = sigs[:, cols] if rows_of is None else sigs[rows_of, cols]
    rows = np.ascontiguousarray(part).view(np.uint64)
    with np.errstate(over="ignore"):
        key = np.zeros(len(rows), dtype=np.uint64)
        for j in range(rows.shape[1]):
            key = _fmix64(key ^ (rows[:, j] + np.uint64(0x9E3779B97F4A7C15 * (j + 1) % 2**64)))
    return key


def lsh_candidates(
    sigs: np.ndarray, band: int, window: int, rows_of: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of positions (in ``rows_of``, or rows) sharing the band's bucket; each is compared with the next
    ``window`` members of its bucket."""
    keys = band_keys(sigs, band, rows_of)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    firsts, seconds = [], []
    for d in range(1, window + 1):
        if d >= len(sk):
            break
        same = sk[d:] == sk[:-d]
        if not same.any():
            break
        firsts.append(order[:-d][same])
        seconds.append(order[d:][same])
    if not firsts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(firsts), np.concatenate(seconds)


def verify_pairs(sigs: np.ndarray, a: np.ndarray, b: np.ndarray, min_equal: int) -> np.ndarray:
    """Mask of the pairs whose signatures agree in at least ``min_equal`` positions (chunked)."""
    out = np.zeros(len(a), dtype=bool)
    step = 1 << 18
    for s in range(0, len(a), step):
        eq = np.count_nonzero(sigs[a[s : s + step]] == sigs[b[s : s + step]], axis=1)
        out[s : s + step] = eq >= min_equal
    return out


@dataclass
class Plan:
    """Result of clustering: for each document its cluster's kept document and, if kept, its split."""

    kept_of: np.ndarray  # int64 per document
    split: np.ndarray  # int8 per document: 0 train, 1 validation, 2 test, -1 not kept
    stats: dict[str, Any]


def plan(state: DedupState, cfg: DedupConfig, log: logging.Logger) -> Plan:
    n = len(state)
    uf = UnionFind(n)
    stats: dict[str, Any] = {}
    sigs = state.signatures()
    # 1. exact duplicates
    h = np.frombuffer(state.hash16, dtype=">u8").reshape(n, 2) if n else np.zeros((0, 2), dtype=">u8")
    hi, lo = h[:, 0].astype(np.uint64), h[:, 1].astype(np.uint64)
    order = np.lexsort((lo, hi))
    same = (hi[order][1:] == hi[order][:-1]) & (lo[order][1:] == lo[order][:-1])
    a, b = _equal_neighbors(order, same)
    stats["exact_pairs"] = len(a)
    uf.union_pairs(a, b)
    representative = np.ones(n, dtype=bool)
    representative[order[1:][same]] = False
    # 2. the same article under one id / pmcid / doi
    id_merges = 0
    if cfg.match_ids:
        for keys in (state.key_id, state.key_pmcid, state.key_doi):
            k = np.frombuffer(keys, dtype=np.uint64)
            order = np.argsort(k, kind="stable")
            sk = k[order]
            same = (sk[1:] == sk[:-1]) & (sk[1:] != 0)
            a, b = _equal_neighbors(order, same)
            id_merges += uf.union_pairs(a, b)
    stats["id_merges"] = id_merges
    # 3. near duplicates among exact-group representatives
    reps = np.flatnonzero(representative)
    min_equal = math.ceil(cfg.jaccard_threshold * minhash.NUM_PERM - 1e-9)
    candidates = verified = near_merges = 0
    for band in range(minhash.NUM_BANDS):
        a, b = lsh_candidates(sigs, band, cfg.bucket_window, reps)
        a, b = reps[a], reps[b]
        candidates += len(a)
        ok = verify_pairs(sigs, a, b, min_equal)
        verified += int(ok.sum())
        near_merges += uf.union_pairs(a[ok], b[ok])
    stats.update(candidate_pairs=candidates, verified_pairs=verified, near_merges=near_merges)
    log.info(
        f"clustering: {n} documents, {len(reps)} exact-distinct, {candidates} LSH candidates, {verified} verified"
    )
    # keep rule
    roots = uf.roots()
    kept_of = np.arange(n, dtype=np.int64)
    order = np.argsort(roots, kind="stable")
    sr = roots[order]
    starts = np.flatnonzero(np.r_[True, sr[1:] != sr[:-1]]) if n else np.empty(0, dtype=np.int64)
    ends = np.r_[starts[1:], n] if n else starts
    sizes = ends - starts
    words = np.frombuffer(state.words, dtype=np.int64)
    version = np.frombuffer(state.version, dtype=np.int32)
    manuscript = np.frombuffer(state.manuscript, dtype=np.uint8)
    for s, e in zip(starts[sizes > 1].tolist(), ends[sizes > 1].tolist(), strict=True):
        members = order[s:e].tolist()
        best = min(
            members,
            key=lambda i: (int(manuscript[i]), -int(version[i]), -int(words[i]), state.doc_id(i)),
        )
        kept_of[members] = best
    size_values, size_counts = np.unique(sizes, return_counts=True)
    stats["clusters"] = {
        "total": len(sizes),
        "singletons": int((sizes == 1).sum()),
        "with_duplicates": int((sizes > 1).sum()),
        "largest": int(sizes.max()) if len(sizes) else 0,
        "size_histogram": [[int(v), int(c)] for v, c in zip(size_values, size_counts, strict=True)],
    }
    # split of kept documents
    split = np.full(n, -1, dtype=np.int8)
    kept = np.flatnonzero(kept_of == np.arange(n))
    u = np.array([split_hash(cfg.split_salt, state.doc_id(i)) for i in kept.tolist()], dtype=np.float64)
    vf, tf = cfg.validation_fraction, cfg.test_fraction
    codes = np.where(u < vf, 1, np.where(u < vf + tf, 2, 0)).astype(np.int8)
    overflow = {}
    for code, cap in ((1, cfg.max_validation_docs), (2, cfg.max_test_docs)):
        members = np.flatnonzero(codes == code)
        if cap and len(members) > cap:
            by_hash = members[np.argsort(u[members], kind="stable")]
            codes[by_hash[cap:]] = 0
            overflow[SPLITS[code]] = int(len(members) - cap)
        else:
            overflow[SPLITS[code]] = 0
    split[kept] = codes
    stats["cap_overflow_to_train"] = overflow
    return Plan(kept_of=kept_of, split=split, stats=stats)


@dataclass
class Item:
    """One input line: a valid record (with its ordinal among valid records) or a rejection."""

    obj: dict[str, Any] | None
    ordinal: int
    source: str
    rejection: tuple[str, str] | None
    checked: Checked | None = None


def iter_items(files: list[Path], root: Path, *, compute: bool) -> Iterator[Item]:
    ordinal = 0
    for path in files:
        rel = path.relative_to(root).as_posix()
        for number, obj in enumerate(read_jsonl(path), start=1):
            if isinstance(obj, BadLine):
                yield Item(None, -1, f"{rel}:{obj.line}", ("invalid-json", obj.reason))
                continue
            source = obj.get("source") if isinstance(obj.get("source"), str) else f"{rel}:{number}"
            checked = check_record(obj, compute=compute)
            if isinstance(checked, tuple):
                yield Item(obj, -1, source, checked)
                continue
            yield Item(obj, ordinal, source, None, checked)
            ordinal += 1


def no_documents_reason(root: Path, lines: int, bad: dict[str, int]) -> str:
    """Why there is nothing to deduplicate, with Ingest's funnel when its reports are beside the documents."""
    if lines:
        return f"none of the {lines} document records is valid ({bad}): nothing to train on"
    reasons: dict[str, int] = {}
    inputs = 0
    for report in sorted(root.glob("ingest-report-*.json")):
        data = json.loads(report.read_text(encoding="utf-8"))
        inputs += int(data.get("inputs", 0))
        for k, v in (data.get("rejected_by_reason") or {}).items():
            reasons[k] = reasons.get(k, 0) + int(v)
    if not inputs:
        return "Ingest found no articles on any instance: nothing to train on"
    listed = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return f"Ingest kept none of the {inputs} articles ({listed}): nothing to train on"


def run(cfg: DedupConfig, log: logging.Logger) -> dict[str, Any]:
    root = Path(cfg.input_dir)
    docs_dir = root / "documents"
    if not docs_dir.is_dir():
        raise InputError(f"--input_dir {root}: no documents/ folder (expected the ingest output root)")
    files = jsonl_files(docs_dir)
    if not files:
        raise InputError(f"--input_dir {root}: no *.jsonl files under documents/")
    out = Path(cfg.output_dir)
    log.info(f"dedup: {len(files)} input file(s) under {docs_dir}")

    # pass 1
    state = DedupState()
    lines = 0
    bad: dict[str, int] = {}
    recomputed = {"text_hash": 0, "minhash": 0}
    progress = Progress(log, "pass 1 records", every=20000)
    for item in iter_items(files, root, compute=True):
        lines += 1
        if item.rejection is not None:
            bad[item.rejection[0]] = bad.get(item.rejection[0], 0) + 1
        else:
            assert item.checked is not None
            state.add(item.checked)
            recomputed["text_hash"] += item.checked.recomputed_hash
            recomputed["minhash"] += item.checked.recomputed_sig
        progress.update()
    progress.close(valid=len(state), rejected=sum(bad.values()))
    state_bytes = state.nbytes

    if not len(state):
        raise InputError(f"--input_dir {root}: {no_documents_reason(root, lines, bad)}")
    result = plan(state, cfg, log)
    n = len(state)

    # pass 2
    out.mkdir(parents=True, exist_ok=True)
    targets = {name: out / name / "part-00000.jsonl" for name in (*SPLITS, "rejected")}
    handles = {}
    for name, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        handles[name] = open(path.with_name(path.name + ".tmp"), "w", encoding="utf-8", newline="\n")  # noqa: SIM115
    counts = {name: {"documents": 0, "words": 0} for name in SPLITS}
    rejected_by_reason: dict[str, int] = {}
    duplicates_by_match: dict[str, int] = {}
    sigs = state.signatures()
    hashes = state.hash16
    keys = {
        "same-id": np.frombuffer(state.key_id, dtype=np.uint64),
        "same-pmcid": np.frombuffer(state.key_pmcid, dtype=np.uint64),
        "same-doi": np.frombuffer(state.key_doi, dtype=np.uint64),
    }
    seen = 0
    try:
        for item in iter_items(files, root, compute=False):
            if item.rejection is not None:
                reason, detail = item.rejection
                rec: dict[str, Any] = {"source": item.source, "reason": reason, "detail": detail}
                if item.obj is not None:
                    for k in ("id", "pmcid"):
                        if isinstance(item.obj.get(k), str):
                            rec[k] = item.obj[k]
                _write(handles["rejected"], rec)
                rejected_by_reason[reason] = rejected_by_reason.get(reason, 0) + 1
                continue
            i = item.ordinal
            seen += 1
            assert item.obj is not None and item.checked is not None
            if i >= n or state.doc_id(i) != item.checked.id:
                raise InputError("input changed between pass 1 and pass 2; rerun dedup on a stable input")
            k = int(result.kept_of[i])
            if k == i:
                name = SPLITS[int(result.split[i])]
                record = {key: value for key, value in item.obj.items() if key != "minhash"}
                record["split"] = name
                _write(handles[name], record)
                counts[name]["documents"] += 1
                counts[name]["words"] += item.checked.words
                continue
            if hashes[16 * i : 16 * i + 16] == hashes[16 * k : 16 * k + 16]:
                match, detail = "exact", "same normalized text"
            else:
                match = next((m for m, arr in keys.items() if cfg.match_ids and arr[i] and arr[i] == arr[k]), "near")
                jac = minhash.estimate_jaccard(sigs[i], sigs[k])
                detail = f"estimated Jaccard {jac:.3f} with the kept document" + (
                    "" if match == "near" else f" ({match})"
                )
            rec = {
                "source": item.source,
                "id": item.checked.id,
                "reason": "duplicate",
                "duplicate_of": state.doc_id(k),
                "match": match,
                "detail": detail,
            }
            if item.checked.pmcid:
                rec["pmcid"] = item.obj.get("pmcid")
            _write(handles["rejected"], rec)
            rejected_by_reason["duplicate"] = rejected_by_reason.get("duplicate", 0) + 1
            duplicates_by_match[match] = duplicates_by_match.get(match, 0) + 1
        if seen != n:
            raise InputError("input changed between pass 1 and pass 2; rerun dedup on a stable input")
    finally:
        for h in handles.values():
            h.close()
    for path in targets.values():
        os.replace(path.with_name(path.name + ".tmp"), path)

    kept_total = sum(c["documents"] for c in counts.values())
    report = {
        "input": {"files": len(files), "records": lines, "valid": n, "recomputed": recomputed},
        "rejected": {"total": sum(rejected_by_reason.values()), "by_reason": dict(sorted(rejected_by_reason.items()))},
        "duplicates": {"total": n - kept_total, "by_match": dict(sorted(duplicates_by_match.items()))},
        "clusters": result.stats["clusters"],
        "lsh": {
            "bands": minhash.NUM_BANDS,
            "rows": minhash.ROWS,
            "jaccard_threshold": cfg.jaccard_threshold,
            "bucket_window": cfg.bucket_window,
            "exact_pairs": result.stats["exact_pairs"],
            "id_merges": result.stats["id_merges"],
            "candidate_pairs": result.stats["candidate_pairs"],
            "verified_pairs": result.stats["verified_pairs"],
            "near_merges": result.stats["near_merges"],
        },
        "splits": counts,
        "kept": kept_total,
        "cap_overflow_to_train": result.stats["cap_overflow_to_train"],
        "memory": {
            "state_bytes": state_bytes,
            "bytes_per_document": round(state_bytes / n, 1) if n else 0.0,
        },
        "config": {
            "validation_fraction": cfg.validation_fraction,
            "test_fraction": cfg.test_fraction,
            "max_validation_docs": cfg.max_validation_docs,
            "max_test_docs": cfg.max_test_docs,
            "split_salt": cfg.split_salt,
            "match_ids": cfg.match_ids,
        },
    }
    assert lines == kept_total + report["rejected"]["total"], "counts must add up"
    write_json(out / "dedup-report.json", report)
    return report


def _write(handle, record: dict[str, Any]) -> None:
    handle.write(dumps(record))
    handle.write("\n")
