"""Exact hash and MinHash signature of a document, shared by ingest (which emits them) and dedup (which uses them).

* ``normalize_for_hash``: NFKC, lowercase, whitespace runs collapsed to one space, stripped.
* ``exact_hash``: sha1 hex of the normalized text (exact-duplicate key).
* ``signature``: ``NUM_PERM`` = 112 MinHash values (uint32) over the set of word 5-gram shingles of the
  normalized text. A text of fewer than ``NGRAM`` words is one shingle (the whole normalized text).
  Each word's UTF-8 bytes are hashed with the 64-bit polynomial ``sum(byte_j * B**(len-1-j)) mod 2**64``
  (all words of a text at once, from prefix sums: :func:`word_hashes`), the five word hashes of a shingle
  are combined with distinct odd multipliers and a 64-bit finalizer into a 32-bit shingle hash ``x``; permutation ``i`` is the
  multiply-add-shift hash ``((a_i * x + b_i) mod 2**64) >> 32`` with ``a_i`` odd and ``a_i, b_i`` drawn
  from ``numpy.random.default_rng(SEED)`` (a 2-universal family for 32-bit keys). Nothing depends on
  Python's per-process string hash seed, so signatures are identical across processes and machines. When the
  C speedups are compiled (:mod:`medllama.speedups`), C loops compute the same values (the whitespace collapse,
  the shingle hashes, the permutation minima; tested equal), about 2.5× faster.
* ``bands``: the signature cut into ``NUM_BANDS`` = 14 bands of ``ROWS`` = 8 rows, each as 32 bytes
  (little-endian uint32). Two documents become LSH candidates when any band is equal; with 14 × 8 the
  probability is ``1 - (1 - J**8)**14``: 0.5 at Jaccard J ≈ 0.70, ≥ 0.9 at J ≥ 0.80, ≤ 0.05 at J ≤ 0.55.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata

import numpy as np

from medllama.speedups import native

NGRAM = 5
NUM_BANDS = 14
ROWS = 8
NUM_PERM = NUM_BANDS * ROWS  # 112
SEED = 1_234_567

_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_CHUNK = 1024  # shingles per block of the (shingles x permutations) matrix: 0.9 MB, stays in cache; bounds memory


def _permutation_params() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    a = rng.integers(0, 2**64, size=NUM_PERM, dtype=np.uint64, endpoint=False) | np.uint64(1)
    b = rng.integers(0, 2**64, size=NUM_PERM, dtype=np.uint64, endpoint=False)
    return a, b


_A, _B = _permutation_params()
# Odd multipliers combining the NGRAM word hashes of a shingle (position-dependent, so order matters).
_POS = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD],
    dtype=np.uint64,
)[:NGRAM]


def normalize_for_hash(text: str) -> str:
    """NFKC, lowercase, collapse every whitespace run to one space, strip."""
    folded = _nfkc(text).lower()
    return native.collapse(folded) if native is not None else " ".join(folded.split())


def _nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``. With the C speedups only the runs of non-ASCII characters (each
    with the character before it) are normalized: NFKC never acts across an ASCII character (_speedups/text.c)."""
    if native is None or "\0" in text:  # (NUL separates the pieces of the probe)
        return unicodedata.normalize("NFKC", text)
    probe = native.nfkc_probe(text)
    if probe is None or unicodedata.is_normalized("NFKC", probe):
        return text
    return native.nfkc_assemble(text, unicodedata.normalize("NFKC", probe).split("\0"))


def exact_hash(text: str) -> str:
    """sha1 hex digest of :func:`normalize_for_hash` (UTF-8)."""
    return hashlib.sha1(normalize_for_hash(text).encode("utf-8")).hexdigest()


def _h64(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little")


def _fmix64(x: np.ndarray) -> np.ndarray:
    # murmur3 64-bit finalizer (wrapping uint64 arithmetic)
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xFF51AFD7ED558CCD)
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> np.uint64(33))


# Word hash: the polynomial sum(byte_j * _BASE**(len-1-j)) mod 2**64 of the word's UTF-8 bytes, computed for every word
# at once from prefix sums (``_BASE`` is odd, so it has an inverse mod 2**64).
_BASE = np.uint64(0x100000001B3)
_BASE_INV = np.uint64(pow(0x100000001B3, -1, 2**64))


_CHUNK_BYTES = 1 << 20  # texts are hashed in pieces of at most this many bytes (cut at spaces): bounded memory


@functools.lru_cache(maxsize=2)
def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """_BASE ** i and _BASE_INV ** i for i = 0..n-1 (wrapping uint64); the 1 MiB tables (16 MB) are kept."""
    powers = np.empty(n, dtype=np.uint64)
    powers[0], powers[1:] = 1, _BASE
    inverse = powers.copy()
    inverse[1:] = _BASE_INV
    with np.errstate(over="ignore"):
        np.cumprod(powers, out=powers)
        np.cumprod(inverse, out=inverse)
    return powers, inverse


