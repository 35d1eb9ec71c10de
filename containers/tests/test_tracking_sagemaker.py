"""medllama.tracking through the hop it makes on AWS.

A job's ``MLFLOW_TRACKING_URI`` is the MLflow App's ARN. The ``sagemaker-mlflow`` plugin (the pinned one the jobs
install) turns it into SigV4-signed REST calls to SageMaker's MLflow endpoint; the App stores runs and keeps
artifacts in S3, which the client writes itself with the job's credentials. Here the same plugin signs the same
calls, MLflow's own tracking server (its REST handlers, over a file store) answers them — the plugin's
``SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT`` points it there — and the artifact store is a bucket of a moto server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from medllama.tracking import Tracker
from medllama.tracking import main as tracking_main

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("sagemaker_mlflow")
pytest.importorskip("sqlalchemy", reason="MLflow's tracking server needs sqlalchemy and alembic (requirements-dev)")

APP_ARN = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-TESTAPP0001"
ACTIONS = Path(__file__).parents[1] / "medllama" / "mlflow_actions.json"
BUCKET = "medllama-mlflow-hop"


class App:
    """The stand-in App: its endpoint, and the requests it got (method, path, Authorization header)."""

    def __init__(self, endpoint: str, request_log: Path) -> None:
        self.endpoint, self.request_log = endpoint, request_log

    @property
    def requests(self) -> list[tuple[str, str, str]]:
        lines = self.request_log.read_text(encoding="utf-8").splitlines() if self.request_log.exists() else []
        return [tuple(json.loads(line)) for line in lines]

    def clear(self) -> None:
        self.request_log.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def mlflow_app(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """MLflow's tracking server on 127.0.0.1 (a process of its own, mlflow_app_server.py): runs in a file store,
    artifacts in a bucket of the moto server."""
    import boto3

    boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="t"
    ).create_bucket(Bucket=BUCKET)
    work = tmp_path_factory.mktemp("mlflow-app")
    server = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("mlflow_app_server.py")),
            str(work),
            f"s3://{BUCKET}/mlflow",
            str(work / "requests.jsonl"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline() if server.stdout else ""
        if not line.startswith("PORT "):
            pytest.fail(f"the MLflow server did not start (said {line!r}, exit {server.poll()})")
        yield App(f"http://127.0.0.1:{int(line.split()[1])}", work / "requests.jsonl")
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def on_aws(mlflow_app: App, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> App:
    """A job's environment: the App ARN as tracking URI, credentials from the default chain, S3 reachable."""
    monkeypatch.setenv("SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT", mlflow_app.endpoint)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MEDLLAMA_OPT_ML", str(tmp_path / "opt_ml"))
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    mlflow_app.clear()
    return mlflow_app


def _api_names(requests: list[tuple[str, str, str]]) -> set[str]:
    """The MLflow API name of each REST call (the IAM action name under sagemaker-mlflow), from MLflow's own table."""
    from mlflow.protos.service_pb2 import MlflowService
    from mlflow.utils.rest_utils import _REST_API_PATH_PREFIX, extract_api_info_for_service

    by_call = {}
    for request, endpoints in extract_api_info_for_service(MlflowService, _REST_API_PATH_PREFIX).items():
        for endpoint, method in endpoints if isinstance(endpoints, list) else [endpoints]:
            by_call[(method, endpoint)] = request.__name__
    names = set()
    for method, path, _ in requests:
        if path.startswith("/api/"):
            assert (method, path) in by_call, f"{method} {path} is not an MLflow tracking API call"
            names.add(by_call[(method, path)])
    return names


def _assert_granted(requests: list[tuple[str, str, str]]) -> None:
    """Every call the tracker made is in the list the execution role is granted (a missing one turns tracking off
    on AWS with AccessDenied, silently for the pipeline)."""
    granted = set(json.loads(ACTIONS.read_text(encoding="utf-8"))["tracker"])
    assert _api_names(requests) <= granted, sorted(_api_names(requests) - granted)


