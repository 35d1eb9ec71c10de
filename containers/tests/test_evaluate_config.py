"""EvaluateConfig agrees with its generated schema; flags; the packaged prompt set."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from medllama.config import ConfigError, is_path_field, load_schema, parse_config
from medllama.evaluate.config import STEP, EvaluateConfig
from medllama.evaluate.qualitative import PromptError, load_prompts

REQUIRED = ["--base_model_dir", "b", "--tuned_model_dir", "t", "--test_dir", "d"]


def test_dataclass_matches_generated_schema() -> None:
    schema = load_schema(STEP)
    fields = {f.name: f.default for f in dataclasses.fields(EvaluateConfig) if not is_path_field(f)}
    assert set(fields) == set(schema["properties"])
    for name, default in fields.items():
        assert schema["properties"][name]["default"] == default, name
    assert schema.get("additionalProperties") is False or "additionalProperties" not in schema


def test_parse_sagemaker_style_values_and_opt_ml_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEDLLAMA_OPT_ML", str(tmp_path))
    cfg = parse_config(
        EvaluateConfig, ["--seq_len", "512", "--dtype", '"bfloat16"', "--pubmedqa_limit", "50"], step=STEP
    )
    assert (cfg.seq_len, cfg.dtype, cfg.pubmedqa_limit) == (512, "bfloat16", 50)
    assert cfg.output_dir == str(tmp_path / "processing" / "output" / "evaluation")
    assert cfg.base_model_dir == str(tmp_path / "processing" / "input" / "base_model")
    assert cfg.general_dir == "" and cfg.benchmarks_dir == ""


def test_benchmark_limits_cop_and_training_summary_flags() -> None:
    cfg = parse_config(
        EvaluateConfig,
        [*REQUIRED, "--medmcqa_limit", "100", "--medqa_limit", "50", "--medmcqa_cop", '"1-4"',
         "--training_summary", "/x/training_summary.json"],
        step=STEP,
    )  # fmt: skip
    assert (cfg.medmcqa_limit, cfg.medqa_limit, cfg.medmcqa_cop) == (100, 50, "1-4")
    assert cfg.training_summary == "/x/training_summary.json"
    defaults = parse_config(EvaluateConfig, REQUIRED, step=STEP)
    assert (defaults.medmcqa_limit, defaults.medqa_limit, defaults.medmcqa_cop) == (0, 0, "auto")
    assert defaults.training_summary == ""  # = <tuned_model_dir>/training_summary.json when present
    assert "training_summary" not in load_schema(STEP)["properties"]  # a path flag, not configuration


@pytest.mark.parametrize(
    "argv,field",
    [
        (["--medmcqa_cop", "2-5"], "--medmcqa_cop"),
        (["--medqa_limit", "-1"], "--medqa_limit"),
        (["--seq_len", "8"], "--seq_len"),
        (["--dtype", "int8"], "--dtype"),
        (["--bootstrap_samples", "many"], "--bootstrap_samples"),
        (["--unknown_flag", "1"], "--unknown_flag"),
    ],
)
def test_invalid_values_name_the_field(argv: list[str], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        parse_config(EvaluateConfig, REQUIRED + argv, step=STEP)


def test_main_exits_2_on_bad_config(capsys: pytest.CaptureFixture[str]) -> None:
    from medllama.evaluate import main

    with pytest.raises(SystemExit) as exc:
        main([*REQUIRED, "--batch_size", "0"])
    assert exc.value.code == 2
    assert "--batch_size" in capsys.readouterr().err


def test_packaged_prompt_set() -> None:
    prompts = load_prompts()
    assert len(prompts) >= 30
    categories = {p.category for p in prompts}
    for needed in ("definition", "mechanism", "clinical_reasoning", "drug_interaction"):
        assert needed in categories
    safety = {c for c in categories if c.startswith(("safety_", "bias_"))}
    for needed in (
        "safety_self_harm",
        "safety_unverified_treatment",
        "safety_ethics",
        "bias_age",
        "bias_sex",
        "bias_race",
        "bias_disability",
    ):
        assert needed in safety
    assert len({p.id for p in prompts}) == len(prompts)


def test_bad_prompt_files(tmp_path: Path) -> None:
    bad = tmp_path / "p.jsonl"
    bad.write_text(json.dumps({"id": "a", "category": "x"}) + "\n")
    with pytest.raises(PromptError, match="prompt"):
        load_prompts(bad)
    bad.write_text(
        json.dumps({"id": "a", "category": "x", "prompt": "p"}) * 1
        + "\n"
        + json.dumps({"id": "a", "category": "x", "prompt": "q"})
        + "\n"
    )
    with pytest.raises(PromptError, match="repeats"):
        load_prompts(bad)
    with pytest.raises(PromptError, match="not found"):
        load_prompts(tmp_path / "none.jsonl")
