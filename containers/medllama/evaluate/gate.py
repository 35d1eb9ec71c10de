"""The quality gate's inputs in ``evaluation.json``: one conservative bound per check, and whether all were computed.

The pipeline's QualityGate (pipeline-steps/definition.ts) registers the tuned model only when

    gate.checks_computed == 1
    gate.perplexity_improvement_lower >= MinPerplexityImprovement
    gate.pubmedqa_delta_lower         >= MinPubMedQADelta
    gate.general_regression_upper     <= MaxGeneralRegression

Each bound is the side of the paired comparison's two-sided 95% percentile-bootstrap CI that a bad model would
have to cross (a one-sided 97.5% bound), so a model passes only when the data say it is good enough, not when a
noisy point estimate happens to land on the right side. A check whose metric could not be computed has JSON
``null`` bound and value (never a stand-in number), ``computed`` false and its reason; ``checks_computed`` is then 0
and the gate fails. Evaluate receives the same thresholds as the ConditionStep (the same pipeline Parameters), so
the object also records each threshold, the verdict and a one-line ``summary`` that the QualityGateFailed step
shows: the file explains the decision by itself (docs/evaluation.md, "The gate").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

#: Fewer resampling units than this make a degenerate bootstrap (one unit: a zero-width CI); the check is then not
#: computed rather than decided on a bound that measures nothing.
MIN_UNITS = 2

BOUND = "one side of the two-sided 95% percentile bootstrap CI (a one-sided 97.5% bound)"


@dataclass(frozen=True)
class Thresholds:
    """The gate's thresholds: Evaluate's ``--min_perplexity_improvement`` … flags, fed from the pipeline Parameters
    the ConditionStep compares with (MinPerplexityImprovement, MinPubMedQADelta, MaxGeneralRegression)."""

    min_perplexity_improvement: float = 0.05
    min_pubmedqa_delta: float = -0.04
    max_general_regression: float = 0.03

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"gate threshold {name}: got {value!r}, expected a finite number")


@dataclass(frozen=True)
class Check:
    """One gated comparison: the estimate it reads, the side of its CI it compares, and its threshold."""

    name: str  # the check's one name, in Python, TS, the definition and the docs
    estimate: str  # dotted path of a {"value", "ci95"} estimate in evaluation.json
    units: str  # dotted path of the number of resampling units behind that estimate
    side: Literal["lower", "upper"]
    threshold: str  # the Thresholds field (and Evaluate flag)
    parameter: str  # the pipeline Parameter with the same value

    @property
    def key(self) -> str:
        """The gate key the ConditionStep reads, e.g. ``perplexity_improvement_lower``."""
        return f"{self.name}_{self.side}"

    @property
    def comparison(self) -> str:
        return ">=" if self.side == "lower" else "<="

    def rule(self, threshold: float) -> str:
        """What passing means, in words, for this threshold."""
        if self.name == "pubmedqa_delta":
            kind = (
                f"non-inferiority, margin {-threshold:g}" if threshold <= 0 else f"superiority, margin {threshold:g}"
            )
            return f"{kind}: lower bound of (tuned - base) accuracy >= {threshold:g}"
        if self.name == "perplexity_improvement":
            return f"improvement: lower bound of (base - tuned) / base test perplexity >= {threshold:g}"
        return f"no regression: upper bound of (tuned - base) / base general-text perplexity <= {threshold:g}"

    def passes(self, bound: float, threshold: float) -> bool:
        return bound >= threshold if self.side == "lower" else bound <= threshold


CHECKS = (
    Check(
        "perplexity_improvement",
        "metrics.test_perplexity.improvement",
        "metrics.test_perplexity.documents",
        "lower",
        "min_perplexity_improvement",
        "MinPerplexityImprovement",
    ),
    Check(
        "pubmedqa_delta",
        "metrics.pubmedqa.accuracy_delta",
        "metrics.pubmedqa.items",
        "lower",
        "min_pubmedqa_delta",
        "MinPubMedQADelta",
    ),
    Check(
        "general_regression",
        "metrics.general_perplexity.regression",
        "metrics.general_perplexity.files",
        "upper",
        "max_general_regression",
        "MaxGeneralRegression",
    ),
)
CHECKS_COMPUTED_PATH = "gate.checks_computed"
#: Every path the QualityGate reads (``Std:JsonGet``), in the order of its conditions.
GATE_PATHS = (CHECKS_COMPUTED_PATH, *(f"gate.{c.key}" for c in CHECKS))


def _get(doc: Any, path: str) -> Any:
    node = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _why_missing(check: Check, not_computed: dict[str, str]) -> str:
    """The recorded reason for the estimate's absence: the nearest enclosing path listed in ``not_computed``."""
    parts = check.estimate.split(".")
    for end in range(len(parts), 1, -1):
        reason = not_computed.get(".".join(parts[:end]))
        if reason:
            return reason
    return f"{check.estimate} is absent"


