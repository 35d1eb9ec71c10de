"""What a step needs to know about the SageMaker container it runs in (or pretends to, locally).

Processing jobs describe the cluster in ``/opt/ml/config/resourceconfig.json``
(``{"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}``); training jobs in ``SM_CURRENT_HOST`` /
``SM_HOSTS`` and ``/opt/ml/input/config/resourceconfig.json``. The local runner writes the same files.
"""

from __future__ import annotations

import json
import os
import re
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


PROCESSING_JOB_CONFIG = "config/processingjobconfig.json"
# GPU instance families (ml.g4dn, g5, g6, g6e, p3, p4d, p5, …); Trainium/Inferentia (trn, inf) are not CUDA devices.
_GPU_INSTANCE = re.compile(r"^ml\.[gp]\d")


@dataclass(frozen=True)
class Host:
    """The instance a step runs on, as SageMaker describes it to the container. ``instance_type`` is what the job
    asked for (``ml.g5.12xlarge``), or ``local`` (SageMaker local mode's name, which the local runner uses: the
    laptop is no GPU instance); ``num_gpus`` is ``SM_NUM_GPUS`` when the training toolkit set it."""

    instance_type: str
    num_gpus: int | None = None

    @property
    def has_gpus(self) -> bool:
        """Whether the instance comes with NVIDIA GPUs, so a step must find CUDA there."""
        return bool(self.num_gpus) or bool(_GPU_INSTANCE.match(self.instance_type))


def current_host() -> Host:
    """This container's instance: ``SM_CURRENT_INSTANCE_TYPE`` / ``SM_NUM_GPUS`` (training toolkit), else the
    training resource config, else the processing job config (``ProcessingResources.ClusterConfig``); ``unknown``
    outside SageMaker."""
    gpus = os.environ.get("SM_NUM_GPUS")
    num_gpus = int(gpus) if gpus and gpus.isdigit() else None
    if os.environ.get("SM_CURRENT_INSTANCE_TYPE"):
        return Host(os.environ["SM_CURRENT_INSTANCE_TYPE"], num_gpus)
    training = Path(opt_ml(TRAINING_RESOURCE_CONFIG))
    if training.is_file():
        kind = json.loads(training.read_text(encoding="utf-8")).get("current_instance_type")
        if isinstance(kind, str) and kind:
            return Host(kind, num_gpus)
    processing = Path(opt_ml(PROCESSING_JOB_CONFIG))
    if processing.is_file():
        job = json.loads(processing.read_text(encoding="utf-8"))
        kind = (((job.get("ProcessingResources") or {}).get("ClusterConfig")) or {}).get("InstanceType")
        if isinstance(kind, str) and kind:
            return Host(kind, num_gpus)
    return Host("unknown", num_gpus)


def require_cuda_on_gpu_host(cuda_available: bool, step: str, host: Host | None = None) -> None:
    """Raises RuntimeError when this is a GPU instance but PyTorch sees no CUDA device: running a 7B model on the
    CPU instead would take days (a driver/image mismatch, or an image without CUDA, is the usual cause)."""
    host = host or current_host()
    if host.has_gpus and not cuda_available:
        gpus = f", SM_NUM_GPUS={host.num_gpus}" if host.num_gpus is not None else ""
        raise RuntimeError(
            f"{step}: this is a GPU instance ({host.instance_type}{gpus}) but PyTorch finds no CUDA device; "
            "refusing to run on the CPU. Check that the image's CUDA matches the host driver (the training image is "
            "cu130: see docs/aws-runtime.md), or choose a CPU instance type on purpose."
        )
