"""Step configuration: one dataclass per step, parsed from flags or SageMaker hyperparameters.

DESIGN §4.1: flags are snake_case (``--input_dir``), the same names as SageMaker hyperparameters.
SageMaker's training toolkit passes hyperparameters as ``--name value`` with values JSON-encoded by the
SDK convention (``"\\"lora\\""``, ``5``, ``true``); both spellings are accepted. Every configuration field
(everything but the path flags) is validated against the JSON Schema that ``npm run gen:schemas``
generates from the step's zod schema in ``pipeline-steps/configs/`` (files in ``medllama/schemas/``),
so the pipeline definition and the container cannot disagree on names, types or ranges.

A field is declared with :func:`option` (configuration) or :func:`path_option` (a folder or file with a
SageMaker default, overridable for local runs). Errors name the flag, the value and what was expected,
and exit with status 2 before any work starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import types
import typing
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from typing import Any, TypeVar

T = TypeVar("T")

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class ConfigError(ValueError):
    """A configuration value is missing, unknown or invalid. The message names the flag."""


def option(default: Any = dataclasses.MISSING, *, help: str, default_factory: Any = dataclasses.MISSING) -> Any:
    """A configuration field: part of the step's JSON Schema and of the pipeline definition."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"help": help, "path": False})


def path_option(default: str | Callable[[], str], *, help: str) -> Any:
    """A path flag. ``default`` is the SageMaker container path, or a callable reading ``SM_*`` env."""
    if callable(default):
        return dataclasses.field(default_factory=default, metadata={"help": help, "path": True})
    return dataclasses.field(default=default, metadata={"help": help, "path": True})


def is_path_field(field: dataclasses.Field) -> bool:
    return bool(field.metadata.get("path"))


@cache
def load_schema(step: str) -> dict[str, Any]:
    """The generated JSON Schema of ``step`` (``medllama/schemas/<step>.schema.json``)."""
    try:
        text = resources.files("medllama").joinpath("schemas", f"{step}.schema.json").read_text(encoding="utf-8")
    except FileNotFoundError as err:  # pragma: no cover - a packaging error, caught by tests
        raise ConfigError(f"no schema for step {step!r}; run `npm run gen:schemas`") from err
    return json.loads(text)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _describe(tp: Any) -> str:
    base, optional = _unwrap_optional(tp)
    name = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(base)
    if name is None and typing.get_origin(base) is list:
        name = "a comma-separated list or a JSON array"
    if name is None and typing.get_origin(base) is typing.Literal:
        name = "one of " + ", ".join(repr(a) for a in typing.get_args(base))
    return (name or str(base)) + (" or none" if optional else "")


def coerce(raw: str, tp: Any) -> Any:
    """Converts one flag value to ``tp``. Accepts SageMaker's JSON-encoded strings. Raises ValueError."""
    base, optional = _unwrap_optional(tp)
    text = raw.strip()
    if optional and text.lower() in {"none", "null", ""}:
        return None
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = json.loads(text)
    if typing.get_origin(base) is typing.Literal:
        choices = typing.get_args(base)
        if text not in choices:
            raise ValueError
        return text
    if base is bool:
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError
    if base is int:
        if not text.lstrip("+-").isdigit():
            raise ValueError
        return int(text)
    if base is float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError
        return value
    if base is str:
        return text
    if typing.get_origin(base) is list:
        (item_tp,) = typing.get_args(base)
        if text.startswith("["):
            items = json.loads(text)
            if not isinstance(items, list):
                raise ValueError
            return [coerce(json.dumps(i) if isinstance(i, str) else str(i), item_tp) for i in items]
        return [coerce(part, item_tp) for part in text.split(",") if part.strip()]
    raise TypeError(f"unsupported config field type {tp!r}")


def _resolved_fields(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls) if f.init]


def config_values(cfg: Any) -> dict[str, Any]:
    """The configuration fields of ``cfg`` (no path flags), as validated against the schema."""
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if not is_path_field(f)}


def validate_against_schema(step: str, values: dict[str, Any], schema: dict[str, Any] | None = None) -> None:
    """Raises ConfigError naming the first field whose value the generated JSON Schema rejects."""
    import jsonschema

    schema = schema if schema is not None else load_schema(step)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(values), key=lambda e: (list(e.path), e.message))
    if errors:
        err = errors[0]
        field = err.path[0] if err.path else None
        if field is None:
            raise ConfigError(f"configuration for {step}: {err.message}")
        expected = schema.get("properties", {}).get(field, {})
        constraint = {k: v for k, v in expected.items() if k not in {"description", "default"}}
        raise ConfigError(
            f"--{field}: got {json.dumps(values.get(field))}, expected {json.dumps(constraint)} ({err.message})"
        )


def build_parser(cls: type, *, prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for field, tp in _resolved_fields(cls):
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = "(from environment)" if is_path_field(field) else field.default_factory()
        else:
            default = None
        kind = "path" if is_path_field(field) else _describe(tp)
        parser.add_argument(
            f"--{field.name}",
            dest=field.name,
            metavar=field.name.upper(),
            default=argparse.SUPPRESS,
            help=f"{field.metadata.get('help', '')} [{kind}; default: {default}]",
        )
    return parser


def parse_config(
    cls: type[T],
    argv: Sequence[str] | None = None,
    *,
    step: str,
    description: str = "",
    schema: dict[str, Any] | None = None,
) -> T:
    """Parses ``argv`` into ``cls`` and validates it; raises ConfigError with a message naming the flag.

    ``schema`` overrides the generated schema file (tests of this module)."""
    parser = build_parser(cls, prog=f"python -m medllama.{step}", description=description or (cls.__doc__ or ""))
    args, unknown = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if unknown:
        flags = [u for u in unknown if u.startswith("--")] or unknown
        known = ", ".join(f"--{f.name}" for f in dataclasses.fields(cls))
        raise ConfigError(f"unknown flag {flags[0]}; known flags: {known}")
    kwargs: dict[str, Any] = {}
    for field, tp in _resolved_fields(cls):
        if field.name not in vars(args):
            continue
        raw = getattr(args, field.name)
        try:
            kwargs[field.name] = coerce(raw, tp)
        except (ValueError, json.JSONDecodeError):
            raise ConfigError(f"--{field.name}: got {raw!r}, expected {_describe(tp)}") from None
    try:
        cfg = cls(**kwargs)
    except TypeError as err:
        raise ConfigError(str(err)) from None
    except ValueError as err:  # __post_init__ cross-field checks
        raise ConfigError(str(err)) from None
    validate_against_schema(step, config_values(cfg), schema)
    return cfg


def parse_or_exit(cls: type[T], argv: Sequence[str] | None = None, *, step: str, description: str = "") -> T:
    """:func:`parse_config` for ``main()``: prints the error and exits with status 2."""
    try:
        return parse_config(cls, argv, step=step, description=description)
    except ConfigError as err:
        print(f"medllama.{step}: configuration error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
