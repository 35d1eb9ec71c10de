"""The C speedups (medllama/_speedups/): each C function returns exactly what its Python twin
returns, on the sample corpus, the fixtures and random inputs built to hit the edge cases; the module is
rebuilt when its source changes and is never used stale; the step's output is the same with and without it.

The C module under test is compiled here, from the current source, into a temporary folder (with -Wextra
-Werror), so these tests never depend on an in-place build being up to date."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from medllama import minhash, speedups
from medllama.ingest import language
from medllama.ingest import text as text_module
from medllama.ingest.jats import extract
from medllama.ingest.safety import Rejected, cut_elements_py, has_markup_repairs_py, parse
from medllama.ingest.text import AY_CLOSE, AY_OPEN, CITE, squash_pieces_py, squash_py

FIXTURES = Path(__file__).parent / "fixtures" / "jats"
DEMO_CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "demo-corpus"


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory):
    if shutil.which(shlex.split(os.environ.get("CC") or "cc")[0]) is None:
        pytest.skip("no C compiler on this machine (cc): the C speedups cannot be built or tested here")
    out = tmp_path_factory.mktemp("speedups") / speedups.target().name
    speedups.build(out=out, extra_flags=("-Wextra", "-Werror"))
    spec = importlib.util.spec_from_file_location("under_test._speedups", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert speedups.source_sha256() == module.SOURCE_SHA256
    return module


def _corpus(pmc_sample: Path | None) -> list[bytes]:
    paths = sorted(FIXTURES.glob("*.xml")) + sorted(DEMO_CORPUS.glob("*.xml"))
    if pmc_sample is not None:
        paths += sorted(pmc_sample.rglob("*.xml"))
    return [p.read_bytes() for p in paths]


@pytest.fixture(scope="module")
def corpus(optional_pmc_sample: Path | None) -> list[bytes]:
    """The fixtures and the demo corpus, plus the 200 sample articles when ../shared is present."""
    return _corpus(optional_pmc_sample)


# ---------------------------------------------------------------- cut_elements, has_markup_repairs

_TOKENS = (
    b"<table>", b'<table frame="x">', b"</table>", b"<table/>", b"<table a='1'/>", b"<table-wrap>", b"</table-wrap>",
    b"<ref-list>", b"</ref-list>", b"<ref-list/>", b'<ref-list content-type="x">', b"<ref id='r'>", b"</ref>",
    b"<tr><td>c</td></tr>", b"text ", b"<!-- <table> -->", b">", b"<", b"/", b"<table", b"</ref-list", b"<ref-listx>",
    b"\n", b"&amp;", b"&nbsp;", b"&", b"&#160;", b"&lt", b"xmlns=\"u\"", b"xmlns='u'", b"xmlns=", b"&apos;", b"&quotx;",
)  # fmt: skip


def _random_markup(rng: random.Random, n: int) -> bytes:
    tokens = rng.sample(_TOKENS, rng.randrange(2, 12))
    return b"".join(rng.choice(tokens) for _ in range(n))


def test_cut_elements_is_the_python_twin_on_random_markup(c):
    rng = random.Random(7)
    for i in range(60_000):
        data = _random_markup(rng, rng.randrange(0, 40))
        tables = bool(i % 2)
        assert c.cut_elements(data, tables=tables) == cut_elements_py(data, tables=tables), data


def test_cut_elements_is_the_python_twin_on_articles(c, corpus):
    for data in corpus:
        for tables in (False, True):
            got, want = c.cut_elements(data, tables=tables), cut_elements_py(data, tables=tables)
            assert got == want
    assert c.cut_elements(corpus[0], tables=False)[0] is not None


def test_cut_elements_returns_the_same_object_when_nothing_is_cut(c):
    data = b"<article><body><p>x</p></body></article>"
    assert c.cut_elements(data, tables=True) == (data, {})
    assert c.cut_elements(data, tables=True)[0] is data
    with pytest.raises(TypeError):
        c.cut_elements("not bytes", tables=True)


def test_cut_elements_stays_linear_on_hostile_nesting(c):
    deep = b"<table>" * 100_000 + b"</table>" * 100_000
    unclosed = b"<ref-list>" * 100_000 + b"</ref-list>"
    start = time.perf_counter()
    assert c.cut_elements(deep, tables=True) == (b"<table/>", {})
    assert c.cut_elements(unclosed, tables=True) == cut_elements_py(unclosed, tables=True)
    assert time.perf_counter() - start < 5  # quadratic would take minutes; this takes milliseconds


def test_has_markup_repairs_is_the_python_twin(c, corpus):
    rng = random.Random(11)
    for _ in range(60_000):
        data = _random_markup(rng, rng.randrange(0, 20))
        assert c.has_markup_repairs(data) == has_markup_repairs_py(data), data
    for data in corpus:
        assert c.has_markup_repairs(data) == has_markup_repairs_py(data)
    assert c.has_markup_repairs(b"a &nbsp; b") == (False, True)
    assert c.has_markup_repairs(b'<m xmlns="u">&amp;</m>') == (True, False)


# ---------------------------------------------------------------- mark_citations


def _article_fields(data: bytes, mark: bool, **settings) -> dict | str:
    """Everything extract() returns for ``data`` (or the rejection reason), parsed with or without marking."""
    try:
        parsed = parse(data, 64 << 20, cut_tables=not settings.get("keep_tables"), mark_citations=mark)
        return dataclasses.asdict(extract(parsed.root, **settings)) | {"precut": parsed.precut}
    except Rejected as r:
        return r.reason


_XREFS = (
    '<xref ref-type="bibr" rid="b1">1</xref>', '<xref ref-type="bibr" rid="b2">2</xref>',
    "<xref rid='b3' ref-type='bibr'>3–5</xref>", '<xref ref-type="bibr" rid="s">Smith et al., 2001</xref>',
    '<xref ref-type="bibr" rid="e"/>', '<xref ref-type="bibr" rid="w"> </xref>', '<xref ref-type="bibr">a&amp;b</xref>',
    '<xref ref-type="bibr" rid="i"><italic>Lee</italic> 2003</xref>', '<xref ref-type="fig" rid="f1">Fig. 1</xref>',
    '<xref ref-type="fn" rid="fn1">a</xref>', '<xref ref-type="bibr" rid="u">¹²</xref>', "<sup>2</sup>", "<sup>-3</sup>",
    "<italic>x</italic>", "<italic></italic>", "x", "2", " ", "(", ")", "[", "]", ", ", "; ", "e.g. ", "10",
    '<inline-formula><mml:math><mml:mi>a</mml:mi><xref ref-type="bibr">4</xref></mml:math></inline-formula>',
    '<inline-formula><tex-math>a<xref ref-type="bibr">4</xref></tex-math></inline-formula>',
    '<!-- <xref ref-type="bibr">9</xref> -->', '<?pi <xref ref-type="bibr">9</xref>?>', "<break/>",
)  # fmt: skip


def _synthetic_article(rng: random.Random) -> bytes:
    def inline() -> str:
        return "".join(rng.choice(_XREFS) for _ in range(rng.randrange(0, 10)))

    body = "".join(
        rng.choice(
            [
                f"<p>{inline()}</p>",
                f"<sec><label>{inline()}</label><title>{inline()}</title><p>{inline()}</p></sec>",
                f"<list><list-item><label>{inline()}</label><p>{inline()}</p></list-item></list>",
                f"<fig id='f'><label>Figure 1</label><caption><title>{inline()}</title><p>{inline()}</p></caption></fig>",
                f"<table-wrap><caption><p>{inline()}</p></caption><table><tr><td>{inline()}</td></tr></table></table-wrap>",
                f"<disp-formula>{inline()}<inline-formula>{inline()}</inline-formula></disp-formula>",
                f"<p>{inline()}<fn><p>{inline()}</p></fn>{inline()}</p>",
            ]
        )
        for _ in range(rng.randrange(1, 6))
    )
    abstract = f"<abstract><p>{inline()}</p></abstract>" if rng.random() < 0.7 else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<article xmlns:mml="http://www.w3.org/1998/Math/MathML" article-type="research-article"><front>'
        f"<article-meta><title-group><article-title>T {inline()}</article-title></title-group>{abstract}"
        f"</article-meta></front><body>{body}</body><back><ref-list><ref id='b1'>R</ref></ref-list></back></article>"
    ).encode()


def test_marking_citations_keeps_every_extracted_field(c, corpus, monkeypatch):
    """Replacing plain bibliography xrefs by markers before parsing changes nothing extract() returns: on the
    corpus and on random articles that put citations next to everything the walker treats specially."""
    monkeypatch.setattr("medllama.ingest.safety.native", c)
    rng = random.Random(17)
    synthetic = [_synthetic_article(rng) for _ in range(1_500)]
    marked = sum(c.mark_citations(d) is not d for d in synthetic)
    assert marked > 1_000  # the generator does exercise the replacement
    for data in corpus + synthetic:
        for settings in ({}, {"keep_tables": True, "keep_captions": False}):
            assert _article_fields(data, True, **settings) == _article_fields(data, False, **settings), data[:300]


def test_mark_citations_replaces_only_plain_bibliography_xrefs_in_the_body(c):
    body = (
        '<p>a <xref ref-type="bibr" rid="B1">12</xref>, <xref rid="x"  ref-type = \'bibr\'>Smith 2001</xref>'
        ' <xref ref-type="fig">1</xref><xref ref-type="bibr"/><xref ref-type="bibr">a&amp;b</xref>'
        '<xref ref-type="bibr"rid="1">1</xref><xref ref-type="bibr" ref-type="bibr">1</xref><xref ref-type="bibr"> </xref>'
        '<!-- <xref ref-type="bibr">9</xref> --><xref  ref-type="bibr" >1–3</xref></p>'
    )
    doc = f'<?xml version="1.0"?><article><front><xref ref-type="bibr">1</xref></front><body>{body}</body></article>'
    out = c.mark_citations(doc.encode()).decode()
    assert out == doc.replace(
        '<xref ref-type="bibr" rid="B1">12</xref>, <xref rid="x"  ref-type = \'bibr\'>Smith 2001</xref>',
        "&#xE005;, &#xE006;Smith 2001&#xE007;",
    ).replace('<xref  ref-type="bibr" >1–3</xref>', "&#xE005;")
    for unusual in (
        doc.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="ISO-8859-1"?>'),
        doc.replace("<article>", "<!DOCTYPE article [<!ATTLIST p x CDATA 'y'>]><article>"),
        doc.replace("</body>", "<![CDATA[x]]></body>"),
        doc.replace("<body>", "<body>" + "<x>" * 240).replace("</body>", "</x>" * 240 + "</body>"),
        doc.replace("</article>", "<!-- open"),
    ):
        assert c.mark_citations(unusual.encode()) == unusual.encode(), unusual[:80]


# ---------------------------------------------------------------- squash

_CHARS = (
    " ", " ", " ", "a", "b", "x", ".", "\n", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x01", "\x85", "\xa0",
    "\u200b", "\u00ad", "\ufeff", "\u2060", "\u2003", "\u2028", "\u3000", "é", "\u0301", "Ω", "\ue008",
    "\U0001d400",
)  # fmt: skip


def test_squash_is_the_python_twin_on_random_text(c):
    rng = random.Random(3)
    for _ in range(200_000):
        chars = rng.sample(_CHARS, rng.randrange(1, 8))
        text = "".join(rng.choice(chars) for _ in range(rng.randrange(0, 40)))
        assert c.squash(text) == squash_py(text), repr(text)
    for _ in range(300):  # long texts take the Python twin's other path (replace + regex)
        text = "".join(rng.choice(_CHARS) for _ in range(rng.randrange(1_500, 6_000)))
        assert c.squash(text) == squash_py(text)


def test_squash_is_the_python_twin_on_article_text(c, corpus):
    for data in corpus:
        try:
            root = parse(data, 64 << 20).root
        except Rejected:
            continue
        raw = "".join(root.itertext())  # markup stripped, XML whitespace kept: what squash is given
        assert c.squash(raw) == squash_py(raw)
        assert c.squash(raw[:500]) == squash_py(raw[:500])


def test_squash_pieces_is_the_python_twin(c):
    rng = random.Random(4)
    sep = "\ue008"  # the walker's block separator
    for _ in range(50_000):
        chars = [*rng.sample(_CHARS, rng.randrange(1, 8)), sep]
        text = "".join(rng.choice(chars) for _ in range(rng.randrange(0, 40)))
        assert c.squash_pieces(text, sep) == squash_pieces_py(text, sep) == [squash_py(p) for p in text.split(sep)]
    with pytest.raises(ValueError, match="one character"):
        c.squash_pieces("a", "ab")


def test_squash_returns_clean_text_itself(c):
    clean = "A title with single spaces"
    assert c.squash(clean) is clean
    assert c.squash(" a\u200b b\n\tc ") == "a b c"
    with pytest.raises(TypeError):
        c.squash(b"bytes")


# ---------------------------------------------------------------- citation runs

_CITATION_ATOMS = (
    CITE, CITE, CITE, f"{AY_OPEN}Smith 2001{AY_CLOSE}", f"{AY_OPEN}12{CITE}{AY_CLOSE}", AY_OPEN, AY_CLOSE, "[", "]",
    "(", ")", " ", "  ", "\n", "\u2009", "\xa0", ",", ", ", ";", "–", "—", "‒", "−", "-", " and ", "and", "an", "&",
    "see ", "See also ", "e.g. ", "cf. ", "i.e., ", "reviewed in ", "for a review, see ", "refs. ", "Refs.", "ref.", "xrefs.", "_Ref.", "x",
    "word", ".", ":", "Fig. 2", "a", "E", "O", "N", "é", "\U0001d400", "Lorem ipsum dolor sit amet consectetur ", " " * 70,
)  # fmt: skip


def _remove(monkeypatch, native, texts: list[str]) -> list[tuple[str, int]]:
    """``text._remove_citations(fast=True)`` with the given twin of the loop (None: the Python one)."""
    with monkeypatch.context() as m:
        m.setattr(text_module, "native", native)
        return [text_module._remove_citations(t, fast=True) for t in texts]


def test_citation_runs_are_the_python_twin_on_random_text(c, monkeypatch):
    rng = random.Random(13)
    texts = [  # whitespace runs longer than the 60-character context the removal looks back over
        "x" + " " * 70 + "[" + CITE + "]",
        "x" + " " * 70 + CITE + ".",
        "see" + " " * 70 + CITE + ", y",
        "(" + " " * 70 + CITE + " )",
    ]
    for _ in range(60_000):
        atoms = rng.sample(_CITATION_ATOMS, rng.randrange(2, 14))
        texts.append("".join(rng.choice(atoms) for _ in range(rng.randrange(1, 30))))
    for t, got, want in zip(texts, _remove(monkeypatch, c, texts), _remove(monkeypatch, None, texts), strict=True):
        assert got == want, repr(t)


def test_citation_runs_are_the_python_twin_on_article_text(c, corpus, monkeypatch):
    texts = []
    for data in corpus:
        try:
            root = parse(data, 64 << 20).root
        except Rejected:
            continue
        for x in root.iter("xref"):  # numeric and author-year citations as the walker marks them
            if x.get("ref-type") == "bibr":
                label = "".join(x.itertext())
                x.clear(keep_tail=True)
                x.text = (
                    CITE if label.isdigit() or not any(ch.isalpha() for ch in label) else AY_OPEN + label + AY_CLOSE
                )
        texts.append("".join(root.itertext()))
    want = _remove(monkeypatch, None, texts)
    assert sum(n for _, n in want) > 100
    assert _remove(monkeypatch, c, texts) == want


def test_citation_runs_pass_errors_of_general_through(c):
    def broken(*_):
        raise ZeroDivisionError("from general")

    with pytest.raises(ZeroDivisionError, match="from general"):
        c.remove_citation_runs(f"(see {CITE}, x", broken)  # a bracket before, a lead-in: only general decides
    with pytest.raises(TypeError):
        c.remove_citation_runs(f"(see {CITE}, x", lambda *_: ("not a tuple",))
    assert c.remove_citation_runs("no markers", broken) == ("no markers", 0, False, False)
    # what _tidy is told: an emptied bracket, a stray marker
    assert c.remove_citation_runs(f"f( ) of x {CITE}.", broken)[2:] == (True, False)
    assert c.remove_citation_runs(f"x {AY_OPEN}y {CITE}", broken)[2:] == (False, True)


# ---------------------------------------------------------------- NFC probe


def test_the_unicode_facts_the_nfc_probe_rests_on():
    """Below U+0300 every character is a starter that NFC leaves alone and that never ends a canonical pair."""
    for cp in range(0x300):
        ch = chr(cp)
        assert unicodedata.combining(ch) == 0 and unicodedata.normalize("NFC", ch) == ch, hex(cp)
    seconds = set()
    for cp in range(sys.maxunicode + 1):
        decomposition = unicodedata.decomposition(chr(cp))
        if decomposition and not decomposition.startswith("<") and len(decomposition.split()) == 2:
            seconds.add(int(decomposition.split()[1], 16))
    assert min(seconds) >= 0x300


_NFC_CHARS = (
    "a", "e", "A", "x", " ", "\u0301", "\u0300", "\u0327", "\u0338", "=", "\u2260", "\u212b", "\u2126", "\u1100",
    "\u1161", "\u11a8", "\uac00", "\u0b47", "\u0b3e", "\u00e9", "\u2013", "\u03b1", "\u0345", "\u05b8", "\u05b7",
    "\u0591", "\u0100", "\u02ff", "\U0001d15e", "\U0001d165", "\uf900", "\u0340", "\u0344", "\u0387",
)  # fmt: skip


def test_nfc_probe_decides_like_the_whole_text(c):
    rng = random.Random(5)
    changed = 0
    for _ in range(200_000):
        chars = rng.sample(_NFC_CHARS, rng.randrange(1, 8))
        text = "".join(rng.choice(chars) for _ in range(rng.randrange(0, 14)))
        probe = c.nfc_probe(text)
        normalized = unicodedata.is_normalized("NFC", text)
        assert (probe is None or unicodedata.is_normalized("NFC", probe)) == normalized, repr(text)
        changed += not normalized
    assert changed > 10_000  # the random texts do exercise both answers
    assert c.nfc_probe("café") is None  # one-byte text
    assert c.nfc_probe("e\u0301 and \u2013 x") == "e\u0301 \u2013"
    with pytest.raises(TypeError):
        c.nfc_probe(1)


# ---------------------------------------------------------------- MinHash


def test_collapse_is_split_and_join(c):
    rng = random.Random(8)
    for _ in range(100_000):
        chars = rng.sample(_CHARS, rng.randrange(1, 8))
        text = "".join(rng.choice(chars) for _ in range(rng.randrange(0, 40)))
        assert c.collapse(text) == " ".join(text.split()), repr(text)


_NFKC_CHARS = (
    "a", "e", "A", " ", "x", "\x00", "\u0301", "\u0300", "\u0327", "\u00b5", "\u00b2", "\u00a0", "\ufb01",
    "\u2126", "\u212b", "\u1100", "\u1161", "\u11a8", "\uac00", "\u00e9", "\u2013", "\u03b1", "\u0345",
    "\u3000", "\uff21", "\u2460", "\U0001d400", "\u0130", "\u00bd", "\u1e9b", "\u0323", "\u0fb2", "\u0f80",
    "\u0344", "\u0387",
)  # fmt: skip


def test_nfkc_in_pieces_is_unicodedatas(c, monkeypatch):
    """NFKC over the non-ASCII runs only (each with the character before it) equals NFKC of the whole text."""
    for cp in range(128):  # the facts it rests on, besides "no composition ends in a character below U+0300"
        assert unicodedata.normalize("NFKC", chr(cp)) == chr(cp) and unicodedata.combining(chr(cp)) == 0
    monkeypatch.setattr(minhash, "native", c)
    rng = random.Random(21)
    changed = 0
    for _ in range(200_000):
        chars = rng.sample(_NFKC_CHARS, rng.randrange(1, 8))
        text = "".join(rng.choice(chars) for _ in range(rng.randrange(0, 14)))
        want = unicodedata.normalize("NFKC", text)
        assert minhash._nfkc(text) == want, repr(text)
        changed += want != text
    assert changed > 50_000
    assert c.nfkc_probe("ascii only") is None
    with pytest.raises(ValueError, match="2 windows but 1"):
        c.nfkc_assemble("é and é", ["e"])


def test_shingle_hashes_and_permutation_minima_are_the_numpy_twins(c):
    rng = random.Random(9)
    words = ["a", "bb", "émile", "zola", "ß", "中文", "x1", "0.5", "the", "of", "\u200b", "🙂"]
    for _ in range(3_000):
        text = " ".join(rng.choice(words) for _ in range(rng.randrange(minhash.NGRAM, 60)))
        want = minhash._shingle_hashes_py(text)
        got = np.frombuffer(c.shingle_hashes(text, minhash._POS), dtype=np.uint64)
        assert got.dtype == want.dtype and np.array_equal(got, want), text
        minima = np.frombuffer(c.permutation_minima(got, minhash._A, minhash._B), dtype=np.uint64)
        assert np.array_equal(minima, minhash._permutation_minima_py(want))
    with pytest.raises(ValueError, match="at least 5 words"):
        c.shingle_hashes("a b c d", minhash._POS)
    with pytest.raises(ValueError, match="uint64 buffers"):
        c.permutation_minima(b"1234", minhash._A, minhash._B)


def test_fingerprints_are_the_same_with_and_without_the_c_loops(c, corpus, monkeypatch):
    long = " ".join(f"w{i % 9973}" for i in range(250_000))  # 1.5 MB: hashed in 1 MiB pieces by numpy
    texts = ["", "one", "a b c d", "a b c d e", long]
    for data in corpus:
        try:
            texts.append(extract(parse(data, 64 << 20).root).text)
        except Rejected:
            continue

    def run(native):
        with monkeypatch.context() as m:
            m.setattr(minhash, "native", native)
            return [minhash.fingerprint(t) for t in texts]

    for (h1, s1), (h2, s2) in zip(run(c), run(None), strict=True):
        assert h1 == h2 and np.array_equal(s1, s2)


# ---------------------------------------------------------------- language ID


def test_language_id_features_are_py3langids(c, corpus, monkeypatch):
    """The C feature counts give py3langid's own (language, score) on article samples and random texts."""
    model = language._identifier()[0]
    texts = []
    for data in corpus:
        try:
            texts.append(language.sample(extract(parse(data, 64 << 20).root).text))
        except Rejected:
            continue
    rng = random.Random(12)
    scripts = [
        "the cell ",
        "la célula ",
        "die Zelle ",
        "клетка ",
        "細胞 ",
        "خلية ",
        "κύτταρο ",
        "🙂",
        "\ud800",
        "123 ",
    ]
    texts += ["".join(rng.choice(scripts) for _ in range(rng.randrange(1, 400))) for _ in range(300)]
    monkeypatch.setattr(language, "native", c)
    for text in texts:
        assert language.classify(text) == model.classify(text)
    _, nextmove, offsets, features = language._identifier()
    with pytest.raises(ValueError, match="out of range"):
        c.langid_features(b"abc", nextmove[:10], offsets, features, model.nb_numfeats)
    with pytest.raises(ValueError, match="malformed"):
        c.langid_features(b"abc", nextmove, offsets[:1], features, model.nb_numfeats)
    long = "the " * 70_000  # a count past 65535 wraps, as py3langid's uint16 array does under numpy 1.26
    with pytest.warns(DeprecationWarning, match="out-of-bound"):
        want = model.instance2fv(long)
    got = c.langid_features(long.encode(), nextmove, offsets, features, model.nb_numfeats)
    assert np.array_equal(np.frombuffer(got, np.uint16), want)


