"""Text hygiene for extracted paragraphs: citation-marker removal, whitespace and Unicode normalisation.

The JATS walker replaces each bibliography ``xref`` by a private-use marker before flattening the
markup: ``CITE`` for numeric citations, ``AY_OPEN text AY_CLOSE`` for author-year ones. Here a run of
markers is removed together with its brackets, separators, ranges and lead-ins ("see", "e.g.");
an author-year citation used as a noun outside brackets keeps its words. No transliteration.
"""

from __future__ import annotations

import re
import unicodedata

CITE = "\ue000"
AY_OPEN = "\ue001"
AY_CLOSE = "\ue002"

_UNIT = r"(?:\ue000|\ue001[^\ue001\ue002]*\ue002)"
_SEP = r"\s*(?:[,;–—‒−-]|and|&)?\s*"
_RUN = re.compile(_UNIT + r"(?:" + _SEP + _UNIT + r")*")
_LEAD = r"(?:(?:see(?: also)?|e\.g\.|cf\.|i\.e\.|refs?\.|reviewed in|for (?:a )?review,? see)[,:]?\s*)?"
_LEFT_OPEN = re.compile(r"\s*[\[(]\s*" + _LEAD + r"\Z", re.I)
_LEFT_SEP = re.compile(r"\s*[;,]\s*" + _LEAD + r"\Z", re.I)
_LEFT_BARE = re.compile(r"\s*(?:\b[Rr]efs?\.\s*)?\Z")
_RIGHT_CLOSE = re.compile(r"\s*[,;]?\s*[\])]")
_RIGHT_SEP = re.compile(r"\s*[;,]\s*")
_AUTHOR_YEAR = re.compile(r"\ue001([^\ue001\ue002]*)\ue002")
_EMPTY_BRACKETS = re.compile(r"\s*(?:\(\s*[,;–-]*\s*\)|\[\s*[,;–-]*\s*\])")
_EMPTY_BRACKETS_FAST = re.compile(r"[(\[][\s,;–-]*[)\]]")
_STRAY_MARKERS = re.compile(r"[\ue000-\ue002]")
_ZERO_WIDTH = re.compile("[\u200b\ufeff\u00ad\u2060]")
_CONTEXT = 60
_LEFT_LAST = frozenset("[(;,.:eonEON")


def remove_citations(text: str) -> tuple[str, int]:
    """Removes citation markers with their punctuation; returns the text and how many were removed.

    Each run of markers (joined by commas, semicolons, dashes or "and") is removed with
    - the brackets around it when it fills them: ``x [1–3].`` → ``x.``, ``(see Smith 2001; Lee 2003)``;
    - its separator when it ends or starts a mixed bracket: ``(Fig. 2; [5])`` → ``(Fig. 2)``;
    - otherwise the space before it (superscript style ``x.¹²`` → ``x.``); a bare author-year
      citation used as a noun keeps its words (``as <Smith et al. (2001)> showed``).
    """
    n = text.count(CITE) + text.count(AY_OPEN)
    if not n:
        return text, 0
    out: list[str] = []
    pos = 0
    for m in _RUN.finditer(text):
        s, e = m.start(), m.end()
        left = text[max(pos, s - _CONTEXT) : s]
        keep_to = s  # text[pos:keep_to] is kept
        # every bracket / separator / lead-in pattern ends in one of these characters: skip the regexes otherwise
        maybe = left.rstrip()[-1:] in _LEFT_LAST
        lo = _LEFT_OPEN.search(left) if maybe else None
        rc = _RIGHT_CLOSE.match(text, e)
        if lo and rc:
            keep_to, e = s - (len(left) - lo.start()), rc.end()
        elif rc and maybe and (ls := _LEFT_SEP.search(left)):
            keep_to = s - (len(left) - ls.start())
        elif lo and (rs := _RIGHT_SEP.match(text, e)):
            opening = lo.group(0).strip()[:1]
            keep_to, e = s - (len(left) - lo.start()), rs.end()
            out.append(text[pos:keep_to] + (" " if keep_to > 0 and not text[keep_to - 1].isspace() else "") + opening)
            pos = e
            continue
        elif AY_OPEN in m.group(0):
            out.append(text[pos:s])
            out.append(_AUTHOR_YEAR.sub(r"\1", m.group(0)).replace(CITE, ""))
            pos = e
            continue
        else:
            lb = _LEFT_BARE.search(left)
            keep_to = s - (len(left) - lb.start()) if lb else s
        out.append(text[pos:keep_to])
        pos = e
    out.append(text[pos:])
    text = "".join(out)
    if _EMPTY_BRACKETS_FAST.search(text):
        text = _EMPTY_BRACKETS.sub("", text)
    if CITE in text or AY_OPEN in text or AY_CLOSE in text:
        text = _STRAY_MARKERS.sub("", text)
    return text, n


def squash(text: str) -> str:
    """Collapses every run of whitespace (any Unicode width, newlines included) to one space."""
    if "\u200b" in text or "\u00ad" in text or "\ufeff" in text or "\u2060" in text:
        text = _ZERO_WIDTH.sub("", text)
    return " ".join(text.split())


def clean_inline(text: str | None) -> tuple[str, int]:
    """One paragraph: citations removed, whitespace collapsed. Returns (text, citations removed)."""
    if not text:
        return "", 0
    text, n = remove_citations(text)
    return squash(text), n


def nfc(text: str) -> str:
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)
