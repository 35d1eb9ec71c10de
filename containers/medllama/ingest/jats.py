"""The JATS walker: one parsed article → title, text (title, abstracts, body, appendices) and metadata.

Fast path: the subtrees we keep are flattened with lxml's C routines first (``strip_elements`` for what is
dropped, ``strip_tags`` for inline markup, so adjacent text is joined exactly as written and nothing is
glued or split); Python then walks only the block structure (sections, paragraphs, lists, floats).
Bibliography ``xref``s become markers removed with their brackets in :mod:`.text`; formulas become
LaTeX (:mod:`.mathml`). The policy for every case is in docs/ingest.md.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from lxml import etree

from .licenses import from_xml
from .mathml import MML, formula_tex
from .safety import Rejected
from .text import AY_CLOSE, AY_OPEN, CITE, clean_inline, nfc, remove_citations, squash, squash_pieces

BLOCK_SEP = "\ue008"  # private use, like the citation markers of .text (and found as fast)

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# Removed with their content wherever they occur inside kept subtrees (the tail text stays).
DROP_ELEMENTS = (
    "ref-list", "fn-group", "fn", "graphic", "inline-graphic", "media", "alt-text", "long-desc", "object-id",
    "table-wrap-foot", "supplementary-material", "inline-supplementary-material", "glossary", "ack",
    "sub-article", "response", "permissions", "kwd-group", "funding-group", "custom-meta-group",
    "processing-meta", "author-notes", "contrib-group", "aff", "sec-meta", "attrib", "ref", "notes",
)  # fmt: skip
DROP_COUNT_KEYS = {
    "ref-list": "references", "ref": "references", "fn": "footnotes", "fn-group": "footnotes",
    "supplementary-material": "supplementary_material", "inline-supplementary-material": "supplementary_material",
    "graphic": "graphics", "inline-graphic": "graphics", "media": "graphics", "glossary": "glossary", "ack": "ack",
    "table-wrap-foot": "table_footnotes", "sub-article": "sub_articles", "response": "sub_articles",
    "notes": "notes",
}  # fmt: skip
# Inline markup: flattened into the surrounding text, exactly as written.
INLINE_TAGS = (
    "italic", "bold", "sup", "sub", "sc", "underline", "monospace", "named-content", "styled-content", "ext-link",
    "uri", "email", "abbrev", "xref", "inline-formula", "roman", "sans-serif", "overline", "strike", "x", "span",
    "hi", "ruby", "rb", "rt", "private-char", "glyph-ref", "target", "phone", "fax", "break", "underline-start",
    "underline-end", "milestone-start", "milestone-end", "tt", "i", "b", "u", "em", "strong", "a", "font",
    "inline-media", "citation-alternatives", "string-name", "surname", "given-names", "chem-struct",
    "def-head", "term-head", "price", "institution", "country", "city", "state", "addr-line", "std", "related-object",
    "related-article",
)  # fmt: skip
_RARE_TAGS = ("break", "inline-formula", "disp-formula", MML + "math")  # most subtrees have none of these
# A bare <table> (outside table-wrap/array) is a float too: its cells are never glued into the text around it.
FLOATS = {"fig", "fig-group", "table-wrap", "table-wrap-group", "boxed-text", "chem-struct-wrap", "array", "table"}
FLOW_BLOCKS = {"list", "def-list", "disp-formula", "disp-formula-group", "disp-quote", "statement", "verse-group",
               "preformat", "code", "speech", "p", "alternatives"}  # fmt: skip
DROP_XREF_TYPES = {"fn", "table-fn", "author-notes", "aff", "corresp", "contrib", "collab"}
DROP_ABSTRACT_TYPES = {"graphical", "teaser", "toc", "web-summary", "executive-summary", "highlights",
                       "author-highlights", "video-abstract", "precis", "editor-summary"}  # fmt: skip
DROP_SEC_TYPES = {"supplementary-material", "coi-statement", "conflict", "conflicts-of-interest", "conflicts",
                  "data-availability", "data-access", "author-contributions", "contributions", "funding",
                  "financial-disclosure", "acknowledgment", "acknowledgments", "acknowledgement",
                  "acknowledgements", "ethics-statement", "display-objects", "abbreviations", "declarations",
                  "supplementary-materials", "supplementary-information", "availability"}  # fmt: skip
DROP_SEC_TITLES = re.compile(
    r"^(?:\d+(?:\.\d+)*\.?\s*)?(?:competing interests?|conflicts? of interests?(?: statement)?|"
    r"declaration of (?:competing )?interests?|disclosures?(?: statement)?|financial disclosure|"
    r"authors?['’]? ?contributions?(?: statement)?|contributors|funding(?: information| sources?| statement)?|"
    r"acknowledge?ments?|data availability(?: statement)?|availability of data(?: and materials?)?|"
    r"data accessibility|ethics approval.*|ethics statement|consent for publication|abbreviations|"
    r"supplementary (?:material|materials|information|data|files?)|additional files?|"
    r"electronic supplementary material|declarations|publisher['’]?s note|open access|author information|"
    r"list of abbreviations|supporting information)\s*[.:]?$",
    re.I,
)
NOTICE_TYPES = {"correction", "retraction", "expression-of-concern", "addendum", "erratum", "corrigendum",
                "retraction-notice", "partial-retraction", "removal", "withdrawal", "notice-of-retraction"}  # fmt: skip
NOTICE_RELATED = {"corrected-article", "retracted-article", "object-of-concern", "addended-article"}
RETRACTED_RELATED = {"retraction-forward", "retracted-by", "partial-retraction-forward"}
_EXPONENT = re.compile(r"[−\-+]?\d+(?:\.\d+)?[+−-]?")
_AUTHOR_YEAR_TEXT = re.compile(r"[A-Za-z]{2}")
_RETRACTED_TITLE = re.compile(r"^\s*(?:retracted|withdrawn)\b", re.I)
_LABEL_END = re.compile(r"[\s.:]+$")
_LIST_MARK = {"order": "1", "alpha-lower": "a", "alpha-upper": "A", "roman-lower": "i", "roman-upper": "I"}
_ROMAN = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii", "xiii", "xiv", "xv")


@dataclass
class Article:
    title: str = ""
    text: str = ""
    article_type: str = ""
    pmcid: str | None = None
    pmid: str | None = None
    doi: str | None = None
    xml_lang: str = ""
    license: str | None = None
    license_evidence: str = ""
    has_title_xml: bool = False
    has_abstract_xml: bool = False
    abstract_chars: int = 0
    body_chars: int = 0
    notice: str = ""
    retracted: str = ""
    translation_used: bool = False
    dropped: Counter = field(default_factory=Counter)


def _list_marker(kind: str, i: int) -> str:
    base = _LIST_MARK.get(kind)
    if base is None:
        return "-"
    if base == "1":
        return f"{i + 1}."
    if base in {"a", "A"}:
        c = chr(ord(base) + i % 26)
        return f"{c}."
    roman = _ROMAN[i] if i < len(_ROMAN) else str(i + 1)
    return f"{roman if base == 'i' else roman.upper()}."


def _itertext(el: etree._Element) -> str:
    if len(el):
        return "".join(el.itertext())
    return el.text or ""  # a leaf (most titles, labels and paragraphs once the inline markup is stripped)


class _Walker:
    def __init__(self, keep_captions: bool, keep_tables: bool, dropped: Counter) -> None:
        self.keep_captions, self.keep_tables, self.dropped = keep_captions, keep_tables, dropped
        self.blocks: list[str] = []
        self.raw: list[int] = []

    # ---- preparation (C-level flattening of a kept subtree) ----
    def prepare(self, el: etree._Element) -> None:
        d = self.dropped
        # One pass counts what is dropped, notes which rare tags occur at all (the passes for absent ones are skipped)
        # and collects the xrefs and sups (each pass over the tree costs about as much as the work done on them).
        seen: set[str] = set()
        xrefs: list[etree._Element] = []
        sups: list[etree._Element] = []
        for e in el.iter(*DROP_ELEMENTS, *_RARE_TAGS, "xref", "sup"):
            tag = e.tag
            if tag == "xref":
                xrefs.append(e)
            elif tag == "sup":
                sups.append(e)
            else:
                seen.add(tag)
                key = DROP_COUNT_KEYS.get(tag)
                if key:
                    d[key] += 1
        stripped = not seen.isdisjoint(DROP_ELEMENTS)
        if stripped:
            etree.strip_elements(el, *DROP_ELEMENTS, with_tail=False)
        if "break" in seen:
            for b in el.iter("break"):
                b.tail = " " + (b.tail or "")
        # xrefs and sups inside the dropped elements are in the lists too: rewriting them is harmless (they are no
        # longer in the tree); only footnote marks are counted, so the dropped ones are found first (before any xref
        # below is cleared, which would detach an xref nested in it too).
        kinds = [x.get("ref-type") for x in xrefs]
        gone = (
            {x for x, kind in zip(xrefs, kinds, strict=True) if kind in DROP_XREF_TYPES and not _inside(x, el)}
            if stripped
            else ()
        )
        for x, kind in zip(xrefs, kinds, strict=True):
            if kind == "bibr":
                if len(x):  # markup inside the xref: its text, then the children go (the tail stays)
                    label = _itertext(x)
                    x.clear(keep_tail=True)
                else:  # attributes are left: the xref tag itself is stripped below
                    label = x.text or ""
                if label.isdigit():  # the common case "12": no letters
                    x.text = CITE
                else:
                    x.text = AY_OPEN + label + AY_CLOSE if _AUTHOR_YEAR_TEXT.search(label) else CITE
            elif kind in DROP_XREF_TYPES:  # footnote/affiliation marks: removed like citations ("[1]" too)
                if x in gone:
                    continue
                if len(x):
                    x.clear(keep_tail=True)
                x.text = CITE
                d["footnote_marks"] += 1
        formulas = "inline-formula" in seen or "disp-formula" in seen
        for f in list(el.iter("inline-formula", "disp-formula")) if formulas else ():
            if f.tag == "inline-formula" and f.getparent() is not None and f.getparent().tag == "disp-formula":
                continue
            tex, is_math = formula_tex(f)
            f.clear(keep_tail=True)
            if f.tag == "disp-formula":
                f.text = f"$${tex}$$" if is_math and tex else tex
            else:
                f.text = f"${tex}$" if is_math and tex else tex
            d["formulas"] += 1
        for m in list(el.iter(MML + "math")) if MML + "math" in seen else ():
            tex = " ".join(_math_text(m).split())
            m.clear(keep_tail=True)
            m.text = f"${tex}$" if tex else ""
        for s in sups:  # (those removed with a formula or an xref above are rewritten harmlessly, like the xrefs)
            if len(s) == 0 and s.text and _EXPONENT.fullmatch(s.text):
                prev = s.getprevious()
                if prev is not None:
                    before = prev.tail or _itertext(prev)
                else:
                    parent = s.getparent()
                    if parent is None:  # the sup was a child of a cleared element: no longer in the tree
                        continue
                    before = parent.text or ""
                if before and (before[-1].isalnum() or before[-1] in ")]"):
                    s.text = "^" + s.text
        etree.strip_tags(el, *INLINE_TAGS, MML + "math")

    # ---- block walk ----
    def add(self, text: str | None) -> None:
        """Queues a raw paragraph; :meth:`finish` cleans all of a document's paragraphs in one pass."""
        if text and not text.isspace():
            self.raw.append(len(self.blocks))
            self.blocks.append(text)

    def finish(self) -> None:
        """Citation removal and whitespace collapse over every queued paragraph at once (joined by a
        private-use separator that no cleaning pattern crosses), then empty blocks are dropped."""
        if self.raw:
            joined, n = remove_citations(BLOCK_SEP.join([self.blocks[i] for i in self.raw]))
            self.dropped["citations"] += n
            pieces = squash_pieces(joined, BLOCK_SEP)
            if len(pieces) != len(self.raw):  # cannot happen; keep per-paragraph cleaning as the fallback
                pieces = [clean_inline(self.blocks[i])[0] for i in self.raw]
            for i, piece in zip(self.raw, pieces, strict=True):
                self.blocks[i] = piece
            self.raw = []

    def heading(self, depth: int, text: str) -> None:
        if text:
            self.blocks.append("#" * min(depth, 6) + " " + text)

    def container(self, el: etree._Element, depth: int) -> None:
        text = el.text
        if text and not text.isspace():
            self.add(text)
        blocks, raw = self.blocks, self.raw
        for child in el:
            tag = child.tag
            if tag == "p":
                if len(child):
                    self.paragraph(child, depth)
                else:  # inlined paragraph() / add() for a paragraph that is one text node (the common case)
                    text = child.text
                    if text and not text.isspace():
                        raw.append(len(blocks))
                        blocks.append(text)
            elif tag == "sec":
                self.section(child, depth + 1)
            elif tag in ("title", "label"):
                pass
            elif tag in FLOATS:
                self.float_block(child, depth)
            elif tag in FLOW_BLOCKS:
                self.flow_block(child, depth)
            elif tag in ("app", "app-group", "caption", "sec-group", "body"):
                self.container(child, depth)
            elif isinstance(tag, str):
                self.add(_itertext(child))
            text = child.tail
            if text and not text.isspace():
                raw.append(len(blocks))
                blocks.append(text)

    def title_of(self, el: etree._Element) -> str:
        label = el.find("label")
        title = el.find("title")
        parts = [
            squash(_itertext(label)) if label is not None else "",
            clean_inline(_itertext(title))[0] if title is not None else "",
        ]
        return " ".join(p for p in parts if p)

    def section(self, sec: etree._Element, depth: int) -> None:
        label = title_el = None
        for c in sec:  # a section starts with its label and title (sec-meta was dropped): no search of the rest
            tag = c.tag
            if tag == "label" and label is None:
                label = c
            elif tag == "title":
                title_el = c
                break
            elif isinstance(tag, str):
                break
        title = clean_inline(_itertext(title_el))[0] if title_el is not None else ""
        if (sec.get("sec-type") or "").lower() in DROP_SEC_TYPES or (title and DROP_SEC_TITLES.match(title)):
            self.dropped["sections"] += 1
            return
        # the heading is title_of(sec), with the title cleaned once
        self.heading(depth, f"{squash(_itertext(label))} {title}".strip() if label is not None else title)
        self.container(sec, depth)

    def paragraph(self, p: etree._Element, depth: int) -> None:
        if len(p) == 0:
            self.add(p.text)
            return
        parts = [p.text or ""]
        floats: list[etree._Element] = []
        for c in p:
            tag = c.tag
            if tag in FLOATS:
                floats.append(c)
                self.dropped["floats_lifted"] += 1
            elif tag in FLOW_BLOCKS:
                self.add("".join(parts))
                parts = []
                self.flow_block(c, depth)
            elif isinstance(tag, str):
                parts.append(_itertext(c))
            parts.append(c.tail or "")
        self.add("".join(parts))
        for f in floats:
            self.float_block(f, depth)

    def flow_block(self, el: etree._Element, depth: int) -> None:
        tag = el.tag
        if tag == "p":
            self.paragraph(el, depth)
        elif tag == "list":
            lines: list[str] = []
            self.list_lines(el, 0, lines)
            if lines:
                self.blocks.append("\n".join(lines))
        elif tag == "def-list":
            lines = []
            for item in el.iter("def-item"):
                term = " ".join(clean_inline(_itertext(t))[0] for t in item.findall("term"))
                defs = " ".join(clean_inline(_itertext(d))[0] for d in item.findall("def"))
                line = f"{term}: {defs}" if term and defs else term or defs
                if line:
                    lines.append(line)
            if lines:
                self.blocks.append("\n".join(lines))
        elif tag in ("disp-formula", "disp-formula-group"):
            text = squash(_itertext(el))
            if text:
                self.blocks.append(text)
        elif tag in ("preformat", "code", "verse-group"):
            lines = [squash(line) for line in _itertext(el).splitlines()]
            text = "\n".join(line for line in lines if line)
            if text:
                self.blocks.append(text)
        elif tag == "alternatives":
            kids = [k for k in el if isinstance(k.tag, str)]
            if kids:
                self.flow_block(kids[0], depth) if kids[0].tag in FLOW_BLOCKS else self.add(_itertext(kids[0]))
        else:  # disp-quote, statement, speech: small containers
            head = self.title_of(el)
            if head:
                self.blocks.append(head)
            self.container(el, depth)

    def list_lines(self, lst: etree._Element, indent: int, lines: list[str]) -> None:
        kind = lst.get("list-type") or ""
        items = [c for c in lst if c.tag == "list-item"]
        for i, item in enumerate(items):
            label = item.find("label")
            mark = squash(_itertext(label)) if label is not None else _list_marker(kind, i)
            texts: list[str] = []
            nested: list[str] = []
            for c in item:
                if c.tag == "label":
                    continue
                if c.tag == "list":
                    self.list_lines(c, indent + 1, nested)
                elif c.tag == "p" and len(c):
                    parts = [c.text or ""]
                    for g in c:
                        if g.tag == "list":
                            self.list_lines(g, indent + 1, nested)
                        elif g.tag not in FLOATS:
                            parts.append(_itertext(g))
                        parts.append(g.tail or "")
                    texts.append("".join(parts))
                elif isinstance(c.tag, str) and c.tag not in FLOATS:
                    texts.append(_itertext(c))
            if item.text and item.text.strip():
                texts.insert(0, item.text)
            text, n = clean_inline(" ".join(texts))
            self.dropped["citations"] += n
            if text:
                lines.append("  " * indent + (f"{mark} {text}" if mark else text))
            lines.extend(nested)

    def caption(self, el: etree._Element) -> str:
        label_el = el.find("label")
        label = _LABEL_END.sub("", squash(_itertext(label_el))) if label_el is not None else ""
        cap = el.find("caption")
        parts: list[str] = []
        if cap is not None:
            for c in cap:
                text = clean_inline(_itertext(c))[0]
                if not text:
                    continue
                if c.tag == "title" and text[-1] not in ".!?:":
                    text += "."
                parts.append(text)
        body = " ".join(parts)
        if not body:
            return ""
        return f"{label}: {body}" if label else body

    def float_block(self, el: etree._Element, depth: int) -> None:
        tag = el.tag
        if tag in ("fig-group", "table-wrap-group"):
            cap = self.caption(el) if self.keep_captions else ""
            if cap:
                self.blocks.append(cap)
            for c in el:
                if c.tag in FLOATS:
                    self.float_block(c, depth)
            return
        if tag == "boxed-text":
            self.dropped["boxed_text_kept"] += 1
            head = self.title_of(el)
            if head:
                self.blocks.append(head)
            self.container(el, depth)
            return
        if tag == "table":
            self.table_body(el)
            return
        key = "tables" if tag in ("table-wrap", "array") else "figures"
        cap = self.caption(el) if self.keep_captions else ""
        if cap:
            self.blocks.append(cap)
        else:
            self.dropped[f"{key}_without_caption" if self.keep_captions else f"{key}_captions"] += 1
        if key == "tables":
            self.table_body(el)

    def table_body(self, el: etree._Element) -> None:
        """The rows of a table (or of each table in a table-wrap) when tables are kept; else it is counted.
        (With ``parse(cut_tables=True)`` the cells were removed before parsing and each table is an empty stub.)"""
        if not self.keep_tables:
            self.dropped["table_bodies"] += 1
            return
        rows = []
        for tr in el.iter("tr"):
            cells = []
            for td in tr:
                if td.tag in ("td", "th"):
                    text, n = clean_inline(_itertext(td))  # a cell's citations go like a paragraph's
                    self.dropped["citations"] += n
                    cells.append(text)
            if any(cells):
                rows.append(" | ".join(cells))
        if rows:
            self.blocks.append("\n".join(rows))


