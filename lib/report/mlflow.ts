import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LOCAL_MLFLOW_DIR } from '../../pipeline-steps/local/mlflow.ts';

/** An MLflow run to add the report to: the tracking URI, the experiment and the run's name. */
export interface ReportRun {
  readonly trackingUri: string;
  readonly experiment: string;
  readonly runName: string;
  /** Extra environment for the logging process; `undefined` removes a variable. @default - none */
  readonly environment?: Readonly<Record<string, string | undefined>>;
}

/**
 * A local run's MLflow run: in `<run>/mlruns` (the file store the runner stood in for the App), named after the run
 * id, in the pipeline's experiment; none when the steps logged nothing there.
 */
export function localReportRun(
  runDir: string,
  run: { readonly runId: string; readonly pipelineName: string },
): ReportRun | undefined {
  const store = join(runDir, LOCAL_MLFLOW_DIR);
  if (!existsSync(store)) return undefined;
  return {
    trackingUri: pathToFileURL(store).href,
    experiment: run.pipelineName,
    runName: run.runId,
    environment: { MLFLOW_ALLOW_FILE_STORE: 'true' },
  };
}

/**
 * Adds the report files to an MLflow run (artifacts under `report/`) through `python -m medllama.tracking`, the same
 * tracker the jobs use: for an App ARN, the sagemaker-mlflow plugin signs the calls with the caller's AWS
 * credentials. Returns what to tell the user; never throws: the report is written either way.
 */
export function logReportToMlflow(run: ReportRun, files: readonly string[], python: string): string {
  const res = spawnSync(
    python,
    [
      '-m',
      'medllama.tracking',
      '--tracking_uri',
      run.trackingUri,
      '--experiment',
      run.experiment,
      '--run_name',
      run.runName,
      '--folder',
      'report',
      ...files,
    ],
    { encoding: 'utf8', env: withEnvironment(run.environment), timeout: 120_000 },
  );
  const where = run.trackingUri.startsWith('file:') ? new URL(run.trackingUri).pathname : run.trackingUri;
  if (res.status === 0)
    return `mlflow: the report is in run ${run.runName} of experiment ${run.experiment} in ${where}`;
  const said = `${res.stderr ?? ''}${res.stdout ?? ''}`.trim().split('\n').at(-1) ?? res.error?.message;
  return `mlflow: the report was not logged to run ${run.runName} (${said || `exit ${res.status}`})`;
}

function withEnvironment(extra: Readonly<Record<string, string | undefined>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const [key, value] of Object.entries(extra)) if (value === undefined) delete env[key];
  return env;
}