def _client():
    return mlflow.MlflowClient(tracking_uri=APP_ARN)


def _runs(experiment: str):
    client = _client()
    found = client.get_experiment_by_name(experiment)
    return client, (client.search_runs([found.experiment_id]) if found else [])


def _s3_keys(s3_endpoint: str, prefix: str) -> list[str]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def test_a_step_logs_through_the_app_arn_signed_with_sigv4(on_aws: App, s3_endpoint: str, tmp_path: Path):
    summary = tmp_path / "training_summary.json"
    summary.write_text(json.dumps({"mfu": 0.41}))
    env = {"MLFLOW_TRACKING_URI": APP_ARN, "MLFLOW_EXPERIMENT_NAME": "medllama-hop", "MEDLLAMA_MLFLOW_RUN_NAME": "e1"}
    train = Tracker.from_env("train", env)
    train.log_params({"learning_rate": 2e-4})
    train.log_metrics({"train_loss": 2.5}, step=10)
    train.log_artifacts([summary])
    train.finish()
    assert train.enabled, "tracking turned itself off: the hop failed (see the warning above)"
    _assert_granted(on_aws.requests)

    client, runs = _runs("medllama-hop")
    assert [r.info.run_name for r in runs] == ["e1"]
    run = runs[0]
    assert run.data.params == {"train.learning_rate": "0.0002"}
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "train_loss")] == [(10, 2.5)]
    # the artifact went to the App's artifact store (S3) under the run, written by the client itself
    assert run.info.artifact_uri.startswith(f"s3://{BUCKET}/mlflow/")
    keys = _s3_keys(s3_endpoint, "mlflow/")
    assert any(k.endswith(f"{run.info.run_id}/artifacts/train/training_summary.json") for k in keys), keys
    # every REST call carried a SigV4 signature (signing name "sagemaker", the ARN's region) that covers the header
    # naming the App, which is how SageMaker's endpoint routes the call
    api = [(m, p, a) for m, p, a in on_aws.requests if p.startswith("/api/")]
    assert api, "no REST call reached the server"
    for method, path, auth in api:
        assert auth.startswith("AWS4-HMAC-SHA256 Credential=testing/"), (method, path, auth)
        assert "/us-east-1/sagemaker/aws4_request" in auth, (method, path, auth)
        assert "x-sm-mlflow-app-arn" in auth.split("SignedHeaders=")[1].split(",")[0], (method, path, auth)


def test_tuning_trials_get_runs_of_their_own_under_the_execution_run(on_aws: App):
    env = {
        "MLFLOW_TRACKING_URI": APP_ARN,
        "MLFLOW_EXPERIMENT_NAME": "medllama-trials",
        "MEDLLAMA_MLFLOW_PARENT_RUN_NAME": "exec-7",
    }
    for n, loss in [(1, 2.0), (2, 1.5)]:
        trial = Tracker.from_env("train", {**env, "TRAINING_JOB_NAME": f"medllama-tune-00{n}-abcd1234"})
        trial.log_params({"learning_rate": 1e-4 * n})
        trial.log_metrics({"eval_loss": loss}, step=5)
        trial.finish()
        assert trial.enabled
    # Evaluate of the same execution logs to the execution's run, the trials' parent
    evaluate = Tracker.from_env("evaluate", {**env, "MEDLLAMA_MLFLOW_RUN_NAME": "exec-7"})
    evaluate.log_metrics({"evaluate.metrics.perplexity_tuned": 9.0})
    evaluate.finish()
    _assert_granted(on_aws.requests)

    _, runs = _runs("medllama-trials")
    by_name = {r.info.run_name: r for r in runs}
    assert sorted(by_name) == ["exec-7", "medllama-tune-001-abcd1234", "medllama-tune-002-abcd1234"]
    parent = by_name["exec-7"].info.run_id
    for name in ("medllama-tune-001-abcd1234", "medllama-tune-002-abcd1234"):
        assert by_name[name].data.tags["mlflow.parentRunId"] == parent
    assert by_name["medllama-tune-002-abcd1234"].data.params == {"train.learning_rate": "0.0002"}
    assert by_name["exec-7"].data.metrics == {"evaluate.metrics.perplexity_tuned": 9.0}


