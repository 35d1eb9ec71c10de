"""Hostile-input guards and the one XML parser: bytes in, an lxml tree or a rejection reason out.

Policy (docs/ingest.md): no DTD is loaded, no entity is resolved, nothing is fetched. A document whose
internal DTD subset declares entities (billion laughs, quadratic blow-up, XXE) is rejected as
``unsafe-xml`` before parsing. Known defects of real files are repaired: stray bytes before the
first ``<``, ``--`` inside comments, HTML named entities (``&nbsp;``, ``&sum;``) mapped to numeric
references through the HTML5 table. libxml2's limits (depth 256, no huge text nodes) stay on.
"""

from __future__ import annotations

import html.entities
import re
from dataclasses import dataclass, field

from lxml import etree

from medllama.speedups import native

XML_PREDEFINED = frozenset({"amp", "lt", "gt", "quot", "apos"})
_HTML5 = {name[:-1]: value for name, value in html.entities.html5.items() if name.endswith(";")}

_ENTITY_REF = re.compile(rb"&([A-Za-z][A-Za-z0-9.]*);")
_NAMED_ENTITY = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos);)[A-Za-z]")
_DOCTYPE_SUBSET = re.compile(rb"<!DOCTYPE[^\[>]*\[(.*?)\]\s*>", re.S)
_BAD_COMMENT = re.compile(rb"<!--(.*?)-->", re.S)
_DEFAULT_NS = re.compile(rb"xmlns=(?:\"[^\"]*\"|'[^']*')")  # starts with a literal: sre scans for it fast
_DEFAULT_NS_HINT = re.compile(rb"xmlns=[\"']")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_DECL_ENCODING = re.compile(rb"<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']")

_ROOT_START = re.compile(rb"<(?![?!])[A-Za-z_][\w.-]*")
KNOWN_PREFIXES = {
    b"mml": b"http://www.w3.org/1998/Math/MathML",
    b"xlink": b"http://www.w3.org/1999/xlink",
    b"ali": b"http://www.niso.org/schemas/ali/1.0/",
    b"xsi": b"http://www.w3.org/2001/XMLSchema-instance",
}

_PI_WINDOW = 32768
MANUSCRIPT_PI = b"<?properties manuscript?>"
OCR_PI = b"<?properties scanned_data?>"


