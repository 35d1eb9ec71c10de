"""License codes: normalizing PMC ``license_code`` values and reading a license out of JATS XML.

Normalized codes are PMC's: ``CC0``, ``CC BY``, ``CC BY-SA``, ``CC BY-ND``, ``CC BY-NC``,
``CC BY-NC-SA``, ``CC BY-NC-ND`` (plus ``TDM`` and ``NO-CC CODE`` from the metadata, and
``Public Domain`` for the public-domain mark / US-government works). In the XML the license is read
from, in order: a creativecommons.org URL (``xlink:href``, ``ali:license_ref``, ``ext-link`` in the
license text), then ``@license-type``, then recognisable prose; anything else is unknown (None).
"""

from __future__ import annotations

import re

from lxml import etree

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
ALI_REF = "{http://www.niso.org/schemas/ali/1.0/}license_ref"

_CC_URL = re.compile(r"creativecommons\.org/licen[sc]es/([a-z-]+)", re.I)
_CC0_URL = re.compile(r"creativecommons\.org/publicdomain/zero", re.I)
_PDM_URL = re.compile(r"creativecommons\.org/publicdomain/mark", re.I)
_ABBREV = re.compile(r"\bcc[\s-]?(0|zero|by(?:[\s-](?:nc|nd|sa))*)\b", re.I)
_WS = re.compile(r"\s+")


def _code_from_parts(parts: list[str]) -> str | None:
    parts = [p.lower() for p in parts if p]
    if not parts or parts[0] != "by":
        return None
    rest = [p for p in parts[1:] if p in {"nc", "nd", "sa"}]
    order = {"nc": 0, "nd": 1, "sa": 1}
    rest = sorted(dict.fromkeys(rest), key=lambda p: order[p])
    return "CC BY" + "".join(f"-{p.upper()}" for p in rest)


def normalize_code(value: str | None) -> str | None:
    """A metadata ``license_code`` (or a ``@license-type``) → normalized code, or None if unknown."""
    if not value:
        return None
    text = _WS.sub(" ", value.strip())
    low = text.lower().replace("_", "-")
    if low in {"cc0", "cc-0", "cc zero", "cc-zero", "cc0-1.0"}:
        return "CC0"
    if low in {"tdm", "no-cc code", "no-cc-code"}:
        return text.upper()
    if low in {"public-domain", "public domain", "pd", "pdm"}:
        return "Public Domain"
    if low in {"creative-commons-attribution", "creative commons attribution"}:
        return "CC BY"
    m = re.fullmatch(r"cc[\s-]?(by(?:[\s-][a-z]{2})*)(?:[\s-]\d(?:\.\d)?)?", low)
    if m:
        return _code_from_parts(re.split(r"[\s-]", m.group(1)))
    return None


def from_url(url: str) -> str | None:
    if _CC0_URL.search(url):
        return "CC0"
    if _PDM_URL.search(url):
        return "Public Domain"
    m = _CC_URL.search(url)
    if m:
        return _code_from_parts(m.group(1).split("-"))
    return None


def from_prose(text: str) -> str | None:
    low = _WS.sub(" ", text.lower())
    if "cc0" in low or "creative commons zero" in low or "public domain dedication" in low:
        return "CC0"
    if "creative commons" in low and "attribution" in low:
        parts = ["by"]
        if re.search(r"non-?\s?commercial", low):
            parts.append("nc")
        if re.search(r"no-?\s?deriv", low):
            parts.append("nd")
        if re.search(r"share-?\s?alike", low):
            parts.append("sa")
        return _code_from_parts(parts)
    m = _ABBREV.search(low)
    if m:
        token = m.group(1).lower()
        if token in {"0", "zero"}:
            return "CC0"
        return _code_from_parts(re.split(r"[\s-]", token))
    if "public domain" in low and ("not subject to copyright" in low or "work of the" in low):
        return "Public Domain"
    return None


def from_xml(meta: etree._Element | None) -> tuple[str | None, str]:
    """(code or None, evidence) from ``article-meta`` (its ``permissions``)."""
    if meta is None:
        return None, "no article-meta"
    permissions = meta.find("permissions")
    if permissions is None:
        return None, "no <permissions>"
    licenses = permissions.findall("license")
    urls: list[str] = []
    types: list[str] = []
    for lic in licenses:
        if lic.get(XLINK_HREF):
            urls.append(lic.get(XLINK_HREF, ""))
        if lic.get("license-type"):
            types.append(lic.get("license-type", ""))
        urls.extend((r.text or "") for r in lic.iter(ALI_REF))
        urls.extend(x.get(XLINK_HREF, "") for x in lic.iter("ext-link", "uri"))
    for url in urls:
        code = from_url(url)
        if code:
            return code, f"url {url.strip()}"
    for kind in types:
        code = normalize_code(kind)
        if code:
            return code, f"license-type {kind}"
    prose = " ".join("".join(lic.itertext()) for lic in licenses)
    statement = permissions.find("copyright-statement")
    if statement is not None:
        prose += " " + "".join(statement.itertext())
    code = from_prose(prose)
    if code:
        return code, "license prose"
    if not licenses:
        return None, "no <license> element"
    return None, "license not recognised: " + _WS.sub(" ", prose).strip()[:160]
