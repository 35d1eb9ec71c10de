"""medllama.minhash: normalization, exact hash, MinHash accuracy, determinism across processes, bands."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import time

import numpy as np
import pytest

from medllama import minhash

VOCAB = [f"term{i}" for i in range(30_000)]


def _shingles(words: list[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + minhash.NGRAM]) for i in range(len(words) - minhash.NGRAM + 1)}


def _mutate(words: list[str], fraction: float, rng: random.Random) -> list[str]:
    out = list(words)
    for i in rng.sample(range(len(out)), round(fraction * len(out))):
        out[i] = rng.choice(VOCAB) + "x"  # never equal to the original word
    return out


def test_constants() -> None:
    assert (minhash.NGRAM, minhash.NUM_BANDS, minhash.ROWS, minhash.NUM_PERM) == (5, 14, 8, 112)
    assert minhash.NUM_BANDS * minhash.ROWS == minhash.NUM_PERM
    assert isinstance(minhash.SEED, int)


def test_normalize_and_exact_hash() -> None:
    assert minhash.normalize_for_hash("  Ｈｅｌｌｏ\u00a0 WORLD\n\tﬁne ") == "hello world fine"
    a = minhash.exact_hash("The  Cell\ncycle")
    assert a == minhash.exact_hash("the cell CYCLE ")
    assert a == hashlib.sha1(b"the cell cycle").hexdigest()
    assert a != minhash.exact_hash("the cell cycles")
    assert len(a) == 40


def test_signature_shape_and_range() -> None:
    sig = minhash.signature("one two three four five six seven")
    assert isinstance(sig, list) and len(sig) == minhash.NUM_PERM
    assert all(isinstance(v, int) and 0 <= v < 2**32 for v in sig)
    # normalization is applied before shingling
    assert sig == minhash.signature("ONE two  three\nfour five six seven")


def test_short_texts_are_one_shingle() -> None:
    assert minhash.signature("alpha beta") == minhash.signature("Alpha  BETA")
    assert minhash.signature("alpha beta") != minhash.signature("alpha gamma")
    assert len(minhash.signature("")) == minhash.NUM_PERM
    # four words: whole text, so order matters and the text is not shingled into smaller pieces
    assert minhash.signature("a b c d") != minhash.signature("d c b a")


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.03, 0.1, 0.3])
def test_jaccard_estimate_accuracy(fraction: float) -> None:
    rng = random.Random(int(fraction * 1000) + 7)
    errors = []
    for _ in range(12):
        words = [rng.choice(VOCAB) for _ in range(1500)]
        other = _mutate(words, fraction, rng)
        a, b = _shingles(words), _shingles(other)
        true = len(a & b) / len(a | b)
        est = minhash.estimate_jaccard(minhash.signature(" ".join(words)), minhash.signature(" ".join(other)))
        errors.append(est - true)
    # standard error of one estimate is sqrt(J(1-J)/112) <= 0.047; the mean of 12 is within ~0.04
    assert abs(float(np.mean(errors))) < 0.04, errors
    assert max(abs(e) for e in errors) < 0.2, errors
    if fraction == 0.0:
        assert all(e == 0.0 for e in errors)


def test_unrelated_texts_have_low_similarity() -> None:
    rng = random.Random(3)
    a = " ".join(rng.choice(VOCAB) for _ in range(800))
    b = " ".join(rng.choice(VOCAB) for _ in range(800))
    assert minhash.estimate_jaccard(minhash.signature(a), minhash.signature(b)) < 0.05


def test_near_duplicates_share_a_band_unrelated_do_not() -> None:
    rng = random.Random(11)
    words = [rng.choice(VOCAB) for _ in range(3000)]
    near = _mutate(words, 0.01, rng)  # Jaccard ~0.95
    far = [rng.choice(VOCAB) for _ in range(3000)]
    b0, b1, b2 = (minhash.bands(minhash.signature(" ".join(w))) for w in (words, near, far))
    assert len(b0) == minhash.NUM_BANDS and all(len(b) == 4 * minhash.ROWS for b in b0)
    assert any(x == y for x, y in zip(b0, b1, strict=True))
    assert not any(x == y for x, y in zip(b0, b2, strict=True))


def test_bands_layout_and_validation() -> None:
    sig = list(range(minhash.NUM_PERM))
    bands = minhash.bands(sig)
    assert bands[1] == np.arange(8, 16, dtype="<u4").tobytes()
    assert b"".join(bands) == np.arange(112, dtype="<u4").tobytes()
    with pytest.raises(ValueError):
        minhash.bands(sig[:-1])
    with pytest.raises(ValueError):
        minhash.bands([2**32] * minhash.NUM_PERM)


def test_deterministic_across_processes() -> None:
    texts = ["Ebola virus disease outbreak in West Africa " * 20, "short one", "Ünïcode ﬁ text " * 9]
    here = [minhash.signature(t) for t in texts]
    code = (
        "import json,sys; from medllama import minhash; "
        "print(json.dumps([minhash.signature(t) for t in json.load(sys.stdin)]))"
    )
    for hashseed in ("1", "987"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": hashseed, "PATH": ""},
        )
        assert json.loads(out.stdout) == here


def test_long_text_is_chunked_and_fast_enough() -> None:
    """Not a timing test: a 200k-word text finishes (bounded memory blocks) and matches a manual minimum."""
    rng = random.Random(5)
    words = [rng.choice(VOCAB) for _ in range(200_000)]
    start = time.perf_counter()
    sig = minhash.signature_array(" ".join(words))
    elapsed = time.perf_counter() - start
    assert elapsed < 30  # sanity only (typically well under a second)
    shingles = minhash.shingle_hashes(" ".join(words))
    with np.errstate(over="ignore"):
        first = (shingles[:, None] * minhash._A[None, :5] + minhash._B[None, :5]) >> np.uint64(32)
    assert len(shingles) > minhash._CHUNK
    assert sig[:5].tolist() == first.min(axis=0).tolist()


def test_fingerprint_is_exact_hash_and_signature_with_one_normalization():
    text = "Ｆｕｌｌ-width  TEXT\nwith one two three four five six words"
    text_hash, sig = minhash.fingerprint(text)
    assert text_hash == minhash.exact_hash(text)
    assert sig.tolist() == minhash.signature(text) and sig.dtype == np.uint32


def test_word_hashes_are_the_polynomial_of_each_words_bytes():
    def polynomial(word: str) -> int:
        h = 0
        for byte in word.encode("utf-8"):
            h = (h * 0x100000001B3 + byte) % 2**64
        return h

    text = minhash.normalize_for_hash("Über  die α-Helix — one two\tthree, naïve 12.5 µm x")
    assert minhash.word_hashes(text).tolist() == [polynomial(w) for w in text.split(" ")]
    words = [f"w{i}" for i in range(400_000)]  # 3 MB: hashed in pieces of at most 1 MiB, cut at spaces
    words[1000] = "x" * 1_100_000  # one word longer than a piece
    hashes = minhash.word_hashes(" ".join(words))
    assert len(hashes) == len(words)
    assert [int(hashes[i]) for i in (0, 999, 1000, 1001, 200_000, -1)] == [
        polynomial(words[i]) for i in (0, 999, 1000, 1001, 200_000, -1)
    ]