def _measure(check: Check, document: dict, not_computed: dict[str, str]) -> tuple[dict | None, str | None]:
    """({value, ci95, bound, units}, None) when the check can be decided, else (None, why not)."""
    estimate = _get(document, check.estimate)
    value = _number(estimate.get("value")) if isinstance(estimate, dict) else None
    ci = estimate.get("ci95") if isinstance(estimate, dict) else None
    if value is None or not isinstance(ci, list) or len(ci) != 2 or None in (_number(ci[0]), _number(ci[1])):
        return None, _why_missing(check, not_computed)
    units = _get(document, check.units)
    if not isinstance(units, int) or units < MIN_UNITS:
        unit = check.units.rsplit(".", 1)[-1]
        return None, f"{check.units} is {units!r}: a bootstrap bound needs at least {MIN_UNITS} {unit}"
    bound = float(ci[0]) if check.side == "lower" else float(ci[1])
    return {"value": value, "ci95": [float(ci[0]), float(ci[1])], "bound": bound, "units": units}, None


def check_entry(check: Check, document: dict, not_computed: dict[str, str], thresholds: Thresholds) -> dict:
    """The ``gate.checks.<name>`` object: the point value, the CI and the bound compared, the threshold and
    verdict; values are null (and ``reason`` says why) when the check could not be computed."""
    threshold = float(getattr(thresholds, check.threshold))
    measured, reason = _measure(check, document, not_computed)
    entry: dict[str, Any] = {
        "source": check.estimate,
        "bound_side": check.side,
        "comparison": check.comparison,
        "threshold": threshold,
        "parameter": check.parameter,
        "rule": check.rule(threshold),
    }
    if measured is None:
        missing = {"value": None, "ci95": None, "bound": None, "units": None}
        return {**entry, **missing, "computed": False, "passed": False, "reason": reason}
    return {**entry, **measured, "computed": True, "passed": check.passes(measured["bound"], threshold)}


def check_phrase(check: Check, entry: dict) -> str:
    """One check in words: its bound, comparison, threshold and verdict, or why it was not computed."""
    if not entry["computed"]:
        return f"{check.name} NOT COMPUTED ({entry['reason']})"
    verdict = "pass" if entry["passed"] else "FAIL"
    return (
        f"{check.name} {check.side} bound {entry['bound']:.4g} {check.comparison} {entry['threshold']:g} "
        f"(value {entry['value']:.4g}): {verdict}"
    )


def summary_line(checks: dict[str, dict]) -> str:
    """One line naming every check, its bound and threshold, and what is not computed (the failure message)."""
    parts = [check_phrase(check, checks[check.name]) for check in CHECKS]
    computed = sum(checks[c.name]["computed"] for c in CHECKS)
    return f"{computed}/{len(CHECKS)} checks computed; " + "; ".join(parts)


def build_gate(document: dict, not_computed: dict[str, str], thresholds: Thresholds) -> dict:
    """The ``gate`` object of evaluation.json (see the module docstring)."""
    checks = {c.name: check_entry(c, document, not_computed, thresholds) for c in CHECKS}
    computed = all(e["computed"] for e in checks.values())
    return {
        "checks_computed": int(computed),
        **{c.key: checks[c.name]["bound"] for c in CHECKS},
        "passed": computed and all(e["passed"] for e in checks.values()),
        "bound": BOUND,
        "summary": summary_line(checks),
        "checks": checks,
        "not_computed": {name: e["reason"] for name, e in checks.items() if not e["computed"]},
    }


def check_gate(gate: dict) -> None:
    """Raises ValueError unless the gate object keeps its contract: ``checks_computed`` is 1 exactly when every
    bound is a finite number, and an uncomputed bound is null (never a stand-in number)."""
    bounds = {c.key: gate.get(c.key) for c in CHECKS}
    for key, bound in bounds.items():
        if bound is not None and _number(bound) is None:
            raise ValueError(f"gate.{key} is {bound!r}: expected a finite number or null")
    expected = int(all(b is not None for b in bounds.values()))
    if gate.get("checks_computed") != expected:
        raise ValueError(f"gate.checks_computed is {gate.get('checks_computed')!r}, expected {expected} for {bounds}")


