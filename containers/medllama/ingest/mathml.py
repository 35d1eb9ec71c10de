"""Formulas → one representation: LaTeX. ``tex-math`` is used as given (minus any document preamble);
MathML is converted to equivalent LaTeX; a formula with neither keeps its plain text."""

from __future__ import annotations

import functools
import re

from lxml import etree

MML = "{http://www.w3.org/1998/Math/MathML}"
_PREAMBLE = re.compile(r"^.*?\\begin\{document\}", re.S)
_END_DOC = re.compile(r"\\end\{document\}.*$", re.S)
_DELIMS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))


@functools.lru_cache(maxsize=1024)
def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def clean_tex(tex: str) -> str:
    tex = tex.strip()
    if "\\begin{document}" in tex:
        tex = _END_DOC.sub("", _PREAMBLE.sub("", tex))
    tex = tex.strip()
    for left, right in _DELIMS:
        if tex.startswith(left) and tex.endswith(right) and len(tex) > len(left) + len(right):
            tex = tex[len(left) : -len(right)].strip()
            break
    return " ".join(tex.split())


def _join(parts: list[str]) -> str:
    out = ""
    for part in parts:
        if not part:
            continue
        if out and (out[-1].isalnum() or out[-1] == "}") and (part[0].isalnum() or part[0] == "\\"):
            out += " "
        out += part
    return out


def _brace(s: str) -> str:
    return s if len(s) == 1 else "{" + s + "}"


_TOKENS = frozenset({"mi", "mn", "mo", "ms"})
_SILENT = frozenset({"annotation", "annotation-xml", "mphantom", "merror", "none", "mprescripts"})


def mathml_to_tex(el: etree._Element, name: str | None = None) -> str:
    """LaTeX for one MathML element (``name``: its local name, when the caller already has it)."""
    if name is None:
        name = _local(el.tag)
    if name in _TOKENS:
        if not len(el):  # a leaf: its own text (the common case)
            text = el.text
            return " ".join(text.split()) if text else ""
        return " ".join("".join(el.itertext()).split())
    if name == "mtext":
        text = " ".join("".join(el.itertext()).split())
        return "\\text{" + text + "}" if text else ""
    if name == "mspace":
        return " "
    if name in _SILENT:
        return ""
    if name == "semantics":
        first = next((k for k in el if isinstance(k.tag, str)), None)
        return mathml_to_tex(first) if first is not None else ""
    sub: list[str] = []
    for k in el:  # each child element's LaTeX; leaf tokens (most nodes of a formula) inline
        tag = k.tag
        if not isinstance(tag, str):
            continue
        kname = _local(tag)
        if kname in _TOKENS and not len(k):
            text = k.text
            sub.append(" ".join(text.split()) if text else "")
        else:
            sub.append(mathml_to_tex(k, kname))
    n = len(sub)
    if n == 2:
        if name == "msup":
            return _brace(sub[0]) + "^" + _brace(sub[1])
        if name == "msub":
            return _brace(sub[0]) + "_" + _brace(sub[1])
        if name == "mfrac":
            return "\\frac{" + sub[0] + "}{" + sub[1] + "}"
        if name == "mroot":
            return "\\sqrt[" + sub[1] + "]{" + sub[0] + "}"
        if name == "mover":
            return "\\overset{" + sub[1] + "}{" + sub[0] + "}"
        if name == "munder":
            return "\\underset{" + sub[1] + "}{" + sub[0] + "}"
    elif n == 3 and (name == "msubsup" or name == "munderover"):
        return _brace(sub[0]) + "_" + _brace(sub[1]) + "^" + _brace(sub[2])
    if name == "msqrt":
        return "\\sqrt{" + _join(sub) + "}"
    if name == "mfenced":
        opening, closing = el.get("open", "("), el.get("close", ")")
        return opening + el.get("separators", ",")[:1].join(sub) + closing
    if name == "mtable":
        return "\\begin{matrix}" + " \\\\ ".join(sub) + "\\end{matrix}"
    if name == "mtr":
        return " & ".join(sub)
    return _join(sub)


def formula_tex(formula: etree._Element) -> tuple[str, bool]:
    """(representation, is_math). Prefers tex-math, then MathML, else the plain text (is_math False)."""
    for tex in formula.iter("tex-math"):
        text = "".join(tex.itertext())
        if text.strip():
            return clean_tex(text), True
    for math in formula.iter(MML + "math", "math"):
        return " ".join(mathml_to_tex(math).split()), True
    return " ".join("".join(formula.itertext()).split()), False