class Rejected(Exception):
    """The input cannot be used; ``reason`` is the kebab-case rejection reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass
class Parsed:
    root: etree._Element
    repairs: dict[str, int]
    is_manuscript: bool
    is_ocr: bool
    precut: dict[str, int] = field(default_factory=dict)


_TAG_END = frozenset(b" \t\r\n>/")


def _find_open(data: bytes, open_tag: bytes, start: int, end: int) -> int:
    """Index of the next ``<name`` start tag in ``data[start:end]`` (``<name-wrap`` and the like do not count)."""
    n, size = len(open_tag), len(data)
    at = data.find(open_tag, start, end)
    while at >= 0 and (at + n >= size or data[at + n] not in _TAG_END):
        at = data.find(open_tag, at + n, end)
    return at


def element_spans(data: bytes, name: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, int]] | None:
    """Byte spans of every outermost ``<name …>…</name>`` element that starts in ``data[start:end]`` (nesting
    handled, empty ``<name/>`` skipped), found with ``bytes.find`` (C speed). ``None`` when the tags do not
    balance: then nothing is cut."""
    open_tag, close_tag = b"<" + name, b"</" + name + b">"
    spans: list[tuple[int, int]] = []
    size = len(data)
    end = size if end is None else end
    at = _find_open(data, open_tag, start, end)
    while at >= 0:
        gt = data.find(b">", at)
        if gt < 0:
            return None
        if data[gt - 1] == 0x2F:  # <name .../>: nothing inside
            at = _find_open(data, open_tag, gt, end)
            continue
        # One forward pass: each close is searched for once, after the previous one (deep nesting stays linear).
        depth, scan = 1, gt + 1
        close = data.find(close_tag, scan)
        while depth:
            if close < 0:
                return None
            nested = _find_open(data, open_tag, scan, close)  # only an element opened before this close nests
            if nested >= 0:
                depth, scan = depth + 1, nested + len(open_tag)
            else:
                depth, scan = depth - 1, close + len(close_tag)
                close = data.find(close_tag, scan) if depth else close
        spans.append((at, scan))
        at = _find_open(data, open_tag, scan, end)
    return spans


def _ref_lists(data: bytes) -> list[tuple[int, int]]:
    """``element_spans(data, b"ref-list")`` with a shortcut for the usual article, which has one reference list
    near its end: the last close is found from the end, and if no other close lies between the first open and
    it, that is the one outermost span (an unclosed open inside would not parse, and the whole bytes are
    parsed then)."""
    close = data.rfind(b"</ref-list>")
    if close < 0:
        return []
    first = _find_open(data, b"<ref-list", 0, close)
    if first < 0:
        return []
    gt = data.find(b">", first, close)
    if gt > 0 and data[gt - 1] != 0x2F and data.find(b"</ref-list>", first, close) < 0:  # (not an empty <ref-list/>)
        return [(first, close + 11)]
    return element_spans(data, b"ref-list") or []


def cut_elements_py(data: bytes, *, tables: bool) -> tuple[bytes, dict[str, int]]:
    """Removes, before parsing, what the walker would only drop: every ``<ref-list>`` (bibliographies, ~40% of
    the bytes of a typical article) and, when ``tables`` is set, the body of every ``<table>`` (many small
    cell elements, about a third of libxml2's time), which leaves an empty ``<table/>`` so that the walker
    still sees and counts it. Returns (bytes, counts of what was cut). The caller re-parses the original
    bytes if the cut ones do not parse; a balanced cut can only differ from the walk for tags written inside
    comments or CDATA sections, which PMC articles do not have around these elements."""
    refs = _ref_lists(data)
    counts = {"references": sum(data.count(b"</ref>", a, b) for a, b in refs)} if refs else {}
    parts: list[bytes] = []
    pos = 0
    for ref_start, ref_end in [*refs, (len(data), len(data))]:
        # tables are looked for between the reference lists only (a reference holds no table); once the table
        # tags do not balance, no more are cut (so the search to the end of the file runs at most once)
        found = element_spans(data, b"table", pos, ref_start) if tables else None
        tables = found is not None
        for start, end in found or ():
            parts.append(data[pos:start])
            parts.append(b"<table/>")
            pos = end
        if pos <= ref_start:  # (else the list lay inside a table just cut)
            parts.append(data[pos:ref_start])
            pos = ref_end
    if len(parts) == 1:
        return data, counts
    return b"".join(parts), counts


def has_markup_repairs_py(data: bytes) -> tuple[bool, bool]:
    """(whether a default-namespace attribute occurs, whether a named entity other than the XML five occurs):
    the two scans that decide whether :func:`repair_markup` rewrites anything."""
    return _DEFAULT_NS_HINT.search(data) is not None, _NAMED_ENTITY.search(data) is not None


# The C twins when they are compiled (same results: medllama.speedups)
cut_elements = native.cut_elements if native else cut_elements_py
has_markup_repairs = native.has_markup_repairs if native else has_markup_repairs_py


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        remove_blank_text=False,
    )


_PARSER = _parser()


def _entity_sub(match: re.Match[bytes]) -> bytes:
    name = match.group(1).decode("ascii")
    if name in XML_PREDEFINED:
        return match.group(0)
    value = _HTML5.get(name)
    if value is None:
        return b""
    return "".join(f"&#{ord(c)};" for c in value).encode("ascii")


def _drop_default_ns(m: re.Match[bytes]) -> bytes:
    """A default-namespace attribute (``xmlns="…"`` after whitespace) goes; the whitespace stays (harmless in a tag)."""
    at = m.start()
    return b"" if at and m.string[at - 1] in b" \t\r\n" else m.group(0)


def check_bytes(data: bytes, max_bytes: int) -> None:
    """Rejections decided on the raw bytes: size, emptiness, binary content, entity declarations."""
    if len(data) > max_bytes:
        raise Rejected("too-large", f"{len(data)} bytes > max_file_mb ({max_bytes} bytes)")
    if not data or data.isspace():  # == not data.strip(), without copying the file
        raise Rejected("parse-error", "empty file")
    head = data[:4096]
    if b"\x00" in head and not (head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[1:2] == b"\x00"):
        raise Rejected("parse-error", "binary content (NUL bytes), not XML")
    if _declares_entities(data, 65536):
        raise Rejected("unsafe-xml", "internal DTD subset declares entities (entity expansion / external entity)")


def _declares_entities(data: bytes, window: int) -> bool:
    """Whether a DOCTYPE in the first ``window`` bytes has an internal subset that declares entities (or names
    an external resource). Declarations come before the root element, so each DOCTYPE is searched only up to
    the next element start (a few hundred bytes in a real article, not the whole window)."""
    at = data.find(b"<!DOCTYPE", 0, window)
    while at >= 0:
        subset = _DOCTYPE_SUBSET.match(data, at, window)
        if subset and (b"<!ENTITY" in subset.group(1) or b"SYSTEM" in subset.group(1)):
            return True
        root = _ROOT_START.search(data, at + 9, window)
        end = root.start() if root else window
        if data.find(b"<!ENTITY", at, end) >= 0:  # also a subset the pattern misses (a ">" inside a literal)
            return True
        at = data.find(b"<!DOCTYPE", at + 9, end)  # another DOCTYPE before the root (the first was in a comment)
    return False


def repair_start(data: bytes) -> tuple[bytes, dict[str, int]]:
    """Byte-order mark, UTF-16 → UTF-8, stray bytes before the first ``<``; returns the bytes and counts of
    what was changed."""
    repairs: dict[str, int] = {}
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    if utf16:
        try:
            data = data.decode("utf-16").encode("utf-8")
            data = re.sub(rb"(<\?xml[^>]*encoding=[\"'])[Uu][Tt][Ff]-?16([\"'])", rb"\1UTF-8\2", data, count=1)
        except UnicodeDecodeError as err:
            raise Rejected("bad-encoding", f"BOM says UTF-16 but the bytes are not: {err.reason}") from None
    first = data.find(b"<")
    if first < 0:
        raise Rejected("parse-error", "no markup: not XML")
    if first > 0 and data[:first].strip():
        repairs["stray_leading_bytes"] = first
    if first > 0:
        data = data[first:]
    late = data.find(b"<?xml", 1, 512)
    if late > 0:  # junk '<...' before a late XML declaration
        repairs["stray_leading_bytes"] = repairs.get("stray_leading_bytes", 0) + late
        data = data[late:]
    return data, repairs


def repair_markup(data: bytes) -> tuple[bytes, dict[str, int]]:
    """Default namespaces dropped, HTML named entities made numeric: two scans of the whole bytes, so they run
    on the bytes that are parsed (after :func:`cut_elements`). Returns the bytes and counts of what was changed."""
    repairs: dict[str, int] = {}
    default_ns, named_entity = has_markup_repairs(data)
    if default_ns:
        data = _DEFAULT_NS.sub(_drop_default_ns, data)
    if named_entity:
        count = 0

        def sub(m: re.Match[bytes]) -> bytes:
            nonlocal count
            if m.group(1).decode("ascii") in XML_PREDEFINED:
                return m.group(0)
            count += 1
            return _entity_sub(m)

        data = _ENTITY_REF.sub(sub, data)
        if count:
            repairs["named_entities"] = count
    return data, repairs


def _fix_comments(data: bytes) -> tuple[bytes, int]:
    fixed = 0

    def sub(m: re.Match[bytes]) -> bytes:
        nonlocal fixed
        inner = m.group(1)
        if b"--" in inner or inner.endswith(b"-"):
            fixed += 1
            return b"<!--" + inner.replace(b"--", b"- -").rstrip(b"-") + b" -->"
        return m.group(0)

    return _BAD_COMMENT.sub(sub, data), fixed


def _check_encoding(data: bytes) -> None:
    declared = _DECL_ENCODING.search(data, 0, 200)
    enc = declared.group(1).decode("ascii").lower() if declared else "utf-8"
    if enc in {"utf-8", "utf8"}:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise Rejected(
                "bad-encoding", f"declared {enc} but byte {err.start} is not valid UTF-8 ({err.reason})"
            ) from None


def deep_repair(data: bytes) -> tuple[bytes, dict[str, int]]:
    """Slower repairs, tried only when the first parse fails: control characters, namespace prefixes used
    without a declaration (mml:, xlink:, ali:, xsi:), ``--`` inside comments."""
    repairs: dict[str, int] = {}
    if _CONTROL.search(data):
        data = _CONTROL.sub(b"", data)
        repairs["control_chars"] = 1
    missing = [p for p in KNOWN_PREFIXES if p + b":" in data and b"xmlns:" + p + b"=" not in data]
    root_start = _ROOT_START.search(data) if missing else None
    if root_start:
        decls = b"".join(b" xmlns:" + p + b'="' + KNOWN_PREFIXES[p] + b'"' for p in missing)
        data = data[: root_start.end()] + decls + data[root_start.end() :]
        repairs["undeclared_prefixes"] = len(missing)
    data, fixed = _fix_comments(data)
    if fixed:
        repairs["bad_comments"] = fixed
    return data, repairs


def _try_parse(
    data: bytes, cut_tables: bool, mark_citations: bool
) -> tuple[etree._Element | None, dict[str, int], dict[str, int], bytes, etree.XMLSyntaxError | None]:
    """Parses with the dropped elements cut out first (falls back to the whole bytes, which also gives the error
    message of a file that does not parse). (root, counts of what was cut, markup repairs, the whole bytes
    repaired, error)."""
    cut, counts = cut_elements(data, tables=cut_tables)
    if cut is not data:
        fixed, repairs = repair_markup(cut)
        if mark_citations and native is not None:
            fixed = native.mark_citations(fixed)
        try:
            return etree.fromstring(fixed, _PARSER), counts, repairs, b"", None
        except etree.XMLSyntaxError:
            pass  # the uncut bytes below give the error message to report
    fixed, repairs = repair_markup(data)
    try:
        return etree.fromstring(fixed, _PARSER), {}, repairs, fixed, None
    except etree.XMLSyntaxError as err:
        return None, {}, repairs, fixed, err


def parse(data: bytes, max_bytes: int, *, cut_tables: bool = False, mark_citations: bool = False) -> Parsed:
    """Parses one article. Raises :class:`Rejected` (never anything else for bad input).

    ``cut_tables``: table bodies are removed before parsing (set it when the walker drops them anyway,
    i.e. ``extract(keep_tables=False)``). ``mark_citations``: with the C speedups, plain bibliography xrefs in
    the body become the walker's citation markers before parsing (``_speedups/mark.c``; set it
    when the tree is for :func:`.jats.extract`, whose output is the same either way)."""
    check_bytes(data, max_bytes)
    # PMC writes these processing instructions before or at the top of <article>
    is_manuscript = data.find(MANUSCRIPT_PI, 0, _PI_WINDOW) >= 0
    is_ocr = data.find(OCR_PI, 0, _PI_WINDOW) >= 0
    data, repairs = repair_start(data)
    try:
        root, precut, markup, whole, err = _try_parse(data, cut_tables, mark_citations)
        repairs.update(markup)
        if err is not None:
            fixed, more = deep_repair(whole)
            if not more:
                raise _classify(whole, err)
            root, precut, _, _, err2 = _try_parse(fixed, cut_tables, mark_citations)
            if err2 is not None:
                raise _classify(fixed, err2)
            repairs.update(more)
    except (ValueError, MemoryError) as err:
        raise Rejected("parse-error", f"{type(err).__name__}: {err}"[:300]) from None
    if root is None:
        raise Rejected("parse-error", "no root element")
    return Parsed(root, repairs, is_manuscript, is_ocr, precut)


def _classify(data: bytes, err: etree.XMLSyntaxError) -> Rejected:
    msg = str(err)
    low = msg.lower()
    if "depth" in low or "huge" in low or "amplification" in low or ("entity" in low and "loop" in low):
        return Rejected("unsafe-xml", msg[:300])
    if "encoding" in low or "utf-8" in low or "char 0x" in low or "invalid char" in low:
        try:
            _check_encoding(data)
        except Rejected as bad:
            return bad
        return Rejected("bad-encoding", msg[:300])
    if "premature end" in low or "end of data" in low or ("extra content" not in low and "eof" in low):
        return Rejected("truncated", msg[:300])
    return Rejected("parse-error", msg[:300])
