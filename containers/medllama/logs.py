"""Logging for container steps: one line per event on stdout (CloudWatch keeps each line).

``Progress`` prints counts and rates every N items and at the end; ``metric`` prints the one fixed
format that the pipeline's MetricDefinitions regexes match (see medllama/metrics.py for the format).
"""

from __future__ import annotations

import logging
import sys
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(name: str, level: int = logging.INFO) -> logging.Logger:
    root = logging.getLogger()
    if not any(getattr(h, "_medllama", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._medllama = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    return logging.getLogger(name)


class Progress:
    """Logs ``<what>: <n> done (<rate>/s)`` plus extra counters every ``every`` items and on ``close``."""

    def __init__(self, log: logging.Logger, what: str, every: int = 1000, total: int | None = None) -> None:
        self.log, self.what, self.every, self.total = log, what, max(1, every), total
        self.count = 0
        self.start = time.monotonic()

    def update(self, n: int = 1, **counters: int | float) -> None:
        before = self.count // self.every
        self.count += n
        if self.count // self.every != before:
            self._emit(counters)

    def close(self, **counters: int | float) -> None:
        self._emit(counters, final=True)

    def _emit(self, counters: dict[str, int | float], final: bool = False) -> None:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        of = f"/{self.total}" if self.total is not None else ""
        extra = "".join(f" {k}={v}" for k, v in counters.items())
        label = "finished" if final else "progress"
        self.log.info(f"{label} {self.what}: {self.count}{of} in {elapsed:.1f}s ({self.count / elapsed:.1f}/s){extra}")