# ---------------------------------------------------------------- build and load


def test_build_is_a_no_op_when_up_to_date_and_a_stale_binary_is_never_loaded(c, tmp_path, monkeypatch):
    out = tmp_path / speedups.target().name
    speedups.build(out=out)
    mtime = out.stat().st_mtime_ns
    assert speedups.build(out=out) == out and out.stat().st_mtime_ns == mtime
    assert speedups._built_from(out) == speedups.source_sha256()

    monkeypatch.setattr(speedups, "target", lambda: out)
    stale = out.read_bytes().replace(speedups.source_sha256().encode(), b"0" * 64)
    out.write_bytes(stale)
    module, why = speedups._load()
    assert module is None and why.startswith("stale:")
    out.unlink()
    assert speedups._load()[1].startswith("not built")
    monkeypatch.setenv("MEDLLAMA_SPEEDUPS", "0")
    assert speedups._load() == (None, "turned off (MEDLLAMA_SPEEDUPS=0)")


def test_a_failing_compiler_is_reported_not_raised(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError, match="cannot run the C compiler"):
        speedups.build(cc="/nonexistent/cc", out=tmp_path / "x.so")
    with pytest.raises(RuntimeError, match="failed"):
        speedups.build(cc="false", out=tmp_path / "x.so")
    monkeypatch.delenv("MEDLLAMA_SPEEDUPS", raising=False)
    monkeypatch.setattr(speedups, "native", None)
    monkeypatch.setattr(speedups, "status", speedups.status)
    monkeypatch.setattr(speedups, "build", lambda: (_ for _ in ()).throw(RuntimeError("no cc")))
    assert speedups.ensure() == "python: not built (no cc)"


