"""GPU steps fail fast: on a GPU instance without CUDA, Train and Evaluate stop at once with a clear error instead of
running a 7B model on the CPU for days; the local runner's host (SageMaker local mode's `local`) is no GPU instance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medllama.sagemaker_env import Host, current_host, require_cuda_on_gpu_host


@pytest.mark.parametrize(
    ("instance_type", "gpus"),
    [("ml.g5.12xlarge", True), ("ml.g6e.2xlarge", True), ("ml.p4d.24xlarge", True), ("ml.p5.48xlarge", True),
     ("ml.g4dn.xlarge", True), ("ml.m5.4xlarge", False), ("ml.c5.4xlarge", False), ("ml.r5.4xlarge", False),
     ("ml.trn1.32xlarge", False), ("local", False), ("unknown", False)],
)  # fmt: skip
def test_gpu_instance_types(instance_type: str, gpus: bool) -> None:
    assert Host(instance_type).has_gpus is gpus
    assert Host(instance_type, num_gpus=4).has_gpus  # SM_NUM_GPUS decides too


def test_the_host_as_each_job_kind_describes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SM_CURRENT_INSTANCE_TYPE", "SM_NUM_GPUS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEDLLAMA_OPT_ML", str(tmp_path))
    assert current_host() == Host("unknown")
    (tmp_path / "config").mkdir()
    job = {"ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.g5.2xlarge"}}}
    (tmp_path / "config" / "processingjobconfig.json").write_text(json.dumps(job))
    assert current_host() == Host("ml.g5.2xlarge")
    (tmp_path / "input" / "config").mkdir(parents=True)
    (tmp_path / "input" / "config" / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "current_instance_type": "ml.p4d.24xlarge"})
    )
    assert current_host() == Host("ml.p4d.24xlarge")
    monkeypatch.setenv("SM_CURRENT_INSTANCE_TYPE", "ml.g5.12xlarge")
    monkeypatch.setenv("SM_NUM_GPUS", "4")
    assert current_host() == Host("ml.g5.12xlarge", 4)


def test_require_cuda_names_the_instance() -> None:
    require_cuda_on_gpu_host(False, "x", Host("local"))
    require_cuda_on_gpu_host(True, "x", Host("ml.g5.2xlarge"))
    with pytest.raises(RuntimeError, match=r"x: this is a GPU instance \(ml\.g5\.12xlarge, SM_NUM_GPUS=4\)"):
        require_cuda_on_gpu_host(False, "x", Host("ml.g5.12xlarge", 4))


def test_evaluate_auto_device_refuses_cpu_on_a_gpu_instance() -> None:
    import torch

    from medllama.evaluate.runner import EvaluationError, resolve_device

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert resolve_device("auto", Host("local")) == "cpu"
    assert resolve_device("cpu", Host("ml.g5.2xlarge")) == "cpu"  # asked for explicitly
    with pytest.raises(EvaluationError, match="GPU instance"):
        resolve_device("auto", Host("ml.g5.2xlarge"))


def test_train_exits_before_loading_anything_on_a_gpu_instance_without_cuda(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    from medllama.train import main

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("SM_CURRENT_INSTANCE_TYPE", "ml.g5.12xlarge")
    monkeypatch.setenv("SM_NUM_GPUS", "4")
    missing = tmp_path / "nothing-here"
    args = ["--train_dir", str(missing), "--validation_dir", str(missing), "--base_model_dir", str(missing)]
    assert main([*args, "--model_dir", str(tmp_path / "m"), "--output_data_dir", str(tmp_path / "d")]) == 2
    assert "GPU instance (ml.g5.12xlarge, SM_NUM_GPUS=4)" in caplog.text
    assert "does not exist" not in caplog.text  # it stopped before looking at the data