def _inside(e: etree._Element, root: etree._Element) -> bool:
    """Whether ``e`` is still under ``root`` (not in a subtree removed from it)."""
    return any(a is root for a in e.iterancestors())


def _math_text(m: etree._Element) -> str:
    from .mathml import mathml_to_tex

    return mathml_to_tex(m)


def _article_ids(meta: etree._Element | None) -> dict[str, str]:
    ids: dict[str, str] = {}
    if meta is None:
        return ids
    for aid in meta.findall("article-id"):
        kind = (aid.get("pub-id-type") or "").lower()
        value = squash(aid.text or "")
        if value and kind not in ids:
            ids[kind] = value
    return ids


def _pmcid(ids: dict[str, str]) -> str | None:
    for kind in ("pmcid", "pmc", "accession", "pmc-uid"):
        value = ids.get(kind, "")
        digits = value.upper().removeprefix("PMC")
        if digits.isdigit():
            if kind == "accession" and not value.upper().startswith("PMC"):
                continue
            return "PMC" + digits.lstrip("0")
    return None


def _find_article(root: etree._Element) -> etree._Element:
    if root.tag == "article":
        return root
    found = next(root.iter("article"), None)
    if found is None:
        raise Rejected("not-jats", f"root element <{root.tag}> holds no <article>")
    return found


