"""SIGTERM is a save, not a loss.

SageMaker stops a Training job (MaxRuntime, a spot interruption, a user's stop) by sending SIGTERM to the
container's first process and SIGKILL 120 s later. In the Hugging Face training image that first process is a
shell running the training toolkit, which does not pass the signal on to the program (sagemaker-training-toolkit
issues #125 and #173, deep-learning-containers #632), so the Train step starts its container through a small relay
(``RELAY_ENTRYPOINT``, pipeline-steps/definition.ts) that does: each training process writes its PID under
``$MEDLLAMA_STOP_PIDS`` when it starts, and the relay forwards SIGTERM to those PIDs. On the signal the loop
finishes (or, alone, abandons) the current step, writes a checkpoint and saves a usable model within the grace
period; ``training_summary.json`` says it stopped early and why.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

# SageMaker's grace between SIGTERM and SIGKILL (StopTrainingJob and MaxRuntime both).
GRACE_SECONDS = 120
PIDS_ENV = "MEDLLAMA_STOP_PIDS"


class StopRequest:
    """Records a SIGTERM (the handler only sets a flag; the loop acts at a safe point)."""

    def __init__(self) -> None:
        self.received_at: float | None = None
        self._previous = None

    def install(self) -> StopRequest:
        """Handles SIGTERM in this process and registers its PID for the relay (when the relay runs it)."""
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        folder = os.environ.get(PIDS_ENV)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / f"{os.getpid()}.pid").write_text(f"{os.getpid()}\n")
        return self

    def uninstall(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
        folder = os.environ.get(PIDS_ENV)
        if folder:
            (Path(folder) / f"{os.getpid()}.pid").unlink(missing_ok=True)

    def _handle(self, signum: int, frame: object) -> None:
        if self.received_at is None:
            self.received_at = time.monotonic()

    @property
    def requested(self) -> bool:
        return self.received_at is not None

    def seconds_left(self) -> float:
        """Of the grace period (the full period when no signal came)."""
        if self.received_at is None:
            return float(GRACE_SECONDS)
        return GRACE_SECONDS - (time.monotonic() - self.received_at)


def merge_fits(n_params: int, seconds_left: float, bytes_per_second: float = 200e6, safety: float = 20.0) -> bool:
    """Whether merging LoRA into the base and writing it (bf16, 2 bytes a parameter) fits what is left of the grace
    period, at a conservative disk rate; the adapter alone is written either way."""
    return n_params * 2 / bytes_per_second + safety < seconds_left
