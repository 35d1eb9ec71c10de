"""Checks on the project-authored demo corpus in fixtures/demo-corpus (the JATS articles `npm run demo` ingests).

The corpus mixes clean research articles with deliberate edge cases for the ingest and dedup steps; every edge case
is listed in fixtures/demo-corpus/README.md and in the constants below, and the tests check both stay in step.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from medllama.resources import repo_root

CORPUS = repo_root() / "fixtures" / "demo-corpus"
README = CORPUS / "README.md"

# Deliberate edge cases (file name -> why). Keep in step with README.md.
MALFORMED = {"021-critical-care-balanced-crystalloids-sepsis.xml": "HTML entity &nbsp; and no DOCTYPE"}
NO_ABSTRACT = {
    "035-letter-short-ecg-screening.xml": "letter",
    "036-correction-notice-doac-dosing.xml": "correction notice",
    "037-retraction-notice-probiotic-trial.xml": "retraction notice",
}
NO_BODY = {"034-manuscript-no-body-glp1-obesity.xml": "accepted manuscript without body"}
NO_LICENSE: dict[str, str] = {}  # every file carries a <license>; see PROSE_LICENSE for the one without a URL
PROSE_LICENSE = {"023-dermatology-dupilumab-atopic-dermatitis.xml": "license prose only, no URL"}
NC_ND = {"010-nephrology-finerenone-hyperkalaemia.xml", "022-critical-care-early-mobilisation-ventilation.xml"}
SPANISH = "031-es-atencion-primaria-diabetes-control.xml"
SUB_ARTICLE = "011-neurology-tenecteplase-stroke.xml"
SHORT_LETTER = "035-letter-short-ecg-screening.xml"
NOTICES = {
    "036-correction-notice-doac-dosing.xml": "correction",
    "037-retraction-notice-probiotic-trial.xml": "retraction",
}
EXACT_DUP = ("015-pediatrics-bronchiolitis-high-flow.xml", "033-pediatrics-bronchiolitis-high-flow-pretty.xml")
NEAR_DUP = (
    "005-infectious-gram-negative-bacteraemia-duration.xml",
    "032-infectious-bacteraemia-duration-reissued.xml",
)
EDGE_FILES = {
    *MALFORMED, *NO_ABSTRACT, *NO_BODY, *PROSE_LICENSE, *NC_ND, *NOTICES, *EXACT_DUP, *NEAR_DUP,
    SPANISH, SUB_ARTICLE, SHORT_LETTER,
}  # fmt: skip

MIN_FILES = 32
MIN_TOTAL_BODY_WORDS = 25_000
MIN_FULL_ARTICLE_WORDS = 600  # each clean research article is a real-length paper, not a stub

NS = {"xlink": "http://www.w3.org/1999/xlink", "ali": "http://www.niso.org/schemas/ali/1.0/"}


def strict_parser() -> etree.XMLParser:
    """The safe parser: no entity expansion, no DTD loading, no network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.xml"))


@cache
def parse(name: str) -> etree._Element:
    """Parse a corpus file; the deliberately malformed ones only after mapping &nbsp; the way ingest must."""
    data = (CORPUS / name).read_bytes()
    if name in MALFORMED:
        data = data.replace(b"&nbsp;", b"&#160;")
    return etree.fromstring(data, strict_parser())


def text_of(el: etree._Element | None) -> str:
    return " ".join(" ".join(el.itertext()).split()) if el is not None else ""


def body_words(root: etree._Element) -> int:
    return len(text_of(root.find("body")).split())


def normalized_text(root: etree._Element) -> str:
    parts = [text_of(root.find("front/article-meta/title-group/article-title"))]
    parts += [text_of(a) for a in root.findall("front/article-meta/abstract")]
    parts.append(text_of(root.find("body")))
    return " ".join(unicodedata.normalize("NFKC", " ".join(parts)).lower().split())


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = text.split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


FILES = [p.name for p in corpus_files()]


def test_corpus_has_enough_articles_and_a_readme() -> None:
    assert CORPUS.is_dir(), f"{CORPUS} missing"
    assert len(FILES) >= MIN_FILES, f"only {len(FILES)} XML files in {CORPUS}"
    assert README.is_file()


def test_readme_lists_every_edge_case_file() -> None:
    readme = README.read_text(encoding="utf-8")
    missing = sorted(name for name in EDGE_FILES if name not in readme)
    assert not missing, f"edge-case files not documented in README.md: {missing}"
    assert "CC BY 4.0" in readme and "illustrative" in readme.lower()


def test_edge_case_files_exist() -> None:
    assert not sorted(EDGE_FILES - set(FILES)), "an edge-case constant names a file that is not in the corpus"