def extract(root: etree._Element, *, keep_captions: bool = True, keep_tables: bool = False) -> Article:
    """Title, text and metadata of one article (the tree is modified in place)."""
    art = _find_article(root)
    doc = Article(
        article_type=(art.get("article-type") or "").strip().lower(), xml_lang=(art.get(XML_LANG) or "").lower()
    )
    front = art.find("front")
    meta = front.find("article-meta") if front is not None else None
    ids = _article_ids(meta)
    doc.pmcid, doc.pmid, doc.doi = _pmcid(ids), ids.get("pmid"), ids.get("doi")
    if doc.pmid and not doc.pmid.isdigit():
        doc.pmid = None
    doc.license, doc.license_evidence = from_xml(meta)
    dropped = doc.dropped
    # Sub-articles (counted) and notice/retraction markers, in one pass over the article
    related: list[str] = []
    for e in art.iter("sub-article", "response", "related-article"):
        if e.tag == "related-article":
            related.append((e.get("related-article-type") or "").lower())
        else:
            dropped["sub_articles"] += 1
    if doc.article_type in NOTICE_TYPES:
        doc.notice = f"article-type {doc.article_type}"
    elif doc.article_type in ("", "other") and any(r in NOTICE_RELATED for r in related):
        doc.notice = "related-article " + next(r for r in related if r in NOTICE_RELATED)
    if any(r in RETRACTED_RELATED for r in related):
        doc.retracted = "related-article " + next(r for r in related if r in RETRACTED_RELATED)

    # Content source: the article, or its English translation when the article is not in English
    title_group = meta.find("title-group") if meta is not None else None
    abstracts = meta.findall("abstract") if meta is not None else []
    body = art.find("body")
    if doc.xml_lang and not doc.xml_lang.startswith("en"):
        for sub in art.findall("sub-article"):
            if (sub.get("article-type") or "") == "translation" and (sub.get(XML_LANG) or "").lower().startswith("en"):
                stub = sub.find("front-stub")
                if stub is None:
                    stub = sub.find("front/article-meta")
                if stub is not None and sub.find("body") is not None:
                    title_group, abstracts, body = stub.find("title-group"), stub.findall("abstract"), sub.find("body")
                    doc.translation_used = True
                    dropped["sub_articles"] -= 1
                    break
    if meta is not None:
        dropped["trans_abstracts"] += len(meta.findall("trans-abstract"))

    w = _Walker(keep_captions, keep_tables, dropped)
    if title_group is not None:
        w.prepare(title_group)
        title = title_group.find("article-title")
        doc.has_title_xml = title is not None and bool(_itertext(title).strip())
        parts = [
            clean_inline(_itertext(t))[0]
            for t in title_group.findall("article-title") + title_group.findall("subtitle")
        ]
        doc.title = nfc(": ".join(p for p in parts if p))
    if doc.title:
        w.heading(1, doc.title)
        if _RETRACTED_TITLE.match(doc.title) and not doc.notice:
            doc.retracted = doc.retracted or "title marks the article retracted"
    n_head = len(w.blocks)
    for ab in abstracts:
        kind = (ab.get("abstract-type") or "").lower()
        if kind in DROP_ABSTRACT_TYPES:
            dropped["abstracts"] += 1
            continue
        if _itertext(ab).strip():
            doc.has_abstract_xml = True
        w.prepare(ab)
        title_el = ab.find("title")
        heading = clean_inline(_itertext(title_el))[0] if title_el is not None else ""
        w.heading(2, heading or "Abstract")
        mark = len(w.blocks)
        w.container(ab, 2)
        if len(w.blocks) == mark:
            w.blocks.pop()
    n_body = len(w.blocks)
    if body is not None:
        w.prepare(body)
        w.container(body, 1)
    n_back = len(w.blocks)
    back = art.find("back")
    if back is not None:
        for child in back:
            if child.tag in ("app-group", "app"):
                w.prepare(child)
                for app in child.iter("app") if child.tag == "app-group" else [child]:
                    w.heading(2, w.title_of(app))
                    w.container(app, 2)
            elif child.tag == "sec":
                dropped["back_sections"] += 1
    w.finish()
    doc.abstract_chars = sum(len(b) for b in w.blocks[n_head:n_body] if not b.startswith("#"))
    doc.body_chars = sum(len(b) for b in w.blocks[n_body:n_back] if not b.startswith("#"))
    doc.text = nfc("\n\n".join(b for b in w.blocks if b))
    return doc
