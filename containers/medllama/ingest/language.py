"""Language identification with py3langid (its model ships in the wheel; no network).

A sample is classified, not the whole text: up to three 1,000-character windows (start of the body
text after the title, middle, end) with headings and formulas removed, which is both faster and more
robust than the first characters alone (a title or a Latin species name can mislead it).
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np

from medllama.speedups import native

_WINDOW = 1000
# Heading lines and $…$ formulas: ``^#.*$|\$[^$]*\$`` (multiline), written so that every branch starts with a
# literal ("#" checked to be at a line start afterwards), which lets the regex engine skip to a "#" or "$".
_NOISE = re.compile(r"#(?<=^#).*$|\$[^$]*\$", re.M)


@cache
def _identifier():
    """py3langid's model (loaded once) and its byte automaton as flat arrays for the C feature counter."""
    from py3langid import langid

    if langid.IDENTIFIER is None:
        langid.load_model()
    model = langid.IDENTIFIER
    nextmove = np.asarray(model.tk_nextmove, dtype=np.int32)
    states = len(nextmove) >> 8
    outputs = [model.tk_output.get(state, ()) for state in range(states)]
    offsets = np.zeros(states + 1, dtype=np.int64)
    np.cumsum([len(o) for o in outputs], out=offsets[1:])
    features = np.fromiter((f for o in outputs for f in o), dtype=np.int32, count=int(offsets[-1]))
    return model, nextmove, offsets, features


def sample(text: str) -> str:
    text = _NOISE.sub(" ", text)
    if len(text) <= 3 * _WINDOW:
        return text
    mid = len(text) // 2
    return " ".join((text[:_WINDOW], text[mid : mid + _WINDOW], text[-_WINDOW:]))


def classify(text: str) -> tuple[str, float]:
    """py3langid's ``classify``: with the C speedups, the feature counts come from their C loop (the same counts,
    so the same answer; test_speedups compares them), the rest is py3langid's own arithmetic."""
    model, nextmove, offsets, features = _identifier()
    if native is None:
        return model.classify(text)
    data = text.encode("utf-8", errors="surrogatepass")
    fv = np.frombuffer(native.langid_features(data, nextmove, offsets, features, model.nb_numfeats), dtype=np.uint16)
    probs = model.norm_probs(model.nb_classprobs(fv))
    best = np.argmax(probs)
    return model.nb_classes[best], probs[best]


def detect_language(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of the text's sample; ("und", 0.0) when there is no text."""
    s = sample(text)
    if not s.strip():
        return "und", 0.0
    lang, prob = classify(s)
    return str(lang), float(prob)
