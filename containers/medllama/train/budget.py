"""How long the run may be: steps from a token budget, and the projected finish against the job's MaxRuntime.

SageMaker stops a Training job at ``MaxRuntimeInSeconds`` (SIGTERM, then SIGKILL 120 s later), and a stopped job
fails its pipeline step, so the step plans to finish well before it: after a few steps it measures its own pace,
projects the finish (the remaining steps, their periodic evaluations, then the final evaluation and saving, which
``runtime_margin_seconds`` covers) and either caps the steps so the run ends in time, with the learning-rate
schedule recomputed over the steps that will run, or fails at once, before the money is spent
(``--on_overrun``). docs/training.md "Run budget" has the arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


def planned_steps(max_steps: int, max_tokens: int, tokens_per_step: int, epochs_steps: int) -> tuple[int, str]:
    """Optimizer steps of the run and what decided them: ``max_steps`` > 0, else ``max_tokens`` > 0, else the
    epochs (``epochs_steps``, already computed from num_train_epochs)."""
    if max_steps > 0:
        return max_steps, "max_steps"
    if max_tokens > 0:
        return max(1, math.ceil(max_tokens / tokens_per_step)), "max_tokens"
    return epochs_steps, "num_train_epochs"


class OverrunError(RuntimeError):
    """The projected finish is past the job's limit and the run is configured to fail rather than cap."""


@dataclass
class Projection:
    """The run's pace after ``done`` steps and what it implies."""

    done: int
    total: int
    seconds_per_step: float
    elapsed: float
    projected_total_seconds: float
    limit_seconds: float | None
    capped_to: int | None = None

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def describe(self) -> str:
        hours = self.projected_total_seconds / 3600
        limit = f" (limit {self.limit_seconds / 3600:.2f} h)" if self.limit_seconds else ""
        text = f"{self.seconds_per_step:.3g} s/step: {self.total} steps end after {hours:.2f} h{limit}"
        return text + (f"; capped to {self.capped_to} steps" if self.capped_to is not None else "")


class Pace:
    """Seconds per optimizer step, measured from the end of the run's first step (which warms up: allocations,
    kernel selection) to the latest one. ``mark(step, now)`` is called after every step."""

    def __init__(self, first_step: int) -> None:
        self.first_step = first_step
        self.since: tuple[int, float] | None = None
        self.last: tuple[int, float] | None = None

    def mark(self, step: int, now: float) -> None:
        if self.since is None and step > self.first_step:
            self.since = (step, now)
        self.last = (step, now)

    def seconds_per_step(self) -> float:
        """Average over the steps since the warm-up one; 0.0 until two steps have been marked."""
        if self.since is None or self.last is None or self.last[0] <= self.since[0]:
            return 0.0
        return (self.last[1] - self.since[1]) / (self.last[0] - self.since[0])


def project(
    *,
    done: int,
    total: int,
    seconds_per_step: float,
    elapsed: float,
    eval_overhead: float,
    max_runtime_seconds: int,
    margin_seconds: int,
    on_overrun: str,
) -> Projection:
    """The finish of ``total`` steps at the measured pace (``eval_overhead``: the periodic evaluations' share on top
    of training time). When it is later than ``max_runtime_seconds - margin_seconds``: ``cap`` returns the largest
    step count that fits (at least ``done + 1``), ``fail`` raises :class:`OverrunError`. ``max_runtime_seconds`` 0
    means no limit."""
    per_step = seconds_per_step * (1.0 + eval_overhead)
    projected = elapsed + (total - done) * per_step + margin_seconds
    limit = float(max_runtime_seconds) if max_runtime_seconds > 0 else None
    p = Projection(done, total, seconds_per_step, elapsed, projected, limit)
    if limit is None or projected <= limit:
        return p
    if on_overrun == "fail":
        raise OverrunError(
            f"{total} steps at {seconds_per_step:.3g} s/step end after {projected / 3600:.2f} h, past the job's "
            f"MaxRuntime of {limit / 3600:.2f} h less the {margin_seconds} s margin: lower TrainTokens (or MaxSteps), "
            "choose a faster instance, or raise the limit"
        )
    room = limit - margin_seconds - elapsed
    p.capped_to = max(done + 1, done + math.floor(room / per_step))
    return p