def _piece_hashes(b: np.ndarray) -> np.ndarray:
    """Word hashes of one piece of UTF-8 bytes (words separated by single spaces)."""
    n = len(b)
    spaces = np.flatnonzero(b == 0x20)
    starts = np.concatenate(([0], spaces + 1))
    ends = np.concatenate((spaces, [n]))
    powers, inverse = _power_tables(max(n, _CHUNK_BYTES))
    with np.errstate(over="ignore"):
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(b * inverse[:n], out=prefix[1:])
        return powers[ends - 1] * (prefix[ends] - prefix[starts])


def word_hashes(normalized: str) -> np.ndarray:
    """64-bit hash of each word (space-separated) of an already normalized, non-empty text, in order."""
    data = normalized.encode("utf-8")
    b = np.frombuffer(data, dtype=np.uint8)
    if len(b) <= _CHUNK_BYTES:
        return _piece_hashes(b)
    pieces, start = [], 0
    while start < len(b):  # cut at the last space of each MiB (a longer word is one piece)
        end = len(b) if len(b) - start <= _CHUNK_BYTES else data.rfind(b" ", start, start + _CHUNK_BYTES)
        if end <= start:
            end = data.find(b" ", start + _CHUNK_BYTES)
            end = len(b) if end < 0 else end
        pieces.append(_piece_hashes(b[start:end]))
        start = end + 1
    return np.concatenate(pieces)


def shingle_hashes(normalized: str) -> np.ndarray:
    """Unique 32-bit hashes (as uint64, sorted) of the word NGRAM-shingles of an already normalized text."""
    if normalized.count(" ") < NGRAM - 1:  # fewer than NGRAM words: the whole text is one shingle
        return np.array([_h64(normalized) & 0xFFFFFFFF], dtype=np.uint64)
    if native is not None:  # the C loop (medllama.speedups): the same values
        return np.frombuffer(native.shingle_hashes(normalized, _POS), dtype=np.uint64)
    return _shingle_hashes_py(normalized)


def _shingle_hashes_py(normalized: str) -> np.ndarray:
    """:func:`shingle_hashes` of a text of at least NGRAM words, with numpy."""
    wh = word_hashes(normalized)
    n = len(wh) - NGRAM + 1
    with np.errstate(over="ignore"):
        acc = np.zeros(n, dtype=np.uint64)
        for k in range(NGRAM):
            acc += wh[k : k + n] * _POS[k]
        return np.unique(_fmix64(acc) >> _SHIFT32)


def signature_array(text: str) -> np.ndarray:
    """The MinHash signature as a numpy uint32 array of length NUM_PERM."""
    return _signature_of_normalized(normalize_for_hash(text))


def fingerprint(text: str) -> tuple[str, np.ndarray]:
    """``(exact_hash(text), signature_array(text))``, normalizing the text once (what ingest emits per document)."""
    normalized = normalize_for_hash(text)
    return hashlib.sha1(normalized.encode("utf-8")).hexdigest(), _signature_of_normalized(normalized)


def _signature_of_normalized(normalized: str) -> np.ndarray:
    # The minimum is taken over the full 64-bit values and shifted once at the end: ``>> 32`` is monotonic, so
    # min(v >> 32) == min(v) >> 32.
    shingles = shingle_hashes(normalized)
    if native is not None:  # the C loop (medllama.speedups): the same values, without the (shingles x perms) blocks
        minima = np.frombuffer(native.permutation_minima(shingles, _A, _B), dtype=np.uint64)
    else:
        minima = _permutation_minima_py(shingles)
    return (minima >> _SHIFT32).astype(np.uint32)


def _permutation_minima_py(shingles: np.ndarray) -> np.ndarray:
    """For each permutation i, the minimum over the shingles x of ``(_A[i] * x + _B[i]) mod 2**64``."""
    out = np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
    buf = np.empty((min(len(shingles), _CHUNK), NUM_PERM), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, len(shingles), _CHUNK):
            x = shingles[start : start + _CHUNK, None]
            perm = buf[: len(x)]
            np.multiply(x, _A[None, :], out=perm)
            perm += _B
            np.minimum(out, perm.min(axis=0), out=out)
    return out


def signature(text: str) -> list[int]:
    """NUM_PERM MinHash values (ints in [0, 2**32)) of the word NGRAM-shingles of the normalized text."""
    return signature_array(text).tolist()


def bands(sig) -> list[bytes]:
    """The signature cut into NUM_BANDS bands of ROWS values, each band as ROWS little-endian uint32 bytes."""
    arr = np.asarray(sig, dtype=np.int64)
    if arr.shape != (NUM_PERM,):
        raise ValueError(f"signature must have {NUM_PERM} values, got shape {arr.shape}")
    if arr.min() < 0 or arr.max() > 0xFFFFFFFF:
        raise ValueError("signature values must be uint32")
    raw = arr.astype("<u4")
    return [raw[i * ROWS : (i + 1) * ROWS].tobytes() for i in range(NUM_BANDS)]


def estimate_jaccard(sig_a, sig_b) -> float:
    """Fraction of equal MinHash values: an unbiased estimate of the shingle-set Jaccard similarity."""
    a = np.asarray(sig_a)
    b = np.asarray(sig_b)
    return float(np.count_nonzero(a == b)) / NUM_PERM
