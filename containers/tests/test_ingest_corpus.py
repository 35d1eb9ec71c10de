"""Regression over the 200 real JATS files of ../shared/data/pmc-oa-sample (checklist case 17)."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from medllama.ingest import main
from medllama.ingest.jats import BLOCK_SEP, extract
from medllama.ingest.safety import Rejected, parse
from medllama.ingest.text import MARKERS
from medllama.jsonl import read_jsonl
from medllama.minhash import estimate_jaccard, exact_hash, signature

pytestmark = pytest.mark.shared

# JATS/MathML tags that would be extraction residue (an article about JATS may quote e.g. "<sub-article>")
TAG = re.compile(
    r"</?(?:italic|bold|xref|sup|sub|p|sec|title|label|caption|fig|table-wrap|table|tbody|td|tr|th|list|list-item|"
    r"ext-link|named-content|styled-content|inline-formula|disp-formula|alternatives|tex-math|mml:\w+|math|mi|mo|mn|"
    r"sc|underline|monospace|break|graphic|ref|fn|abstract|body|front|back|ref-list|boxed-text)(?:\s[^<>]*)?/?>"
)
ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]*|#\d+|#x[0-9A-Fa-f]+);")
MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$", re.S)
ALL_LICENSES = "CC0,CC BY,CC BY-SA,CC BY-ND,CC BY-NC,CC BY-NC-SA,CC BY-NC-ND,Public Domain"
NOTICES = {"correction", "retraction", "expression-of-concern", "addendum"}


def manifest(sample: Path) -> list[dict[str, str]]:
    with open(sample / "manifest.tsv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.fixture(scope="module")
def run_output(pmc_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    assert (
        main(["--input_dir", str(pmc_sample), "--output_dir", str(out), "--licenses", ALL_LICENSES, "--workers", "2"])
        == 0
    )
    docs = list(read_jsonl(out / "documents" / "part-00000-of-00001.jsonl"))
    rej = list(read_jsonl(out / "rejected" / "part-00000-of-00001.jsonl"))
    return docs, rej, json.loads((out / "ingest-report-00000-of-00001.json").read_text())


def test_every_file_accounted_for_and_no_crash(pmc_sample, run_output):
    docs, rej, report = run_output
    files = sorted(p.name for p in pmc_sample.iterdir() if p.suffix in {".xml", ".nxml"})
    sources = [r["source"] for r in docs + rej]
    assert sorted(sources) == files and len(set(sources)) == len(files)
    assert report["inputs"] == len(files) == report["documents"] + report["rejected"]
    assert "extract-error" not in report["rejected_by_reason"], [r for r in rej if r["reason"] == "extract-error"]
    assert report["rejected_by_reason"].get("parse-error", 0) <= 1  # one sample file is not well-formed
    assert report["documents"] >= 150


def test_no_markup_or_entity_residue_and_no_markers(pmc_sample, run_output):
    docs, _, _ = run_output
    for d in docs:
        prose = MATH.sub(" ", d["text"])  # LaTeX may hold comparisons such as i<n ... x>0
        source = (pmc_sample / d["source"]).read_text(encoding="utf-8", errors="replace")
        for m in TAG.finditer(prose):  # markup quoted as text in the article ("&lt;back&gt;") is content
            assert "&lt;" + m.group(0)[1:-1].lstrip("/").split()[0] in source, (d["source"], m.group(0))
        assert not ENTITY.search(prose), (d["source"], ENTITY.search(prose).group(0))
        assert not re.search(f"[{MARKERS}{BLOCK_SEP}]", d["text"]), d["source"]
        assert "[]" not in d["text"] and "()" not in d["text"] and "[, ]" not in d["text"], d["source"]
        assert d["text_hash"] == exact_hash(d["text"]) and len(d["minhash"]) == 112


def test_titles_and_abstracts_present_where_the_xml_has_them(pmc_sample):
    checked = 0
    for path in sorted(pmc_sample.iterdir()):
        if path.suffix not in {".xml", ".nxml"}:
            continue
        try:
            doc = extract(parse(path.read_bytes(), 64 << 20).root)
        except Rejected:
            continue
        if doc.has_title_xml:
            assert doc.title and doc.text.startswith("# " + doc.title), path.name
        if doc.has_abstract_xml:
            assert doc.abstract_chars > 0 and "\n\n## " in doc.text, path.name
        checked += 1
    assert checked >= 195


def test_notices_rejected(pmc_sample, run_output):
    _, rej, _ = run_output
    reasons = {r["source"]: r["reason"] for r in rej}
    notices = [row["filename"] for row in manifest(pmc_sample) if row["article_type"] in NOTICES]
    assert notices
    for name in notices:
        assert reasons.get(name) in {"notice", "license-unknown"}, (name, reasons.get(name))


def test_dup_groups_collide(pmc_sample):
    groups: dict[str, list[str]] = defaultdict(list)
    for row in manifest(pmc_sample):
        if row["dup_group"]:
            groups[row["dup_group"]].append(row["filename"])
    assert groups
    for group, names in groups.items():
        texts = [extract(parse((pmc_sample / n).read_bytes(), 64 << 20).root).text for n in sorted(names)]
        first_hash, first_sig = exact_hash(texts[0]), signature(texts[0])
        for text in texts[1:]:
            assert exact_hash(text) == first_hash or estimate_jaccard(first_sig, signature(text)) >= 0.8, group