def _ingest(out: Path, speedups_on: bool, *flags: str) -> dict:
    env = {**os.environ, "MEDLLAMA_SPEEDUPS": "1" if speedups_on else "0"}
    cmd = [sys.executable, "-m", "medllama.ingest", "--input_dir", str(FIXTURES), "--output_dir", str(out)]
    subprocess.run([*cmd, "--min_words", "0", *flags], env=env, check=True, capture_output=True)
    (report,) = out.glob("ingest-report-*.json")
    return json.loads(report.read_text())


@pytest.mark.parametrize("flags", [(), ("--keep_tables", "true", "--keep_captions", "false")])
def test_the_step_writes_the_same_bytes_with_and_without_the_speedups(c, tmp_path, flags):
    on, off = _ingest(tmp_path / "on", True, *flags), _ingest(tmp_path / "off", False, *flags)
    assert on["timing"]["speedups"] == "compiled"
    assert off["timing"]["speedups"] == "turned off (MEDLLAMA_SPEEDUPS=0)"
    for part in ("documents", "rejected"):
        (a,) = (tmp_path / "on" / part).glob("*.jsonl")
        (b,) = (tmp_path / "off" / part).glob("*.jsonl")
        assert a.read_bytes() == b.read_bytes()
    assert on["documents"] > 10


def test_extract_matches_on_the_corpus_with_either_twin(c, corpus, monkeypatch):
    """The walker with the C squash/nfc gives the text the Python twins give (cut with each implementation)."""
    import medllama.ingest.jats as jats
    import medllama.ingest.text as text

    def run() -> list[str]:
        texts = []
        for data in corpus:
            try:
                texts.append(extract(parse(data, 64 << 20, cut_tables=True).root).text)
            except Rejected as r:
                texts.append(r.reason)
        return texts

    monkeypatch.setattr(text, "native", c)
    for mod in (jats, text):
        monkeypatch.setattr(mod, "squash", c.squash)
    monkeypatch.setattr("medllama.ingest.safety.cut_elements", c.cut_elements)
    monkeypatch.setattr("medllama.ingest.safety.has_markup_repairs", c.has_markup_repairs)
    with_c = run()
    monkeypatch.setattr(text, "native", None)
    for mod in (jats, text):
        monkeypatch.setattr(mod, "squash", squash_py)
    monkeypatch.setattr("medllama.ingest.safety.cut_elements", cut_elements_py)
    monkeypatch.setattr("medllama.ingest.safety.has_markup_repairs", has_markup_repairs_py)
    assert run() == with_c
