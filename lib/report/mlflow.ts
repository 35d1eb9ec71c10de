import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LOCAL_MLFLOW_DIR } from '../../pipeline-steps/local/mlflow.ts';

/**
 * Adds the report files to the local run's MLflow run (`<run>/mlruns`, the run named after the run id, in the
 * pipeline's experiment), through `python -m medllama.tracking`. Returns what to tell the user; never throws: the
 * report is written either way.
 */
export function logReportToMlflow(
  runDir: string,
  run: { readonly runId: string; readonly pipelineName: string },
  files: readonly string[],
  python: string,
): string | undefined {
  const store = join(runDir, LOCAL_MLFLOW_DIR);
  if (!existsSync(store)) return undefined;
  const res = spawnSync(
    python,
    [
      '-m',
      'medllama.tracking',
      '--tracking_uri',
      pathToFileURL(store).href,
      '--experiment',
      run.pipelineName,
      '--run_name',
      run.runId,
      '--folder',
      'report',
      ...files,
    ],
    { encoding: 'utf8', env: { ...process.env, MLFLOW_ALLOW_FILE_STORE: 'true' }, timeout: 120_000 },
  );
  if (res.status === 0) return `mlflow: the report is in run ${run.runId} of ${store}`;
  const said = `${res.stderr ?? ''}${res.stdout ?? ''}`.trim().split('\n').at(-1) ?? res.error?.message;
  return `mlflow: the report was not logged (${said || `exit ${res.status}`})`;
}
