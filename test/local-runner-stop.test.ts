/**
 * SageMaker's stop, modelled: at MaxRuntimeInSeconds the runner sends SIGTERM to the container's first process only
 * (as `docker stop` does) and SIGKILL 120 s later. The Train step's entry point is the stop relay
 * (pipeline-steps/steps/stop-relay.ts), which passes the signal on to the registered training processes, so the
 * program saves its model within the grace period; the step still fails, as a stopped job does.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runPipeline } from '../pipeline-steps/local/runner.ts';
import type { PipelineDefinition } from '../pipeline-steps/local/types.ts';
import { STOP_PIDS_DIR, stopRelayEntrypoint } from '../pipeline-steps/steps/stop-relay.ts';

const ROOT = join(import.meta.dirname, '..');
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const CODE = join(import.meta.dirname, 'fixtures', 'runner');
const work = mkdtempSync(join(tmpdir(), 'medllama-stop-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function definition(maxRuntimeSeconds: number): PipelineDefinition {
  const relay = stopRelayEntrypoint();
  return {
    Version: '2020-12-01',
    Parameters: [],
    Steps: [
      {
        Name: 'Train',
        Type: 'Training',
        Arguments: {
          AlgorithmSpecification: {
            TrainingImage: 'unused-locally',
            TrainingInputMode: 'File',
            ContainerEntrypoint: relay.entrypoint,
            ContainerArguments: relay.arguments,
          },
          HyperParameters: { sagemaker_program: '"stop_step.py"', sagemaker_submit_directory: `"s3://code/runner"` },
          InputDataConfig: [
            { ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://in/data' } } },
          ],
          OutputDataConfig: { S3OutputPath: 's3://out/models', CompressionType: 'NONE' },
          ResourceConfig: { InstanceCount: 1, InstanceType: 'ml.g5.2xlarge', VolumeSizeInGB: 30 },
          Environment: { MEDLLAMA_STOP_PIDS: STOP_PIDS_DIR },
          RoleArn: 'arn:aws:iam::111122223333:role/R',
          StoppingCondition: { MaxRuntimeInSeconds: maxRuntimeSeconds },
        },
      },
    ],
  } as unknown as PipelineDefinition;
}

describe('the stop relay under SageMaker’s stop signal', () => {
  it('MaxRuntime: SIGTERM reaches the program through the relay, which saves within the grace period', async () => {
    const input = join(work, 'input');
    mkdirSync(input, { recursive: true });
    writeFileSync(join(input, 'a.txt'), 'x');
    const started = Date.now();
    const { state, runDir } = await runPipeline({
      definition: definition(15),
      runsDir: join(work, 'runs'),
      runId: 'stop',
      python: PYTHON,
      mounts: { 's3://code/runner': CODE, 's3://in/data': input },
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
