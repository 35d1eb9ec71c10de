"""Language identification with py3langid (its model ships in the wheel; no network).

A sample is classified, not the whole text: up to three 1,000-character windows (start of the body
text after the title, middle, end) with headings and formulas removed, which is both faster and more
robust than the first characters alone (a title or a Latin species name can mislead it).
"""

from __future__ import annotations

import re
from functools import cache

_WINDOW = 1000
# Heading lines and $…$ formulas: ``^#.*$|\$[^$]*\$`` (multiline), written so that every branch starts with a
# literal ("#" checked to be at a line start afterwards), which lets the regex engine skip to a "#" or "$".
_NOISE = re.compile(r"#(?<=^#).*$|\$[^$]*\$", re.M)


@cache
def _identifier():
    import py3langid

    return py3langid


def sample(text: str) -> str:
    text = _NOISE.sub(" ", text)
    if len(text) <= 3 * _WINDOW:
        return text
    mid = len(text) // 2
    return " ".join((text[:_WINDOW], text[mid : mid + _WINDOW], text[-_WINDOW:]))


def detect_language(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of the text's sample; ("und", 0.0) when there is no text."""
    s = sample(text)
    if not s.strip():
        return "und", 0.0
    lang, prob = _identifier().classify(s)
    return str(lang), float(prob)
