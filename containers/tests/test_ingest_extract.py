"""Exact extraction results on the authored JATS fixtures (checklist cases named per test)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from medllama.ingest.jats import extract
from medllama.ingest.licenses import from_prose, from_url, normalize_code
from medllama.ingest.mathml import clean_tex
from medllama.ingest.safety import parse
from medllama.ingest.text import AY_CLOSE, AY_OPEN, CITE, remove_citations

FIXTURES = Path(__file__).parent / "fixtures" / "jats"


def doc(name: str, **kw):
    """Parsed and extracted as the ingest step does it (table bodies cut before parsing unless they are kept)."""
    parsed = parse((FIXTURES / name).read_bytes(), 1 << 24, cut_tables=not kw.get("keep_tables", False))
    return parsed, extract(parsed.root, **kw)


def paragraphs(name: str, **kw) -> list[str]:
    return doc(name, **kw)[1].text.split("\n\n")


def test_fixture_count():
    assert len(list(FIXTURES.glob("*.xml"))) >= 12


def test_inline_markup_never_glues_words_and_keeps_unicode():  # checklist 4, 16
    ps = paragraphs("01-inline-gluing.xml")
    assert ps[0] == "# Inline markup without gluing"
    assert "We grew the E. coli strain in rich lb medium at 37 °C for 2 h." in ps
    assert "Adjacent tags alphabeta stay as written; a BRCA1 gene and a link text follow." in ps
    assert "Concentrations of 10^−6 M and CO2 and Ca^2+ ions; the 1st trial." in ps
    assert "Greek μ and ± and the en dash 3–5 are kept as Unicode, nothing is transliterated." in ps


def test_citations_removed_with_brackets_separators_and_ranges():  # checklist 6
    ps = paragraphs("02-citations.xml")
    assert ps[4:9] == [
        "Numeric ranges are removed. Lists too.",
        "Author-year groups vanish, and lead-ins too.",
        "Superscripts go away. Mixed brackets keep the figure (Figure 2).",
        "As Smith et al. (2001) showed, narrative citations keep their words.",
        "Brackets inside the xref are removed too, and a hyphen range.",
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"x [{CITE}–{CITE}]. Next", "x. Next"),
        (f"x ({AY_OPEN}Lee 2003{AY_CLOSE}; {AY_OPEN}Kim 2004{AY_CLOSE}), and", "x, and"),
        (f"seen ({CITE}; Fig. 2) here", "seen (Fig. 2) here"),
        (f"disease.{CITE}{CITE} Next", "disease. Next"),
        (f"text [{CITE}, {CITE}-{CITE}; {CITE}].", "text."),
        (f"refs. {CITE} ok", "ok"),
    ],
)
def test_citation_marker_patterns(raw, expected):
    text, n = remove_citations(raw)
    assert " ".join(text.split()) == expected
    assert n >= 1


def test_sections_keep_parent_paragraphs_untitled_and_deep_sections():  # checklist 5, 10
    ps = paragraphs("03-sections.xml")
    assert ps[3:12] == [
        "A bare body paragraph before any section.",
        "## 1 Parent",
        "Parent paragraph before its subsections.",
        "### 1.1 Child",
        "Child paragraph.",
        "#### Grandchild",
        "##### Great-grandchild",
        "Four levels deep.",
        "A section without a title.",
    ]
    text = "\n".join(ps)
    assert "Competing interests" not in text and "Data are on request" not in text
    assert "Supplementary files" not in text and "Data file" not in text


def test_floats_lifted_out_of_paragraphs_and_captions_by_policy():  # checklist 7
    _, d = doc("04-floats.xml")
    ps = d.text.split("\n\n")
    i = ps.index("The sentence starts here and continues after the figure.")
    assert ps[i + 1] == "Figure 1: Growth curve. Cells grow fast."
    assert ps[i + 2 : i + 6] == [
        "Table data follow the table.",
        "Table 1: Counts per group.",
        "Files are not text.",
        "Boxed content is kept.",
    ]
    assert "Abbreviation note" not in d.text and "S1" not in d.text and "treated" not in d.text
    assert d.dropped["table_bodies"] == 1 and d.dropped["supplementary_material"] == 1
    _, with_tables = doc("04-floats.xml", keep_tables=True, keep_captions=False)
    assert "Group | n\nA treated | 12\nspanning" in with_tables.text
    assert "Figure 1" not in with_tables.text


def test_formulas_one_representation_latex():  # checklist 8
    ps = paragraphs("05-formulas.xml")
    assert "The rate $x^2+\\frac{a}{b}$ grows." in ps
    i = ps.index("We define")
    assert ps[i + 1 : i + 3] == ["$$E = mc^2$$", "where E is energy."]
    assert "A plain formula n = 5 stays text." in ps
    text = "\n".join(ps)
    assert "documentclass" not in text and text.count("mc^2") == 1


def test_clean_tex_strips_preamble_and_delimiters():
    assert clean_tex("\\documentclass{minimal}\\begin{document}\\[ a+b \\]\\end{document}") == "a+b"


def test_lists_definitions_quotes():  # checklist 9
    ps = paragraphs("06-lists.xml")
    i = ps.index("Steps were:")
    assert ps[i + 1] == "1. Collect samples.\n2. Extract DNA.\n  - Use kit A."
    assert ps[i + 2 : i + 6] == [
        "and then analyse.",
        "BMI: body mass index",
        "“It helped me,” said one patient.",
        "a. first\nb. second",
    ]


def test_sub_articles_back_matter_and_appendices():  # checklist 10, 11
    _, d = doc("07-subarticles.xml")
    assert "Reviewer text" not in d.text and "Author response" not in d.text
    assert "Body ref list entry" not in d.text and "Back section text" not in d.text
    assert "We thank" not in d.text and "footnote" not in d.text and "Example University" not in d.text
    assert d.text.endswith("## Appendix 1\n\nAppendix content is kept.")
    assert d.dropped["sub_articles"] == 2


def test_non_english_article_uses_english_translation():  # checklist 11, 13
    _, d = doc("08-translation.xml")
    assert d.translation_used
    assert d.title == "English translation title"
    assert "português" not in d.text and "Translated abstract" not in d.text
    assert "The English translation is used." in d.text


def test_malformed_file_repaired_entities_mapped_namespace_removed():  # checklist 1, 2, 3
    parsed, d = doc("13-malformed-pmc2025.xml")
    assert parsed.repairs == {"bad_comments": 1, "named_entities": 5, "stray_leading_bytes": 31}
    assert d.pmcid == "PMC9000013" and d.pmid == "12345"
    assert d.title == "Entities and namespaces: a subtitle"
    ps = d.text.split("\n\n")
    assert ps[1:7] == ["## Abstract", "### Background", "Structured background.", "### Results", "Structured results—with a dash.",
                       "Sum ∑ and emsp space and an unknown entity."]  # fmt: skip
    assert "Graphical abstract" not in d.text and "Nicht" not in d.text and "Not this" not in d.text


def test_metadata_flags():  # checklist 12, 14
    assert doc("09-correction.xml")[1].notice == "article-type correction"
    assert doc("16-retracted.xml")[1].retracted.startswith("related-article")
    parsed, d = doc("14-no-body.xml")
    assert parsed.is_manuscript and d.body_chars == 0 and d.abstract_chars > 0
    assert doc("15-ocr-scan.xml")[0].is_ocr
    assert doc("10-license-nc.xml")[1].license == "CC BY-NC"
    assert doc("11-license-prose.xml")[1].license == "CC BY"
    assert doc("12-license-none.xml")[1].license is None


@pytest.mark.parametrize(
    ("value", "code"),
    [("CC BY", "CC BY"), ("cc-by-nc", "CC BY-NC"), ("CC BY-NC-ND", "CC BY-NC-ND"), ("CC0", "CC0"), ("cc by-sa 4.0", "CC BY-SA"),
     ("open-access", None), ("TDM", "TDM"), ("public-domain", "Public Domain")],
)  # fmt: skip
def test_normalize_code(value, code):
    assert normalize_code(value) == code


def test_license_urls_and_prose():
    assert from_url("https://creativecommons.org/licenses/by-sa/4.0/") == "CC BY-SA"
    assert from_url("http://creativecommons.org/publicdomain/zero/1.0/") == "CC0"
    assert from_url("https://www.frontiersin.org/licenseagreement") is None
    assert from_prose("Creative Commons Attribution-NonCommercial-NoDerivs License") == "CC BY-NC-ND"
    assert from_prose("This document may be redistributed and reused, subject to certain conditions") is None


def test_citation_shortcuts_give_the_general_result():
    """The shortcuts for "x [12]" and "x.¹²" (and lone markers) equal the general path on random mixtures."""
    from medllama.ingest.text import _remove_citations

    atoms = [CITE, CITE, CITE, f"{AY_OPEN}Smith 2001{AY_CLOSE}", AY_OPEN, AY_CLOSE, "[", "]", "(", ")", " ", "  ",
             "\n", ",", ", ", ";", "–", "-", " and ", "&", "see ", "e.g. ", "x", "word", ".", "Fig. 2", "refs. ", "a",
             "\xa0", ":"]  # fmt: skip
    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(1, 14)))
        assert _remove_citations(text, fast=True) == _remove_citations(text, fast=False), repr(text)


def test_language_sample_drops_headings_and_formulas_like_the_plain_pattern():
    r"""The sample's noise pattern is written for speed; it removes what ``^#.*$|\$[^$]*\$`` removes."""
    import re

    from medllama.ingest.language import _NOISE, sample

    plain = re.compile(r"^#.*$|\$[^$]*\$", re.M)
    assert sample("# Title\nText with $x^2$ here.\n## Methods\nMore # not a heading.") == (
        " \nText with   here.\n \nMore # not a heading."
    )
    rng = random.Random(3)
    atoms = ["#", "$", "\n", "a", " ", "# ", "\n#", "$$", "x", "\n\n"]
    for _ in range(50_000):
        text = "".join(rng.choice(atoms) for _ in range(rng.randrange(0, 20)))
        assert _NOISE.sub(" ", text) == plain.sub(" ", text), repr(text)
