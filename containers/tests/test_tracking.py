"""medllama.tracking against a real MLflow file store, read back with MLflow's own client; and the no-op path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medllama import tracking
from medllama.tracking import Tracker, flatten_numbers, log_step_reports

mlflow = pytest.importorskip("mlflow")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    # MLflow 3.7+ refuses the file store unless this opts in (the local runner sets it; docs/tracking.md).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MEDLLAMA_OPT_ML", str(tmp_path / "opt_ml"))
    return (tmp_path / "mlruns").as_uri()


def env(uri: str, run: str | None = "exec-1") -> dict[str, str]:
    out = {"MLFLOW_TRACKING_URI": uri, "MLFLOW_EXPERIMENT_NAME": "MedLlama-test"}
    if run:
        out["MEDLLAMA_MLFLOW_RUN_NAME"] = run
    return out


def only_run(uri: str):
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("MedLlama-test")
    runs = client.search_runs([experiment.experiment_id])
    return client, runs


def test_params_metrics_with_steps_and_artifacts_read_back(store: str, tmp_path: Path) -> None:
    summary = tmp_path / "training_summary.json"
    summary.write_text(json.dumps({"tokens_per_second": 12.5}))
    train = Tracker.from_env("train", env(store))
    train.log_params({"learning_rate": 2e-4, "method": "lora", "skipped": None})
    for step, loss in [(1, 3.0), (2, 2.5), (3, float("nan")), (4, 2.0)]:
        train.log_metrics({"train_loss": loss, "mfu": 0.4}, step=step)
    train.log_artifacts([summary, tmp_path / "missing.json"])
    train.finish()
    # Evaluate, a later process of the same execution, finds the run by its name.
    evaluate = Tracker.from_env("evaluate", env(store))
    evaluate.log_metrics({"evaluate.perplexity_tuned": 9.5})
    evaluate.finish()

    client, runs = only_run(store)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_name == "exec-1" and run.info.status == "FINISHED"
    assert run.data.params == {"train.learning_rate": "0.0002", "train.method": "lora"}
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert [(m.step, m.value) for m in history] == [(1, 3.0), (2, 2.5), (4, 2.0)]
    assert run.data.metrics["evaluate.perplexity_tuned"] == 9.5
    assert [a.path for a in client.list_artifacts(run.info.run_id, "train")] == ["train/training_summary.json"]


def test_data_step_logs_report_numbers_to_a_run_named_after_its_job(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env(store, run=None).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MEDLLAMA_MLFLOW_RUN_NAME", raising=False)
    config = tmp_path / "opt_ml" / "config"
    config.mkdir(parents=True)
    (config / "processingjobconfig.json").write_text(json.dumps({"ProcessingJobName": "pipelines-abc-Dedup"}))
    out = tmp_path / "out"
    out.mkdir()
    (out / "dedup-report.json").write_text(json.dumps({"kept": 30, "duplicates": {"total": 7}, "ok": True}))
    log_step_reports("dedup", out, "dedup-report*.json")
    client, runs = only_run(store)
    (run,) = runs
    assert run.info.run_name == "pipelines-abc-Dedup"
    assert run.data.tags[tracking.STEP_TAG] == "dedup"
    assert run.data.metrics == {"dedup.kept": 30.0, "dedup.duplicates.total": 7.0}
    assert [a.path for a in client.list_artifacts(run.info.run_id, "dedup")] == ["dedup/dedup-report.json"]


def test_without_a_tracking_uri_nothing_happens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    tracker = Tracker.from_env("train", {})
    assert not tracker.enabled
    tracker.log_params({"a": 1})
    tracker.log_metrics({"loss": 1.0}, step=1)
    tracker.finish()
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_store_warns_once_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    tracker = Tracker.from_env("train", env("unknown-scheme://nowhere"))
    with caplog.at_level("WARNING", logger="medllama.tracking"):
        tracker.log_params({"a": 1})
        tracker.log_metrics({"loss": 1.0}, step=1)
        tracker.finish()
    assert not tracker.enabled
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 1


def test_flatten_numbers_keeps_finite_numbers_only() -> None:
    report = {"a": 1, "b": {"c": 2.5, "d": float("inf"), "e": [1]}, "f": True, "g": "x", "h (x)": 3}
    assert flatten_numbers(report) == {"a": 1.0, "b.c": 2.5, "h _x_": 3.0}


def test_evaluate_logs_its_numbers_config_and_files_to_the_execution_run(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env(store).items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "evaluation"
    out.mkdir()
    document = {
        "config": {"seq_len": 64},
        "metrics": {"test_perplexity": {"base": 12.0, "tuned": 9.0}},
        "gate": {"checks_computed": 1, "summary": "all passed"},
    }
    (out / "evaluation.json").write_text(json.dumps(document))
    (out / "qualitative.jsonl").write_text("{}\n")
    tracking.log_evaluation(out)
    client, (run,) = only_run(store)
    assert run.info.run_name == "exec-1"
    assert run.data.params == {"evaluate.seq_len": "64"}
    assert run.data.metrics == {
        "evaluate.metrics.test_perplexity.base": 12.0,
        "evaluate.metrics.test_perplexity.tuned": 9.0,
        "evaluate.gate.checks_computed": 1.0,
    }
    paths = [a.path for a in client.list_artifacts(run.info.run_id, "evaluate")]
    assert paths == ["evaluate/evaluation.json", "evaluate/qualitative.jsonl"]


def test_the_command_logs_files_to_the_named_run(store: str, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text("<html></html>")
    assert (
        tracking.main(["--tracking_uri", store, "--experiment", "MedLlama-test", "--run_name", "exec-1", str(report)])
        == 0
    )
    client, (run,) = only_run(store)
    assert run.info.run_name == "exec-1"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "report")] == ["report/report.html"]