@pytest.mark.parametrize("name", FILES)
def test_well_formed_with_safe_parser(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    assert b"<!ENTITY" not in data, "no internal DTD subsets or entity declarations"
    if name in MALFORMED:
        with pytest.raises(etree.XMLSyntaxError, match="nbsp"):
            etree.fromstring(data, strict_parser())
        assert not data.lstrip().startswith(b"<!DOCTYPE") and b"<!DOCTYPE" not in data[:300]
    root = parse(name)
    assert root.tag == "article"


@pytest.mark.parametrize("name", FILES)
def test_required_elements(name: str) -> None:
    root = parse(name)
    title = text_of(root.find("front/article-meta/title-group/article-title"))
    assert len(title.split()) >= 4, "article-title missing or trivial"
    abstract = root.find("front/article-meta/abstract")
    if name in NO_ABSTRACT:
        assert abstract is None
    else:
        assert abstract is not None and len(text_of(abstract).split()) >= 50, "abstract missing or too short"
    if name in NO_BODY:
        assert root.find("body") is None
    else:
        assert body_words(root) > 0, "body missing or empty"
    license_el = root.find("front/article-meta/permissions/license")
    if name in NO_LICENSE:
        assert license_el is None
    else:
        assert license_el is not None, "license missing"


def license_urls(root: etree._Element) -> list[str]:
    lic = root.find("front/article-meta/permissions/license")
    urls = [lic.get(f"{{{NS['xlink']}}}href", "")]
    urls += [el.text or "" for el in lic.iterfind("ali:license_ref", NS)]
    urls += [el.get(f"{{{NS['xlink']}}}href", "") for el in lic.iter("ext-link")]
    return [u for u in urls if u]


def test_license_mix() -> None:
    kinds: dict[str, set[str]] = {"by": set(), "cc0": set(), "by-nc-nd": set(), "prose": set()}
    for name in FILES:
        urls = license_urls(parse(name))
        if not urls:
            kinds["prose"].add(name)
        elif all("/licenses/by-nc-nd/" in u for u in urls):
            kinds["by-nc-nd"].add(name)
        elif all("/publicdomain/zero/" in u for u in urls):
            kinds["cc0"].add(name)
        elif all("/licenses/by/4.0/" in u for u in urls):
            kinds["by"].add(name)
        else:
            pytest.fail(f"{name}: unexpected license URLs {urls}")
    assert kinds["prose"] == set(PROSE_LICENSE)
    assert kinds["by-nc-nd"] == NC_ND
    assert len(kinds["cc0"]) >= 2
    assert len(kinds["by"]) > len(FILES) // 2
    prose = text_of(parse(next(iter(PROSE_LICENSE))).find("front/article-meta/permissions/license"))
    assert "Creative Commons Attribution 4.0" in prose


def test_ids_unique_fictional_and_match_file_numbers() -> None:
    seen: dict[str, set[str]] = {"pmcid": set(), "pmid": set(), "doi": set()}
    for name in FILES:
        num = int(name[:3])
        meta = parse(name).find("front/article-meta")
        ids = {el.get("pub-id-type"): (el.text or "").strip() for el in meta.iterfind("article-id")}
        assert ids.get("pmcid") == f"PMC99{num:06d}", name
        assert 1 <= num <= 40, "fictional PMCIDs are PMC99000001..PMC99000040"
        assert ids.get("pmid") == f"99{num:06d}", name
        assert ids.get("doi") == f"10.5555/medllama.demo.{num:03d}", name
        for kind, value in ids.items():
            assert value not in seen[kind], f"duplicate {kind} {value}"
            seen[kind].add(value)


def test_total_body_words() -> None:
    total = sum(body_words(parse(name)) for name in FILES)
    assert total >= MIN_TOTAL_BODY_WORDS, f"body words {total} < {MIN_TOTAL_BODY_WORDS}"


def test_clean_research_articles_are_full_length_with_sections() -> None:
    for name in FILES:
        root = parse(name)
        if root.get("article-type") != "research-article" or name in NO_BODY:
            continue
        words = body_words(root)
        assert words >= MIN_FULL_ARTICLE_WORDS, f"{name}: only {words} body words"
        titles = [text_of(t).lower() for t in root.iterfind("body/sec/title")]
        assert len(titles) >= 4 and any(t.startswith(("method", "métodos")) for t in titles), name
        assert root.find(".//back/ref-list/ref") is not None, f"{name}: no references"


def test_edge_case_markers() -> None:
    es = parse(SPANISH)
    assert es.get("{http://www.w3.org/XML/1998/namespace}lang") == "es"
    assert es.get("article-type") == "research-article"
    assert es.find("front/article-meta/trans-abstract") is not None
    assert body_words(es) >= 300, "the Spanish article must be rejected for language, not length"
    for name, article_type in NOTICES.items():
        root = parse(name)
        assert root.get("article-type") == article_type
        assert root.find("front/article-meta/related-article") is not None
        assert body_words(root) < 150
    subs = [s.get("article-type") for s in parse(SUB_ARTICLE).iterfind("sub-article")]
    assert "decision-letter" in subs
    assert sum(1 for name in FILES if parse(name).find("sub-article") is not None) == 1
    assert body_words(parse(SHORT_LETTER)) < 100
    manuscript = (CORPUS / next(iter(NO_BODY))).read_text(encoding="utf-8")
    assert "<?properties manuscript?>" in manuscript


def test_exact_duplicate_pair_differs_only_in_ids_and_formatting() -> None:
    a_name, b_name = EXACT_DUP
    a, b = parse(a_name), parse(b_name)
    assert (CORPUS / a_name).read_bytes() != (CORPUS / b_name).read_bytes()
    assert normalized_text(a) == normalized_text(b)
    pmcid = "front/article-meta/article-id[@pub-id-type='pmcid']"
    assert a.findtext(pmcid) != b.findtext(pmcid)


def test_near_duplicate_pair_is_similar_but_not_identical() -> None:
    a, b = (normalized_text(parse(name)) for name in NEAR_DUP)
    assert a != b
    sa, sb = shingles(a), shingles(b)
    jaccard = len(sa & sb) / len(sa | sb)
    assert 0.8 <= jaccard < 1.0, f"near-duplicate 5-gram Jaccard {jaccard:.3f}"
    # and the near-duplicate is not near any other article
    for name in FILES:
        if name in NEAR_DUP or name in EXACT_DUP:
            continue
        other = shingles(normalized_text(parse(name)))
        assert len(sa & other) / max(1, len(sa | other)) < 0.3, name


@pytest.mark.parametrize("name", FILES)
def test_cross_references_resolve(name: str) -> None:
    root = parse(name)
    ids = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    dangling = sorted({x.get("rid") for x in root.iter("xref") if x.get("rid") not in ids})
    assert not dangling, f"xref rids without a target: {dangling}"


def test_citation_forms_are_varied() -> None:
    forms = {"bracket": 0, "superscript": 0, "author-year": 0}
    for name in FILES:
        raw = (CORPUS / name).read_text(encoding="utf-8", errors="replace")
        forms["bracket"] += bool(re.search(r'\[<xref ref-type="bibr"', raw))
        forms["superscript"] += bool(re.search(r'<sup><xref ref-type="bibr"', raw))
        forms["author-year"] += bool(re.search(r'\(<xref ref-type="bibr" rid="B\d+">[^<]*\d{4}</xref>', raw))
    assert all(count >= 3 for count in forms.values()), forms


def test_body_structures_are_exercised() -> None:
    """Inline markup, floats inside paragraphs, lists, MathML and back matter each occur in several articles."""
    counts = {
        "italic": 0, "bold": 0, "sup": 0, "sub": 0, "fig in p": 0, "table-wrap in p": 0, "list": 0,
        "mml:math": 0, "ack": 0, "fn-group": 0, "element-citation": 0, "mixed-citation": 0, "structured abstract": 0,
    }  # fmt: skip
    mml = "{http://www.w3.org/1998/Math/MathML}math"
    for name in FILES:
        root = parse(name)
        body = root.find("body")
        if body is None:
            continue
        for tag in ("italic", "bold", "sup", "sub"):
            counts[tag] += body.find(f".//{tag}") is not None
        counts["fig in p"] += body.find(".//p/fig") is not None
        counts["table-wrap in p"] += body.find(".//p/table-wrap") is not None
        counts["list"] += body.find(".//list") is not None
        counts["mml:math"] += body.find(f".//disp-formula/{mml}") is not None
        counts["ack"] += root.find("back/ack") is not None
        counts["fn-group"] += root.find("back/fn-group") is not None
        counts["element-citation"] += root.find(".//ref/element-citation") is not None
        counts["mixed-citation"] += root.find(".//ref/mixed-citation") is not None
        counts["structured abstract"] += root.find("front/article-meta/abstract/sec/title") is not None
    minimum = {"fig in p": 1, "table-wrap in p": 1, "mml:math": 2}
    low = {k: v for k, v in counts.items() if v < minimum.get(k, 3)}
    assert not low, f"too few articles with: {low}"