# ---- choosing among merge-back candidates (docs/evaluation.md "The gate") ------------------------------------------

#: The selection rule, in words (evaluation.json ``gate.rule``).
SELECTION_RULE = (
    "among the candidates whose every check is computed and passes, the one with the largest lower bound of the "
    "test (PMC) perplexity improvement; a tie goes to the earlier candidate (tuned first). When none passes, the "
    "gate shows the candidate with the most checks passed (then the largest bound, then the earlier) and fails"
)
#: The check whose bound ranks passing candidates.
RANKING_CHECK = CHECKS[0]


def choose(gates: dict[str, dict]) -> tuple[str, bool]:
    """(the chosen candidate's name, whether it passed) for ``gates`` (candidate name → its gate object, in the
    candidates' order, tuned first): :data:`SELECTION_RULE`."""
    if not gates:
        raise ValueError("no candidates to choose from")
    order = list(gates)

    def bound(name: str) -> float:
        value = gates[name][RANKING_CHECK.key]
        return value if value is not None else -math.inf

    passing = [n for n in order if gates[n]["passed"]]
    if passing:
        return max(passing, key=lambda n: (bound(n), -order.index(n))), True

    def closest(name: str) -> tuple[int, float, int]:
        passed = sum(bool(e["passed"]) for e in gates[name]["checks"].values())
        return passed, bound(name), -order.index(name)

    return max(order, key=closest), False


def failing_checks(gate: dict) -> str:
    """The checks of one candidate's gate that did not pass, in words."""
    failed = [check_phrase(c, gate["checks"][c.name]) for c in CHECKS if not gate["checks"][c.name]["passed"]]
    return "; ".join(failed) or "every check passed"


#: CustomerMetadataValue's characters (the SageMaker API model allows these and other letters and digits).
METADATA_VALUE = re.compile(r"[A-Za-z0-9 _.:/=+@-]{1,256}")


def metadata_value(value: Any) -> str:
    """A model package CustomerMetadataProperties value: numbers as ``%.4g``, None as ``not computed``; refuses
    anything outside :data:`METADATA_VALUE` (CreateModelPackage would reject it after the pipeline ran)."""
    if value is None:
        text = "not computed"
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    if not METADATA_VALUE.fullmatch(text):
        raise ValueError(f"model package metadata value {text!r} does not match {METADATA_VALUE.pattern}")
    return text


def chosen_gate(gates: dict[str, dict], models: dict[str, dict]) -> dict:
    """The top-level ``gate``: the chosen candidate's gate object (so the QualityGate reads its bounds) plus
    ``chosen``, ``rule``, ``chosen_model_data`` (``models[name]["model_data"]``, what Register registers),
    ``metadata`` (the model package's CustomerMetadataProperties values), ``candidate_order`` and ``candidates``
    (each one's verdict).
    When none passes, ``summary`` names every candidate's failing checks (the QualityGateFailed message)."""
    name, passed = choose(gates)
    gate = dict(gates[name])
    if len(gates) == 1:
        pass  # the tuned model alone: its own summary, as before merge-back candidates existed
    elif passed:
        gate["summary"] = f"chosen {name} of {len(gates)} candidates: {gate['summary']}"
    else:
        gate["summary"] = f"no candidate passed (showing {name}): " + " | ".join(
            f"{n}: {failing_checks(g)}" for n, g in gates.items()
        )
    model = models[name]
    gate["chosen"] = name
    gate["rule"] = SELECTION_RULE
    gate["chosen_model_data"] = model["model_data"]
    gate["metadata"] = {
        "candidate": metadata_value(name),
        "method": metadata_value(model.get("spec") or name),
        **{c.key: metadata_value(gate[c.key]) for c in CHECKS},
        "candidates_evaluated": metadata_value(names if len(names := " ".join(gates)) <= 256 else len(gates)),
    }
    gate["candidate_order"] = list(gates)  # JSON objects are written with sorted keys; ties follow this order
    gate["candidates"] = {
        n: {"passed": g["passed"], "checks_computed": g["checks_computed"], **{c.key: g[c.key] for c in CHECKS}}
        for n, g in gates.items()
    }
    return gate
