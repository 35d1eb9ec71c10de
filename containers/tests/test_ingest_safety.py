"""Hostile inputs end as rejection records with a reason, quickly, without reading outside the input."""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import pytest

from medllama.ingest import main
from medllama.jsonl import read_jsonl

FIXTURES = Path(__file__).parent / "fixtures" / "jats"
GOOD = (FIXTURES / "01-inline-gluing.xml").read_bytes()


def _billion_laughs() -> bytes:
    ents = '<!ENTITY lol0 "lol">' + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    return f'<?xml version="1.0"?><!DOCTYPE article [{ents}]><article><body><p>&lol9;</p></body></article>'.encode()


def _quadratic() -> bytes:
    big = "A" * 50_000
    return (
        f'<?xml version="1.0"?><!DOCTYPE article [<!ENTITY a "{big}">]><article><body><p>'
        + "&a;" * 20_000
        + "</p></body></article>"
    ).encode()


def hostile_files(secret: Path) -> dict[str, bytes]:
    return {
        "bomb.xml": _billion_laughs(),
        "quadratic.xml": _quadratic(),
        "xxe.xml": f'<?xml version="1.0"?><!DOCTYPE article [<!ENTITY x SYSTEM "file://{secret}">]><article><body><p>&x;</p></body></article>'.encode(),
        "xxe-param.xml": f'<?xml version="1.0"?><!DOCTYPE article [<!ENTITY % p SYSTEM "file://{secret}"> %p;]><article/>'.encode(),
        "deep.xml": b"<article><body>" + b"<sec>" * 5000 + b"<p>deep</p>" + b"</sec>" * 5000 + b"</body></article>",
        "truncated.xml": GOOD[: len(GOOD) // 2],
        "garbage.xml": os.urandom(20_000),
        "empty.xml": b"",
        "latin1-declared-utf8.xml": GOOD.replace(b"Greek", "Gr\u00e9ek".encode("latin-1")),
        "nul-bytes.nxml": b"<article>\x00\x00\x00</article>",
        "huge.xml": GOOD[:-12] + b"<!--" + b"x" * (3 << 20) + b"-->" + GOOD[-12:],
        "not-jats.xml": b"<?xml version='1.0'?><html><body><p>hello</p></body></html>",
    }


EXPECTED = {
    "bomb.xml": "unsafe-xml",
    "quadratic.xml": "unsafe-xml",
    "xxe.xml": "unsafe-xml",
    "xxe-param.xml": "unsafe-xml",
    "deep.xml": "unsafe-xml",
    "truncated.xml": "truncated",
    "garbage.xml": {"parse-error", "bad-encoding"},
    "empty.xml": "parse-error",
    "latin1-declared-utf8.xml": "bad-encoding",
    "nul-bytes.nxml": "parse-error",
    "huge.xml": "too-large",
    "not-jats.xml": "not-jats",
    "escape-link.xml": "unsafe-path",
}


def test_hostile_inputs_rejected_with_reasons_fast(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    inp = tmp_path / "in"
    inp.mkdir()
    for name, data in hostile_files(secret).items():
        (inp / name).write_bytes(data)
    (inp / "escape-link.xml").symlink_to(secret)
    (inp / "ok.xml").write_bytes(GOOD)
    out = tmp_path / "out"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    assert main(["--input_dir", str(inp), "--output_dir", str(out), "--max_file_mb", "2", "--min_words", "20"]) == 0
    elapsed = time.monotonic() - start
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert elapsed < 10, f"hostile inputs took {elapsed:.1f}s"
    assert grown_mb < 300, f"peak memory grew by {grown_mb:.0f} MB"
    rejected = {r["source"]: r for r in read_jsonl(out / "rejected" / "part-00000-of-00001.jsonl")}
    docs = [r["source"] for r in read_jsonl(out / "documents" / "part-00000-of-00001.jsonl")]
    assert docs == ["ok.xml"]
    for name, reason in EXPECTED.items():
        allowed = reason if isinstance(reason, set) else {reason}
        assert rejected[name]["reason"] in allowed, (name, rejected[name])
        assert rejected[name]["detail"]
    everything = (out / "rejected" / "part-00000-of-00001.jsonl").read_text() + (
        out / "documents" / "part-00000-of-00001.jsonl"
    ).read_text()
    assert "TOP-SECRET" not in everything
    report = json.loads((out / "ingest-report-00000-of-00001.json").read_text())
    assert report["inputs"] == len(EXPECTED) + 1 == report["documents"] + report["rejected"]


@pytest.mark.parametrize("name", ["bomb.xml", "quadratic.xml", "deep.xml"])
def test_each_bomb_is_bounded_in_time(tmp_path, name):
    from medllama.ingest.safety import Rejected, parse

    data = hostile_files(tmp_path / "x")[name]
    start = time.monotonic()
    with pytest.raises(Rejected) as err:
        parse(data, 64 << 20)
    assert err.value.reason == "unsafe-xml"
    assert time.monotonic() - start < 2


@pytest.mark.parametrize(
    "data",
    [
        b"<article><body>" + b"<table>" * 100_000 + b"</table>" * 100_000 + b"</body></article>",
        b"<article><body><p>x</p></body><back>"
        + b"<ref-list>" * 100_000
        + b"</ref-list>" * 100_000
        + b"</back></article>",
        b"<article><body><p>x</p></body><back>" + b"<ref-list></ref-list><table>" * 100_000 + b"</back></article>",
    ],
    ids=["nested-tables", "nested-reference-lists", "unclosed-tables-between-lists"],
)
def test_the_cut_before_parsing_stays_linear_on_hostile_nesting(data):
    """The byte search for reference lists and tables (cut before parsing) must not go quadratic."""
    from medllama.ingest.safety import Rejected, parse

    start = time.monotonic()
    try:
        parse(data, 64 << 20, cut_tables=True)
    except Rejected as err:
        assert err.reason in {"unsafe-xml", "parse-error"}
    assert time.monotonic() - start < 2
