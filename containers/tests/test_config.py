"""The config mechanism every step uses (medllama/config.py), on a toy step with an inline schema."""

from __future__ import annotations

import dataclasses
from typing import Literal

import pytest

from medllama.config import ConfigError, coerce, option, parse_config, parse_or_exit, path_option
from medllama.sagemaker_env import opt_ml

SCHEMA = {
    "type": "object",
    "properties": {
        "seq_len": {"type": "integer", "minimum": 8, "maximum": 8192, "default": 4096},
        "learning_rate": {"type": "number", "exclusiveMinimum": 0, "default": 0.0002},
        "method": {"type": "string", "enum": ["lora", "full"], "default": "lora"},
        "bf16": {"type": "boolean", "default": True},
        "licenses": {"type": "array", "items": {"type": "string"}, "default": ["CC0", "CC BY"]},
        "max_articles": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}], "default": None},
    },
    "additionalProperties": False,
}


@dataclasses.dataclass
class ToyConfig:
    input_dir: str = path_option(lambda: opt_ml("processing", "input", "data"), help="where inputs are")
    seq_len: int = option(4096, help="tokens per block")
    learning_rate: float = option(2e-4, help="peak learning rate")
    method: Literal["lora", "full"] = option("lora", help="fine-tuning method")
    bf16: bool = option(True, help="use bf16")
    licenses: list[str] = option(default_factory=lambda: ["CC0", "CC BY"], help="allowed licenses")
    max_articles: int | None = option(None, help="cap")

    def __post_init__(self) -> None:
        if self.method == "full" and self.seq_len > 4096:
            raise ValueError(f"--seq_len {self.seq_len} with --method full: full fine-tuning supports at most 4096")


def parse(argv: list[str]) -> ToyConfig:
    return parse_config(ToyConfig, argv, step="toy", schema=SCHEMA)


def test_defaults_and_sagemaker_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDLLAMA_OPT_ML", raising=False)
    cfg = parse([])
    assert cfg.input_dir == "/opt/ml/processing/input/data"
    assert (cfg.seq_len, cfg.method, cfg.bf16, cfg.licenses, cfg.max_articles) == (
        4096,
        "lora",
        True,
        ["CC0", "CC BY"],
        None,
    )


def test_local_runner_sandbox_moves_default_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDLLAMA_OPT_ML", "/tmp/run/Ingest/opt/ml")
    assert parse([]).input_dir == "/tmp/run/Ingest/opt/ml/processing/input/data"


def test_plain_and_sagemaker_json_encoded_values() -> None:
    cfg = parse(["--seq_len", "512", "--learning_rate", "1.5e-05", "--method", '"full"', "--bf16", "false"])
    assert (cfg.seq_len, cfg.learning_rate, cfg.method, cfg.bf16) == (512, 1.5e-05, "full", False)
    cfg = parse(["--licenses", '["CC0", "CC BY-SA"]', "--max_articles", "10"])
    assert cfg.licenses == ["CC0", "CC BY-SA"] and cfg.max_articles == 10
    assert parse(["--licenses", "CC0,CC BY"]).licenses == ["CC0", "CC BY"]
    assert parse(["--max_articles", "none"]).max_articles is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seq_len", "4k"], "--seq_len: got '4k', expected an integer"),
        (["--seq_len", "4"], "--seq_len: got 4, expected"),
        (["--learning_rate", "nan"], "--learning_rate: got 'nan', expected a number"),
        (["--method", "qlora"], "--method: got 'qlora', expected one of 'lora', 'full'"),
        (["--bf16", "maybe"], "--bf16: got 'maybe', expected true or false"),
        (["--max_articles", "-1"], "--max_articles: got -1, expected"),
        (["--sequence_length", "512"], "unknown flag --sequence_length"),
        (["--method", "full", "--seq_len", "8192"], "--seq_len 8192 with --method full"),
    ],
)
def test_errors_name_the_flag_value_and_expectation(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(argv)
    assert message in str(err.value)


def test_parse_or_exit_exits_2_with_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_or_exit(ToyConfig, ["--seq_len", "x"], step="toy")
    assert exc.value.code == 2
    assert "medllama.toy: configuration error: --seq_len: got 'x'" in capsys.readouterr().err


def test_help_documents_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["--help"])
    out = capsys.readouterr().out
    for flag in ("--input_dir", "--seq_len", "--learning_rate", "--method", "--bf16", "--licenses", "--max_articles"):
        assert flag in out


def test_coerce_rejects_bool_for_int() -> None:
    with pytest.raises(ValueError):
        coerce("true", int)
