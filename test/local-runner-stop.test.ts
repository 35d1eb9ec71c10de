/**
 * SageMaker's stop, modelled: at MaxRuntimeInSeconds the runner sends SIGTERM to the container's first process only
 * (as `docker stop` does) and SIGKILL 120 s later. The Train step's entry point is the stop relay
 * (pipeline-steps/steps/stop-relay.ts), which passes the signal on to the registered training processes, so the
 * program saves its model within the grace period; the step still fails, as a stopped job does.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runPipeline } from '../pipeline-steps/local/runner.ts';
import { STOP_PIDS_DIR, stopRelayEntrypoint } from '../pipeline-steps/steps/stop-relay.ts';
import { oneTrainingJob, oneTrainingJobMounts, VENV_PYTHON } from './support/training-job.ts';

const work = mkdtempSync(join(tmpdir(), 'medllama-stop-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const definition = (maxRuntimeSeconds: number) =>
  oneTrainingJob({
    program: 'stop_step.py',
    maxRuntimeSeconds,
    container: stopRelayEntrypoint(),
    environment: { MEDLLAMA_STOP_PIDS: STOP_PIDS_DIR },
  });

describe('the stop relay under SageMaker’s stop signal', () => {
  it('MaxRuntime: SIGTERM reaches the program through the relay, which saves within the grace period', async () => {
    const mounts = oneTrainingJobMounts(work);
    const started = Date.now();
    const { state, runDir } = await runPipeline({
      definition: definition(15),
      runsDir: join(work, 'runs'),
      runId: 'stop',
      python: VENV_PYTHON,
      mounts,
    });
    const seconds = (Date.now() - started) / 1000;
    expect(state.steps.Train?.state).toBe('Failed');
    expect(state.steps.Train?.failureReason).toMatch(/MaxRuntimeInSeconds/);
    expect(seconds).toBeLessThan(90); // not the 120 s SIGKILL: the program exited on its own
    const model = join(runDir, 'sandbox', 'Train', 'algo-1', 'opt', 'ml', 'model', 'model.txt');
    expect(existsSync(model) && readFileSync(model, 'utf8')).toBe('saved after SIGTERM');
    expect(readFileSync(join(runDir, 'logs', 'Train.log'), 'utf8')).toContain('saved after SIGTERM');
  }, 150_000);

  it('fits the API: every ContainerEntrypoint string is at most 256 characters', () => {
    const { entrypoint, arguments: args } = stopRelayEntrypoint();
    expect(entrypoint.slice(0, 2)).toEqual(['bash', '-c']);
    expect(Math.max(...entrypoint.map((e) => e.length))).toBeLessThanOrEqual(256);
    expect(entrypoint[2]).toContain('bash -m start_with_right_hostname.sh'); // the image's own entry point
    expect(args).toEqual(['train']);
  });
});
