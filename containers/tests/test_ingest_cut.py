"""Elements cut from the bytes before parsing (reference lists, table bodies): the same text as the walk
over the whole tree, less parsing; anything that does not balance is left to the parser."""

from __future__ import annotations

import pytest

from medllama.ingest.jats import extract
from medllama.ingest.safety import cut_elements, element_spans, parse

TABLE = b'<table frame="hsides"><tr><td>alpha [<xref ref-type="bibr" rid="r1">1</xref>]</td><td>beta</td></tr></table>'
ARTICLE = (
    b'<?xml version="1.0"?><article article-type="research-article"><front><article-meta>'
    b"<title-group><article-title>T</article-title></title-group></article-meta></front><body><sec><title>S</title>"
    b"<p>Before.</p>"
    b'<table-wrap id="t1"><label>Table 1</label><caption><p>Cap.</p></caption>' + TABLE + b"</table-wrap>"
    b"<p>Bare follows.</p>" + TABLE + b"<p>After.</p></sec></body>"
    b'<back><ref-list><ref id="r1"><mixed-citation>One.</mixed-citation></ref>'
    b'<ref id="r2"><mixed-citation>Two.</mixed-citation></ref></ref-list></back></article>'
)


def test_spans_handle_nesting_empty_elements_and_lookalike_names():
    data = (
        b"<x><table-wrap><table><tr><td><table><tr/></table></td></tr></table></table-wrap><table/><table a='1'/></x>"
    )
    (span,) = element_spans(data, b"table")
    assert data[span[0] : span[1]] == b"<table><tr><td><table><tr/></table></td></tr></table>"
    assert element_spans(b"<x><table><td>open</td></x>", b"table") is None  # no close: nothing is cut
    assert element_spans(b"<x><table-wrap/></x>", b"table") == []
    assert element_spans(data, b"table", 0, 14) == []  # bounded search


def test_cut_removes_reference_lists_and_leaves_table_stubs():
    cut, counts = cut_elements(ARTICLE, tables=True)
    assert counts == {"references": 2}
    assert b"<ref-list" not in cut and b"<td>" not in cut and cut.count(b"<table/>") == 2
    # an empty list first, then content, then the real list: the content between stays
    lists = ARTICLE.replace(b"<back>", b"<back><ref-list/><notes><p>Kept.</p></notes>")
    assert b"<notes><p>Kept.</p></notes>" in cut_elements(lists, tables=False)[0]
    untouched, counts = cut_elements(ARTICLE.replace(b"<ref-list>", b"<ref-list><ref-list>"), tables=False)
    assert b"<table frame" in untouched


@pytest.mark.parametrize("keep_tables", [False, True])
def test_cut_gives_the_text_of_the_whole_tree(keep_tables):
    whole = parse(ARTICLE, 1 << 20)
    cut = parse(ARTICLE, 1 << 20, cut_tables=not keep_tables)
    a = extract(whole.root, keep_tables=keep_tables)
    b = extract(cut.root, keep_tables=keep_tables)
    assert a.text == b.text
    assert cut.precut == {"references": 2} and whole.precut == {"references": 2}
    if keep_tables:  # cells are rows; their citations go like a paragraph's; a bare table is not glued into text
        assert b.text.count("alpha | beta") == 2 and "[" not in b.text and "alphabeta" not in b.text
        assert b.dropped["citations"] == 2
        assert "Before.\n\nTable 1: Cap.\n\nalpha | beta\n\nBare follows.\n\nalpha | beta\n\nAfter." in b.text
    else:
        assert "alpha" not in b.text and b.dropped["table_bodies"] == 2
        assert "Before.\n\nTable 1: Cap.\n\nBare follows.\n\nAfter." in b.text


def test_cut_that_does_not_parse_falls_back_to_the_whole_bytes():
    # a closing tag inside a comment ends the cut early: the cut bytes do not parse, so the whole bytes are parsed
    data = ARTICLE.replace(b"<ref-list>", b"<ref-list><!-- </ref-list> -->", 1)
    parsed = parse(data, 1 << 20, cut_tables=True)
    assert parsed.precut == {} and parsed.root.find("back/ref-list") is not None
    assert extract(parsed.root).text == extract(parse(ARTICLE, 1 << 20).root).text
    # a table tag inside a comment unbalances the table search: tables are then parsed, not cut
    commented = ARTICLE.replace(b"<p>Before.</p>", b"<p>Before.<!-- <table> --></p>")
    assert cut_elements(commented, tables=True)[0].count(b"<table frame") == 2
    assert extract(parse(commented, 1 << 20, cut_tables=True).root).dropped["table_bodies"] == 2
