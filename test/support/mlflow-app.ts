/**
 * MLflow's own tracking server standing in for a SageMaker MLflow App (containers/tests/mlflow_app_server.py): the
 * sagemaker-mlflow plugin reaches it through `SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT` with an App ARN as tracking URI.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { venvPython } from './moto.ts';

const SERVER = join(import.meta.dirname, '..', '..', 'containers', 'tests', 'mlflow_app_server.py');

export interface MlflowApp {
  readonly endpoint: string;
  /** Method, path and Authorization header of every request so far. */
  requests(): [string, string, string][];
  stop(): Promise<void>;
}

/** Starts the server with its artifact root at `artifactRoot` (an S3 URI) and waits for its port. */
export async function startMlflowApp(artifactRoot: string): Promise<MlflowApp> {
  const work = mkdtempSync(join(tmpdir(), 'medllama-mlflow-app-'));
  const log = join(work, 'requests.jsonl');
  const child: ChildProcess = spawn(venvPython, [SERVER, work, artifactRoot, log], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += String(d);
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`MLflow server did not start in 60 s: ${stderr.slice(-2000)}`)),
      60_000,
    );
    child.stdout?.on('data', (d) => {
      out += String(d);
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`MLflow server exited (${code}): ${stderr.slice(-2000)}`));
    });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as [string, string, string])
        : [],
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
