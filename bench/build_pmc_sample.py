"""Builds fixtures/pmc-oa-cc-sample: real PMC Open Access articles under CC0 or CC BY, with their attribution.

The SmolLM2 demo trains and evaluates on real PMC text, and the repository may redistribute only articles whose
licence allows it with attribution. This script picks them from a folder of JATS files (the team's sample: 200
articles of many publishers) by what each article's own XML says, through the Ingest step's extractor:

- licence CC0 or CC BY (any version; medllama.ingest.licenses' normalised code), never NC, ND or SA;
- a PMCID and a DOI (the attribution names both), a research or review article type, a body of at least 2,000
  characters (Ingest would keep it), and not a near-copy of another picked one (same DOI or same title);
- at most ``--max-bytes`` of XML each.

It writes ``articles.tar.gz`` (the XML files, deterministic: sorted, fixed mtime and owner, gzip without a
timestamp) and ``attribution.tsv`` (file, PMCID, DOI, licence, licence URL, citation). The demo's set-up unpacks
the archive into a cached folder (``lib/cli/commands/local-run.ts``, ``ensureSampleCorpus``).

    .venv/bin/python bench/build_pmc_sample.py --source <folder of JATS files> --out fixtures/pmc-oa-cc-sample
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import re
import tarfile
from pathlib import Path

from lxml import etree
from medllama.ingest.jats import extract
from medllama.ingest.safety import Rejected, parse

ALLOWED = {"CC0", "CC BY"}
TYPES = {
    "research-article",
    "review-article",
    "brief-report",
    "case-report",
    "research-note",
    "article",
}


def _text(el: etree._Element | None) -> str:
    return re.sub(r"\s+", " ", "".join(el.itertext())).strip() if el is not None else ""


def citation(root: etree._Element) -> str:
    """``Authors (et al.). Title. Journal. Year.`` from the article's front matter."""
    meta = root.find(".//front/article-meta")
    names = []
    for name in (
        meta.findall(".//contrib-group/contrib[@contrib-type='author']/name")
        if meta is not None
        else []
    ):
        surname, given = _text(name.find("surname")), _text(name.find("given-names"))
        names.append(f"{surname} {given[:1]}".strip())
    authors = (
        ", ".join(names[:3]) + (" et al." if len(names) > 3 else "")
        if names
        else "Anonymous"
    )
    title = _text(meta.find(".//title-group/article-title")) if meta is not None else ""
    journal = _text(root.find(".//front/journal-meta//journal-title"))
    years = [_text(y) for y in root.findall(".//front/article-meta/pub-date/year")]
    year = min((y for y in years if y.isdigit()), default="")
    return f"{authors}. {title.rstrip('.')}. {journal}. {year}.".replace("..", ".")


def license_url(root: etree._Element) -> str:
    lic = root.find(".//front/article-meta/permissions/license")
    if lic is None:
        return ""
    for key, value in lic.attrib.items():
        if key.endswith("href"):
            return value
    ref = lic.find(".//{http://www.niso.org/schemas/ali/1.0/}license_ref")
    return _text(ref)


def _evidence_url(evidence: str) -> str:
    """The URL Ingest's licence detection found (``url <href>``), else where the licence is stated."""
    return (
        evidence.removeprefix("url ").strip()
        if evidence.startswith("url ")
        else "(the article's licence text)"
    )


def pick(source: Path, max_bytes: int) -> list[dict[str, str]]:
    picked: list[dict[str, str]] = []
    seen: set[str] = set()
    for path in sorted(p for p in source.rglob("*") if p.suffix in (".xml", ".nxml")):
        data = path.read_bytes()
        if len(data) > max_bytes:
            continue
        try:
            parsed = parse(data, max_bytes)
        except Rejected as err:  # Ingest rejects it too
            print(f"skipped {path.name}: {err}")
            continue
        root = parsed.root
        cited, url = (
            citation(root),
            license_url(root),
        )  # before extract, which changes the tree
        article = extract(root)
        if article.license not in ALLOWED or not article.pmcid or not article.doi:
            continue
        if (
            article.article_type not in TYPES
            or article.body_chars < 2000
            or article.retracted
        ):
            continue
        keys = {article.doi.lower(), re.sub(r"\W+", " ", article.title.lower()).strip()}
        if keys & seen:
            continue
        seen |= keys
        picked.append(
            {
                "file": f"{article.pmcid}.xml",
                "source_file": str(path.relative_to(source)),
                "pmcid": article.pmcid,
                "doi": article.doi,
                "license": article.license,
                "license_url": url or _evidence_url(article.license_evidence),
                "citation": cited,
            }
        )
    return picked


def write(source: Path, out: Path, picked: list[dict[str, str]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for row in sorted(picked, key=lambda r: r["file"]):
            data = (source / row["source_file"]).read_bytes()
            info = tarfile.TarInfo(f"pmc-oa-cc-sample/{row['file']}")
            info.size, info.mtime, info.mode, info.uid, info.gid = (
                len(data),
                0,
                0o644,
                0,
                0,
            )
            tar.addfile(info, io.BytesIO(data))
    with (
        (out / "articles.tar.gz").open("wb") as f,
        gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz,
    ):
        gz.write(buf.getvalue())
    columns = ["file", "pmcid", "doi", "license", "license_url", "citation"]
    with (out / "attribution.tsv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(
            f, columns, delimiter="\t", extrasaction="ignore", lineterminator="\n"
        )
        w.writeheader()
        w.writerows(sorted(picked, key=lambda r: r["file"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", required=True, type=Path, help="folder of JATS .xml/.nxml files"
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="folder to write articles.tar.gz and attribution.tsv",
    )
    parser.add_argument(
        "--max-bytes", type=int, default=400_000, help="largest XML file taken"
    )
    args = parser.parse_args()
    picked = pick(args.source, args.max_bytes)
    write(args.source, args.out, picked)
    print(
        f"{len(picked)} articles → {args.out} ({(args.out / 'articles.tar.gz').stat().st_size:,} bytes compressed)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