def test_parallel_trials_settle_on_one_parent_run(on_aws: App, monkeypatch: pytest.MonkeyPatch):
    # Two trials start together and neither finds the execution's run: both create one. The oldest wins, the
    # loser deletes its own, and the second trial nests under the first one's parent.
    import mlflow.tracking.client as client_module

    env = {
        "MLFLOW_TRACKING_URI": APP_ARN,
        "MLFLOW_EXPERIMENT_NAME": "medllama-race",
        "MEDLLAMA_MLFLOW_PARENT_RUN_NAME": "exec-9",
    }
    first = Tracker.from_env("train", {**env, "TRAINING_JOB_NAME": "tune-001"})
    first.log_metrics({"eval_loss": 2.0})
    # the second trial looked before the first created the parent, so its first lookup finds none
    real_search = client_module.MlflowClient.search_runs
    lookups = []

    def search_runs(self, experiment_ids, filter_string="", *args, **kwargs):
        lookups.append(filter_string)
        if len(lookups) == 1 and "exec-9" in filter_string:
            return []
        return real_search(self, experiment_ids, filter_string, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(client_module.MlflowClient, "search_runs", search_runs)
        second = Tracker.from_env("train", {**env, "TRAINING_JOB_NAME": "tune-002"})
        second.log_metrics({"eval_loss": 1.0})
    assert first.enabled and second.enabled
    assert ("POST", "/api/2.0/mlflow/runs/delete") in [(m, p) for m, p, _ in on_aws.requests]

    _, runs = _runs("medllama-race")
    parents = [r for r in runs if r.info.run_name == "exec-9"]
    assert len(parents) == 1, "the losing parent run was not deleted"
    children = {r.info.run_name: r.data.tags.get("mlflow.parentRunId") for r in runs if r.info.run_name != "exec-9"}
    assert children == {"tune-001": parents[0].info.run_id, "tune-002": parents[0].info.run_id}
    _assert_granted(on_aws.requests)


def test_the_report_command_logs_to_the_execution_run_through_the_arn(on_aws: App, tmp_path: Path):
    # what `medllama report --execution` runs after fetching an AWS execution (lib/report/mlflow.ts)
    Tracker.from_env(
        "train",
        {"MLFLOW_TRACKING_URI": APP_ARN, "MLFLOW_EXPERIMENT_NAME": "medllama-rep", "MEDLLAMA_MLFLOW_RUN_NAME": "x9"},
    ).log_metrics({"train_loss": 1.0})
    report = tmp_path / "report.md"
    report.write_text("# report\n")
    rc = tracking_main(
        [
            "--tracking_uri",
            APP_ARN,
            "--experiment",
            "medllama-rep",
            "--run_name",
            "x9",
            "--folder",
            "report",
            str(report),
        ]
    )
    assert rc == 0
    client, runs = _runs("medllama-rep")
    assert [r.info.run_name for r in runs] == ["x9"]
    assert [a.path for a in client.list_artifacts(runs[0].info.run_id, "report")] == ["report/report.md"]


def test_denied_by_the_app_warns_once_and_the_step_goes_on(
    on_aws: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    # a job without a route to the endpoint (a VPC without egress): the first call fails, tracking turns off
    monkeypatch.setenv("SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    env = {"MLFLOW_TRACKING_URI": APP_ARN, "MLFLOW_EXPERIMENT_NAME": "medllama-off", "MEDLLAMA_MLFLOW_RUN_NAME": "e"}
    tracker = Tracker.from_env("train", env)
    with caplog.at_level("WARNING", logger="medllama.tracking"):
        tracker.log_metrics({"train_loss": 1.0})
        tracker.log_metrics({"train_loss": 0.5})
    assert not tracker.enabled
    assert len([r for r in caplog.records if "tracking off" in r.getMessage()]) == 1
