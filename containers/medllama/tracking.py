"""Experiment tracking in MLflow: what every step logs, and nothing at all when tracking is not configured.

The pipeline definition gives each container step MLflow's own environment variables (docs/tracking.md):

- ``MLFLOW_TRACKING_URI``: the SageMaker MLflow App (or tracking server) ARN on AWS, which the
  ``sagemaker-mlflow`` plugin turns into signed REST calls; a ``file:`` store under the run folder locally (the
  local runner maps the ARN). Unset: every call here does nothing.
- ``MLFLOW_EXPERIMENT_NAME``: the pipeline's name.
- ``MEDLLAMA_MLFLOW_RUN_NAME``: the pipeline execution id, for Train and Evaluate, which log to the one run of the
  execution (the run SageMaker creates for Train's ``MlflowConfig`` has that name, so finding the run by name finds
  it). The cached data steps get no execution id (it would change their cache key every execution): each logs to a
  run named after its own job (``/opt/ml/config/processingjobconfig.json``), tagged with the step.
- ``MEDLLAMA_MLFLOW_PARENT_RUN_NAME``: the execution id, for the trials of a tuning step instead of the run name:
  each trial logs to a run of its own, named after its training job (``TRAINING_JOB_NAME``, which SageMaker sets in
  every training container), nested under the execution's run (MLflow's ``mlflow.parentRunId`` tag), so the UI shows
  the trials side by side under the execution.

Tracking never fails a step: the first error (no plugin, no network, no permission) is logged once as a warning and
tracking stops for the rest of the process.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from medllama.sagemaker_env import opt_ml, shard_from_resource_config

log = logging.getLogger("medllama.tracking")

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
RUN_NAME_ENV = "MEDLLAMA_MLFLOW_RUN_NAME"
PARENT_RUN_NAME_ENV = "MEDLLAMA_MLFLOW_PARENT_RUN_NAME"
# What SageMaker sets in a training container: the job's own name (a tuning trial's is the tuning job's name, its
# trial number and a suffix).
TRAINING_JOB_NAME_ENV = "TRAINING_JOB_NAME"
PARENT_RUN_TAG = "mlflow.parentRunId"
DEFAULT_EXPERIMENT = "MedLlama"
STEP_TAG = "medllama.step"
# MLflow's own limit is 6000 characters; a parameter is a setting, never a document.
MAX_PARAM_CHARS = 500
_METRIC_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")


def metric_key(name: str) -> str:
    """A name MLflow accepts as a metric or parameter key (letters, digits, ``_ - . /`` and space)."""
    return _METRIC_KEY.sub("_", name)


def flatten_numbers(report: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a nested report as ``a.b.c`` keys (booleans and lists left out)."""
    out: dict[str, float] = {}
    for key, value in report.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_numbers(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[metric_key(name)] = float(value)
    return out


def _job_name() -> str | None:
    """The processing job's name, which SageMaker (and the local runner) write into the job's config."""
    path = Path(opt_ml("config", "processingjobconfig.json"))
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["ProcessingJobName"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _job_name_of_this_host() -> str | None:
    """The job's name, with this host's shard (``-00001-of-00004``) when the job runs on several instances."""
    job = _job_name()
    if job is None:
        return None
    try:
        shard = shard_from_resource_config()
    except (OSError, ValueError):
        return job
    return f"{job}-{shard.suffix}" if shard.count > 1 else job


def _find_or_create_run(
    client: Any, experiment_id: str, name: str, *, running: bool, tags: Mapping[str, str] | None = None
) -> str:
    """The id of the run named ``name`` (``tags.mlflow.runName``), created when there is none. ``running``: an
    existing run is marked running again (this process logs to it). ``tags`` are set on the run.

    Parallel tuning trials may look for their parent at the same moment and each create one: after creating, the
    oldest run of that name wins and a run created here that lost is deleted, so every process settles on one."""
    quoted = name.replace("'", "")

    def oldest() -> str | None:
        found = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`mlflow.runName` = '{quoted}'",
            max_results=1,
            order_by=["attributes.start_time ASC"],
        )
        return found[0].info.run_id if found else None

    run_id = oldest()
    if run_id is None:
        created = client.create_run(experiment_id, run_name=name).info.run_id
        run_id = oldest() or created
        if run_id != created:
            client.delete_run(created)
    if running:
        client.update_run(run_id, status="RUNNING")
    for key, value in sorted((tags or {}).items()):
        client.set_tag(run_id, key, value)
    return run_id


class Tracker:
    """One step's handle on its MLflow run. Build it with :meth:`from_env`; every method is safe to call always."""

    def __init__(
        self, tracking_uri: str | None, experiment: str, run_name: str, step: str, parent_run_name: str | None = None
    ) -> None:
        self.tracking_uri, self.experiment, self.run_name, self.step = tracking_uri, experiment, run_name, step
        self.parent_run_name = parent_run_name
        self._client: Any = None
        self._run_id: str | None = None
        self._failed = tracking_uri is None

    @classmethod
    def from_env(cls, step: str, environ: Mapping[str, str] | None = None) -> Tracker:
        env = os.environ if environ is None else environ
        uri = env.get(TRACKING_URI_ENV) or None
        experiment = env.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT
        # a tuning trial (a parent and no run name): a run of its own, named after its job, under the execution's
        parent = None if env.get(RUN_NAME_ENV) else env.get(PARENT_RUN_NAME_ENV) or None
        trial = env.get(TRAINING_JOB_NAME_ENV) if parent else None
        run_name = env.get(RUN_NAME_ENV) or trial or _job_name_of_this_host() or step
        return cls(uri, experiment, run_name, step, parent_run_name=parent)

    @classmethod
    def off(cls, step: str) -> Tracker:
        """A tracker that logs nothing (ranks other than 0)."""
        return cls(None, DEFAULT_EXPERIMENT, step, step)

    @property
    def enabled(self) -> bool:
        return not self._failed

    @property
    def run_id(self) -> str | None:
        return self._run_id

    def _run(self) -> str | None:
        """The run's id, found by name in the experiment or created (both on first use)."""
        if self._failed:
            return None
        if self._run_id is None:
            import mlflow  # only when tracking is on: the import takes seconds

            # The sagemaker-mlflow plugin's request-header provider reads the process-wide tracking URI, not the
            # client's: with only the client's, every call to an App ARN fails (IndexError parsing an empty ARN).
            mlflow.set_tracking_uri(self.tracking_uri)
            client = mlflow.MlflowClient(tracking_uri=self.tracking_uri)
            experiment = client.get_experiment_by_name(self.experiment)
            experiment_id = experiment.experiment_id if experiment else client.create_experiment(self.experiment)
            tags = {}
            if self.parent_run_name:
                tags[PARENT_RUN_TAG] = _find_or_create_run(client, experiment_id, self.parent_run_name, running=False)
            self._run_id = _find_or_create_run(client, experiment_id, self.run_name, running=True, tags=tags)
            self._client = client
            under = f" under run {self.parent_run_name}" if self.parent_run_name else ""
            log.info(f"MLflow: run {self.run_name} ({self._run_id}){under} of experiment {self.experiment}")
        return self._run_id

    def _safely(self, what: str, call) -> None:
        if self._failed:
            return
        try:
            call()
        except Exception as err:  # tracking must never fail a step: said once, then off
            self._failed = True
            log.warning(f"MLflow tracking off for this step: {what} failed ({type(err).__name__}: {err})")
            log.debug("the failed MLflow call", exc_info=True)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        def call() -> None:
            run = self._run()
            for key, value in sorted(tags.items()):
                self._client.set_tag(run, key, value)

        self._safely("set_tags", call)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Parameters under ``<step>.<name>``; values as text, cut at 500 characters."""

        def call() -> None:
            from mlflow.entities import Param

            run = self._run()
            items = [
                Param(metric_key(f"{self.step}.{k}"), str(v)[:MAX_PARAM_CHARS])
                for k, v in sorted(params.items())
                if v is not None
            ]
            for start in range(0, len(items), 100):  # MLflow's batch limit for parameters
                self._client.log_batch(run, params=items[start : start + 100])

        self._safely("log_params", call)

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Finite metrics at one step (names as given)."""

        def call() -> None:
            from mlflow.entities import Metric

            run = self._run()
            now = int(time.time() * 1000)
            items = [
                Metric(metric_key(k), float(v), now, int(step))
                for k, v in sorted(metrics.items())
                if v is not None and math.isfinite(float(v))
            ]
            for start in range(0, len(items), 1000):  # MLflow's batch limit for metrics
                self._client.log_batch(run, metrics=items[start : start + 1000])

        self._safely("log_metrics", call)

    def log_artifacts(self, paths: Iterable[str | os.PathLike[str]], folder: str | None = None) -> None:
        """Files that exist, under ``folder`` (default: the step's name) of the run's artifacts."""

        def call() -> None:
            run = self._run()
            for path in paths:
                if Path(path).is_file():
                    self._client.log_artifact(run, str(path), folder or self.step)

        self._safely("log_artifacts", call)

    def log_report(self, report_path: str | os.PathLike[str]) -> None:
        """A step's JSON report: its numbers as metrics ``<step>.<path>`` and the file as an artifact."""
        path = Path(report_path)
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            log.warning(f"MLflow: report {path} not logged ({err})")
            return
        if isinstance(report, Mapping):
            self.log_metrics(flatten_numbers(report, f"{self.step}."))
        self.log_artifacts([path])

    def finish(self) -> None:
        """Marks the run finished (a later step of the same execution sets it running again)."""
        if self._run_id is not None:
            self._safely("finish", lambda: self._client.set_terminated(self._run_id))


def log_step_reports(step: str, output_dir: str | os.PathLike[str], pattern: str) -> None:
    """What a data step logs when it is done: every report file matching ``pattern`` in its output folder."""
    tracker = Tracker.from_env(step)
    if not tracker.enabled:
        return
    tracker.set_tags({STEP_TAG: step})
    for report in sorted(Path(output_dir).glob(pattern)):
        tracker.log_report(report)
    tracker.finish()


def log_step_output(
    step: str,
    output_dir: str | os.PathLike[str],
    document: str,
    *,
    numbers: tuple[str, ...] = (),
    files: tuple[str, ...] = (),
) -> None:
    """What a step of the execution's run logs when it is done: its ``document``'s ``config`` as parameters
    (``<step>.<field>``), every number under its ``numbers`` keys as metrics (``<step>.<key>.…``), and the document
    and ``files`` of its output folder as artifacts under ``<step>/``."""
    tracker = Tracker.from_env(step)
    if not tracker.enabled:
        return
    out = Path(output_dir)
    try:
        doc = json.loads((out / document).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        log.warning(f"MLflow: {document} not logged ({err})")
        return
    tracker.log_params(doc.get("config") or {})
    if numbers:
        tracker.log_metrics(flatten_numbers({key: doc.get(key) or {} for key in numbers}, f"{step}."))
    tracker.log_artifacts([out / document, *(out / name for name in files)])
    tracker.finish()


def log_evaluation(output_dir: str | os.PathLike[str]) -> None:
    """Evaluate: its configuration, every number of ``metrics`` and ``gate`` in evaluation.json
    (``evaluate.metrics.…``, ``evaluate.gate.…``), and its output files."""
    log_step_output(
        "evaluate",
        output_dir,
        "evaluation.json",
        numbers=("metrics", "gate"),
        files=("qualitative.jsonl", "runtime.json"),
    )


def log_merge_back(output_dir: str | os.PathLike[str]) -> None:
    """MergeBack: its configuration (the candidate specs) and candidates.json (what was built, from which models)."""
    log_step_output("merge_back", output_dir, "candidates.json")


def main(argv: list[str] | None = None) -> int:
    """``python -m medllama.tracking --run_name R --folder report FILE…``: logs files to a run (the report, which the
    TypeScript CLI writes after the pipeline). Tracking URI and experiment come from the flags or MLflow's variables.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m medllama.tracking", description=main.__doc__)
    parser.add_argument("--tracking_uri", default=os.environ.get(TRACKING_URI_ENV), help="MLflow tracking URI")
    parser.add_argument("--experiment", default=os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT)
    parser.add_argument("--run_name", required=True, help="the run (the pipeline execution id)")
    parser.add_argument("--folder", default="report", help="artifact folder in the run")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    if not args.tracking_uri:
        parser.error("--tracking_uri (or MLFLOW_TRACKING_URI) is required")
    tracker = Tracker(args.tracking_uri, args.experiment, args.run_name, args.folder)
    tracker.log_artifacts(args.files, args.folder)
    if tracker.enabled:
        log.info(f"MLflow: logged {len(args.files)} file(s) to run {args.run_name} under {args.folder}/")
    return 0 if tracker.enabled else 1


if __name__ == "__main__":
    from medllama.logs import setup_logging

    setup_logging("medllama.tracking")
    raise SystemExit(main())
