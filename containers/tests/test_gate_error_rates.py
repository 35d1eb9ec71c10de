"""bench/gate_error_rates.py (the simulation docs/evaluation.md quotes) in its seconds-long smoke mode: the vectorized
rules it simulates equal medllama.evaluate's own statistics on the same data, and it prints every table."""

from __future__ import annotations

import os
import subprocess
import sys

from medllama.resources import repo_root


def test_simulation_smoke_mode_checks_its_rules_against_evaluate() -> None:
    script = repo_root() / "bench" / "gate_error_rates.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(script), "--smoke"], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "checked: the simulated rules equal medllama.evaluate's statistics on the same data" in proc.stderr
    for heading in (
        "## perplexity_improvement >= 0.05: 2000 PMC test documents",
        "## pubmedqa_delta >= -0.04 (non-inferiority, margin 0.04): 500 items",
        "## pubmedqa_delta >= +0.02 (superiority, margin 0.02)",
        "## general_regression <= 0.03: 22 files x 4 paragraphs",
    ):
        assert heading in proc.stdout, heading
    assert "| true value | error if passed / failed | rate: bound rule (current) | rate: point rule (before) |" in (
        proc.stdout
    )
    again = subprocess.run(
        [sys.executable, str(script), "--smoke"], env=env, capture_output=True, text=True, timeout=300
    )
    assert again.stdout == proc.stdout  # seeded: the same tables every run


def test_simulated_set_sizes_are_the_real_ones(tokenizer_json) -> None:
    """The sizes the docs quote: dedup's test-split cap, and the project's general-text set as Evaluate reads it."""
    import importlib.util
    from collections import Counter

    from medllama.dedup.config import DedupConfig
    from medllama.evaluate.documents import load_general_documents
    from medllama.tokenizer import load_base_tokenizer

    spec = importlib.util.spec_from_file_location("gate_error_rates", repo_root() / "bench" / "gate_error_rates.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert DedupConfig.__dataclass_fields__["max_test_docs"].default == bench.PMC_DOCUMENTS
    general = load_general_documents(repo_root() / "fixtures" / "general-text")
    per_file = Counter(d.source for d in general.documents)
    assert len(per_file) == bench.GENERAL_FILES and set(per_file.values()) == {bench.GENERAL_PARAGRAPHS_PER_FILE}
    tok = load_base_tokenizer(tokenizer_json)
    mean_tokens = sum(len(tok.frame(d.text)) for d in general.documents) / len(general.documents)
    assert abs(mean_tokens - bench.GENERAL_TOKENS_PER_PARAGRAPH) < 1
