"""Text hygiene for extracted paragraphs: citation-marker removal, whitespace and Unicode normalisation.

The JATS walker replaces each bibliography ``xref`` by a private-use marker before flattening the
markup: ``CITE`` for numeric citations, ``AY_OPEN text AY_CLOSE`` for author-year ones. Here a run of
markers is removed together with its brackets, separators, ranges and lead-ins ("see", "e.g.");
an author-year citation used as a noun outside brackets keeps its words. No transliteration.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from medllama.speedups import native

# Private-use characters whose low byte is rare in text: CPython finds such a character with memchr, while for one
# like U+E000 (low byte 0, the high byte of every ASCII character in a UCS-2 string) it compares one by one.
CITE = "\ue005"
AY_OPEN = "\ue006"
AY_CLOSE = "\ue007"
MARKERS = CITE + AY_OPEN + AY_CLOSE

_UNIT = f"(?:{CITE}|{AY_OPEN}[^{AY_OPEN}{AY_CLOSE}]*{AY_CLOSE})"
_SEP = r"\s*(?:[,;–—‒−-]|and|&)?\s*"
_RUN = re.compile(_UNIT + r"(?:" + _SEP + _UNIT + r")*")
_LEAD = r"(?:(?:see(?: also)?|e\.g\.|cf\.|i\.e\.|refs?\.|reviewed in|for (?:a )?review,? see)[,:]?\s*)?"
_LEFT_OPEN = re.compile(r"\s*[\[(]\s*" + _LEAD + r"\Z", re.I)
_LEFT_SEP = re.compile(r"\s*[;,]\s*" + _LEAD + r"\Z", re.I)
_LEFT_BARE = re.compile(r"\s*(?:\b[Rr]efs?\.\s*)?\Z")
_RIGHT_CLOSE = re.compile(r"\s*[,;]?\s*[\])]")
_RIGHT_SEP = re.compile(r"\s*[;,]\s*")
_AUTHOR_YEAR = re.compile(f"{AY_OPEN}([^{AY_OPEN}{AY_CLOSE}]*){AY_CLOSE}")
_EMPTY_BRACKETS = re.compile(r"\s*(?:\(\s*[,;–-]*\s*\)|\[\s*[,;–-]*\s*\])")
# Two patterns with a literal first character (sre then scans for that character) instead of one starting with a class
_EMPTY_PAREN = re.compile(r"\([\s,;–-]*[)\]]")
_EMPTY_SQUARE = re.compile(r"\[[\s,;–-]*[)\]]")
_STRAY_MARKERS = re.compile(f"[{MARKERS}]")
_ZERO_WIDTH = re.compile("[\u200b\ufeff\u00ad\u2060]")
_CONTEXT = 60
# Every character that str.split() treats as whitespace (str.isspace() over all code points), except " ".
_OTHER_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
_LONG = 2000
_SPACES = re.compile("   *")  # two spaces or more; a literal start, so sre scans for it fast
_LEFT_LAST = frozenset("[(;,.:eonEON")
_OPENERS = frozenset("[(")
_CLOSERS = frozenset(")]")
_JOINS = frozenset(",;–—‒−-a&" + CITE + AY_OPEN)  # what can follow a marker inside a run (with whitespace)


def _ws_start(left: str, i: int) -> int:
    """Start of the whitespace run that ends at ``left[i]`` (``i`` itself when there is none)."""
    return len(left[:i].rstrip())


def _open_bound(left: str) -> int:
    """Leftmost index where ``_LEFT_OPEN`` can match: a lead-in holds no bracket, so its bracket is the last one."""
    j = max(left.rfind("["), left.rfind("("))
    return _ws_start(left, j) if j >= 0 else len(left)


def _sep_bound(left: str) -> int:
    """Leftmost index where ``_LEFT_SEP`` can match: a lead-in holds at most two of ``,;``, so the separator is
    one of the last three."""
    k = len(left)
    for _ in range(3):
        k = max(left.rfind(",", 0, k), left.rfind(";", 0, k))
        if k < 0:
            return 0
    return _ws_start(left, k)


def _bare_bound(left: str) -> int:
    """Leftmost index where ``_LEFT_BARE`` can match: at most "Refs." (5 characters) between whitespace runs."""
    return _ws_start(left, max(0, len(left.rstrip()) - 5))


def _runs(text: str, fast: bool = True) -> Iterator[tuple[int, int]]:
    """Spans of ``_RUN.finditer(text)``, but the markers are found with ``str.find`` (much faster than a regex
    scan), and (``fast``) a lone numeric marker, the commonest run, is recognised by the character after it."""
    find = text.find
    nc, na = find(CITE), find(AY_OPEN)
    start = 0
    while True:
        if 0 <= nc < start:
            nc = find(CITE, start)
        if 0 <= na < start:
            na = find(AY_OPEN, start)
        if nc < 0 and na < 0:
            return
        k = na if nc < 0 or 0 <= na < nc else nc
        if fast and k == nc:
            after = text[k + 1 : k + 2]
            if not after or (after not in _JOINS and not after.isspace()):  # nothing can continue the run
                yield k, k + 1
                start = k + 1
                continue
        m = _RUN.match(text, k)
        if m is None:  # an author-year opener without its closer
            start = k + 1
            continue
        yield m.span()
        start = m.end()


def remove_citations(text: str) -> tuple[str, int]:
    """Removes citation markers with their punctuation; returns the text and how many were removed.

    Each run of markers (joined by commas, semicolons, dashes or "and") is removed with
    - the brackets around it when it fills them: ``x [1–3].`` → ``x.``, ``(see Smith 2001; Lee 2003)``;
    - its separator when it ends or starts a mixed bracket: ``(Fig. 2; [5])`` → ``(Fig. 2)``;
    - otherwise the space before it (superscript style ``x.¹²`` → ``x.``); a bare author-year
      citation used as a noun keeps its words (``as <Smith et al. (2001)> showed``).
    """
    return _remove_citations(text, fast=True)


def _remove_citations(text: str, *, fast: bool) -> tuple[str, int]:
    """``fast=False`` skips the shortcuts for the commonest shapes (the tests hold both results equal). With
    ``fast``, the C twin of the loop runs when it is compiled (:mod:`medllama.speedups`; it calls :func:`_general` for
    the runs the shortcuts do not decide)."""
    if CITE not in text and AY_OPEN not in text:
        return text, 0
    if fast and native is not None:
        return _tidy(*native.remove_citation_runs(text, _general))
    out: list[str] = []
    pos = n = 0
    for s, e in _runs(text, fast):
        lone = e - s == 1 and text[s] == CITE
        n += 1 if lone else text.count(CITE, s, e) + text.count(AY_OPEN, s, e)
        # the commonest shapes, decided by the character right before the run: "x [12]" → "x" and "x.¹²" → "x."
        c = text[s - 1] if fast and s > pos else ""
        if c in _OPENERS:
            if text[e : e + 1] in _CLOSERS:
                end = e + 1
            else:
                rc = _RIGHT_CLOSE.match(text, e)
                end = rc.end() if rc else -1
            if end >= 0:  # == the bracket case of _general: the bracket and the whitespace before it go
                j, lo = s - 1, (s - _CONTEXT if s - _CONTEXT > pos else pos)
                while j > lo and text[j - 1].isspace():
                    j -= 1
                out.append(text[pos:j])
                pos = end
                continue
        elif c and c not in _LEFT_LAST and not c.isspace() and (lone or AY_OPEN not in text[s:e]):
            out.append(text[pos:s])  # == the bare case of _general, with no whitespace to drop
            pos = e
            continue
        piece, pos = _general(text, s, e, pos)
        out.append(piece)
    out.append(text[pos:])
    return _tidy("".join(out), n)


def _general(text: str, s: int, e: int, pos: int) -> tuple[str, int]:
    """The run ``text[s:e]`` removed with its brackets / separators / lead-in, ``text[pos:s]`` being kept so far:
    returns (what to keep from ``pos`` on, including any replacement for the run; where to go on from)."""
    run = text[s:e]
    base = s - _CONTEXT if s - _CONTEXT > pos else pos
    left = text[base:s]
    kept = left.rstrip()
    last = kept[-1:]
    # fast paths for the two commonest cases, decided by the last non-space character before the run
    if last in _OPENERS:  # ``lo and rc`` below: "x [1–3]" → "x" (a bracket always gives ``lo``)
        rc = _RIGHT_CLOSE.match(text, e)
        if rc:
            return text[pos : base + len(kept[:-1].rstrip())], rc.end()
    elif last not in _LEFT_LAST and text.find(AY_OPEN, s, e) < 0:  # the bare case: "x¹²" → "x"
        return text[pos : base + len(kept)], e
    # every bracket / separator / lead-in pattern ends in one of these characters: skip the regexes otherwise
    maybe = last in _LEFT_LAST
    keep_to = s  # text[pos:keep_to] is kept
    lo = _LEFT_OPEN.search(left, _open_bound(left)) if maybe else None
    rc = _RIGHT_CLOSE.match(text, e)
    if lo and rc:
        keep_to, e = s - (len(left) - lo.start()), rc.end()
    elif rc and maybe and (ls := _LEFT_SEP.search(left, _sep_bound(left))):
        keep_to = s - (len(left) - ls.start())
    elif lo and (rs := _RIGHT_SEP.match(text, e)):
        opening = lo.group(0).strip()[:1]
        keep_to = s - (len(left) - lo.start())
        space = " " if keep_to > 0 and not text[keep_to - 1].isspace() else ""
        return text[pos:keep_to] + space + opening, rs.end()
    elif AY_OPEN in run:
        return text[pos:s] + _AUTHOR_YEAR.sub(r"\1", run).replace(CITE, ""), e
    else:
        lb = _LEFT_BARE.search(left, _bare_bound(left))
        keep_to = s - (len(left) - lb.start()) if lb else s
    return text[pos:keep_to], e


def _tidy(text: str, n: int, brackets: bool | None = None, strays: bool | None = None) -> tuple[str, int]:
    """Brackets emptied by the removal go; stray markers (an author-year opener without its closer) go and
    count. ``brackets`` / ``strays``: whether there are any, when the caller already knows (the C loop does)."""
    if brackets is None:
        brackets = _EMPTY_PAREN.search(text) is not None or _EMPTY_SQUARE.search(text) is not None
    if brackets:
        text = _EMPTY_BRACKETS.sub("", text)
    if strays is None:
        strays = CITE in text or AY_OPEN in text or AY_CLOSE in text
    if strays:  # (the bracket pattern holds no marker: the answer is the same before and after it)
        n += text.count(AY_OPEN)  # an author-year opener without its closer (not in any run) counts too
        text = _STRAY_MARKERS.sub("", text)
    return text, n


def squash_py(text: str) -> str:
    """Collapses every run of whitespace (any Unicode width, newlines included) to one space."""
    if "\u200b" in text or "\u00ad" in text or "\ufeff" in text or "\u2060" in text:
        text = _ZERO_WIDTH.sub("", text)
    if len(text) < _LONG:
        return " ".join(text.split())
    # A long text (a whole document) is nearly clean: map the other whitespace characters to " " and halve runs of
    # spaces with C-level replaces instead of splitting into ~100,000 words. Same result as the split/join above.
    for ch in _OTHER_WHITESPACE:
        if ch in text:
            text = text.replace(ch, " ")
    return _SPACES.sub(" ", text).strip(" ")


def squash_pieces_py(text: str, sep: str) -> list[str]:
    """``[squash(piece) for piece in text.split(sep)]``, with one collapse over the whole text (``sep``: one
    character that is neither whitespace nor zero-width, so no run crosses it)."""
    return [piece.strip(" ") for piece in squash_py(text).split(sep)]


# the C twins when compiled (same results: medllama.speedups)
squash = native.squash if native else squash_py
squash_pieces = native.squash_pieces if native else squash_pieces_py


def clean_inline(text: str | None) -> tuple[str, int]:
    """One paragraph: citations removed, whitespace collapsed. Returns (text, citations removed)."""
    if not text:
        return "", 0
    text, n = remove_citations(text)
    return squash(text), n


def nfc(text: str) -> str:
    """The NFC form of ``text``. When the C speedups are compiled, only a probe is checked: the pieces of the text
    that NFC could change, or nothing when there are none (why that is exact: ``nfc_probe`` in _speedups/text.c)."""
    probe = native.nfc_probe(text) if native else text
    if probe is None or unicodedata.is_normalized("NFC", probe):
        return text
    return unicodedata.normalize("NFC", text)
