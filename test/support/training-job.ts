/**
 * A pipeline of one local Training job running a script from test/fixtures/runner on a one-file input: what the
 * local-runner tests that model SageMaker's host (stop signal, rendezvous port) share.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PipelineDefinition } from '../../pipeline-steps/local/types.ts';

export const RUNNER_FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'runner');
export const VENV_PYTHON = join(import.meta.dirname, '..', '..', '.venv', 'bin', 'python');

export interface TrainingJobOptions {
  /** The script in test/fixtures/runner, e.g. `stop_step.py`. */
  readonly program: string;
  /** @default 300 */
  readonly maxRuntimeSeconds?: number;
  /** More hyperparameters (toolkit-encoded, as the definition carries them). @default - none */
  readonly hyperParameters?: Readonly<Record<string, string>>;
  /** ContainerEntrypoint / ContainerArguments of AlgorithmSpecification. @default - the image's own */
  readonly container?: { readonly entrypoint: readonly string[]; readonly arguments: readonly string[] };
  /** @default - none */
  readonly environment?: Readonly<Record<string, string>>;
}

/** The definition: one step named `Train`, channel `train` from `s3://in/data`, code at `s3://code/runner`. */
export function oneTrainingJob(o: TrainingJobOptions): PipelineDefinition {
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
            ...(o.container
              ? { ContainerEntrypoint: o.container.entrypoint, ContainerArguments: o.container.arguments }
              : {}),
          },
          HyperParameters: {
            sagemaker_program: JSON.stringify(o.program),
            sagemaker_submit_directory: '"s3://code/runner"',
            ...o.hyperParameters,
          },
          InputDataConfig: [
            { ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://in/data' } } },
          ],
          OutputDataConfig: { S3OutputPath: 's3://out/models', CompressionType: 'NONE' },
          ResourceConfig: { InstanceCount: 1, InstanceType: 'ml.g5.2xlarge', VolumeSizeInGB: 30 },
          ...(o.environment ? { Environment: o.environment } : {}),
          RoleArn: 'arn:aws:iam::111122223333:role/R',
          StoppingCondition: { MaxRuntimeInSeconds: o.maxRuntimeSeconds ?? 300 },
        },
      },
    ],
  } as unknown as PipelineDefinition;
}

/** The runner's mounts for {@link oneTrainingJob}: the fixture scripts, and a one-file input folder under `work`. */
export function oneTrainingJobMounts(work: string): Record<string, string> {
  const input = join(work, 'input');
  mkdirSync(input, { recursive: true });
  writeFileSync(join(input, 'a.txt'), 'x');
  return { 's3://code/runner': RUNNER_FIXTURES, 's3://in/data': input };
}
