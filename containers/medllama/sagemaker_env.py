"""What a step needs to know about the SageMaker container it runs in (or pretends to, locally).

Processing jobs describe the cluster in ``/opt/ml/config/resourceconfig.json``
(``{"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}``); training jobs in ``SM_CURRENT_HOST`` /
``SM_HOSTS`` and ``/opt/ml/input/config/resourceconfig.json``. The local runner writes the same files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


def opt_ml(*parts: str) -> str:
    """A path under SageMaker's ``/opt/ml``. The local runner sets ``MEDLLAMA_OPT_ML`` to a step's sandbox
    folder, so every default path of every step resolves there instead; on SageMaker it is unset."""
    return str(Path(os.environ.get("MEDLLAMA_OPT_ML", "/opt/ml"), *parts))


PROCESSING_RESOURCE_CONFIG = "config/resourceconfig.json"
TRAINING_RESOURCE_CONFIG = "input/config/resourceconfig.json"


@dataclass(frozen=True)
class Shard:
    """This instance's share of the work: items whose index ``i`` satisfies ``i % count == index``."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard index must be in [0, {self.count}), got {self.index} of {self.count}")

    def owns(self, position: int) -> bool:
        return position % self.count == self.index

    @property
    def suffix(self) -> str:
        """A file-name part that sorts in shard order, e.g. ``00001-of-00004``."""
        return f"{self.index:05d}-of-{self.count:05d}"


def shard_from_resource_config(path: str | os.PathLike[str] | None = None) -> Shard:
    """The shard of this host from a SageMaker resource config; one shard when there is none.

    Hosts are ordered as SageMaker lists them (``algo-1``, ``algo-2``, …), which is stable for a job.
    """
    candidates = (
        [Path(path)] if path else [Path(opt_ml(PROCESSING_RESOURCE_CONFIG)), Path(opt_ml(TRAINING_RESOURCE_CONFIG))]
    )
    for candidate in candidates:
        if candidate.is_file():
            data = json.loads(candidate.read_text(encoding="utf-8"))
            hosts = list(data.get("hosts") or [])
            current = data.get("current_host")
            if not hosts or current not in hosts:
                raise ValueError(f"{candidate}: current_host {current!r} is not in hosts {hosts!r}")
            return Shard(index=hosts.index(current), count=len(hosts))
    return Shard()


def resolve_shard(shard_index: int | None, shard_count: int | None, resource_config: str | None = None) -> Shard:
    """Explicit flags win; otherwise the resource config decides."""
    if shard_index is None and shard_count is None:
        return shard_from_resource_config(resource_config)
    if shard_index is None or shard_count is None:
        raise ValueError("give both --shard_index and --shard_count, or neither")
    return Shard(index=shard_index, count=shard_count)


def sm_env(name: str, default: str) -> str:
    """An ``SM_*`` environment value with a default, read when the config is built (inside ``main``)."""
    return os.environ.get(name, default)
