"""Formulas → one representation: LaTeX. ``tex-math`` is used as given (minus any document preamble);
MathML is converted to equivalent LaTeX; a formula with neither keeps its plain text."""

from __future__ import annotations

import re

from lxml import etree

MML = "{http://www.w3.org/1998/Math/MathML}"
_PREAMBLE = re.compile(r"^.*?\\begin\{document\}", re.S)
_END_DOC = re.compile(r"\\end\{document\}.*$", re.S)
_DELIMS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))


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


def mathml_to_tex(el: etree._Element) -> str:
    name = _local(el.tag)
    kids = [k for k in el if isinstance(k.tag, str)]
    if name in {"mi", "mn", "mo", "ms"}:
        return " ".join("".join(el.itertext()).split())
    if name == "mtext":
        text = " ".join("".join(el.itertext()).split())
        return "\\text{" + text + "}" if text else ""
    if name == "mspace":
        return " "
    if name in {"annotation", "annotation-xml", "mphantom", "merror", "none", "mprescripts"}:
        return ""
    if name == "semantics":
        return mathml_to_tex(kids[0]) if kids else ""
    sub = [mathml_to_tex(k) for k in kids]
    if name == "msup" and len(sub) == 2:
        return _brace(sub[0]) + "^" + _brace(sub[1])
    if name == "msub" and len(sub) == 2:
        return _brace(sub[0]) + "_" + _brace(sub[1])
    if name == "msubsup" and len(sub) == 3:
        return _brace(sub[0]) + "_" + _brace(sub[1]) + "^" + _brace(sub[2])
    if name == "mfrac" and len(sub) == 2:
        return "\\frac{" + sub[0] + "}{" + sub[1] + "}"
    if name == "msqrt":
        return "\\sqrt{" + _join(sub) + "}"
    if name == "mroot" and len(sub) == 2:
        return "\\sqrt[" + sub[1] + "]{" + sub[0] + "}"
    if name == "mover" and len(sub) == 2:
        return "\\overset{" + sub[1] + "}{" + sub[0] + "}"
    if name == "munder" and len(sub) == 2:
        return "\\underset{" + sub[1] + "}{" + sub[0] + "}"
    if name == "munderover" and len(sub) == 3:
        return _brace(sub[0]) + "_" + _brace(sub[1]) + "^" + _brace(sub[2])
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
