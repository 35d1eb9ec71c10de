// The local runner executing small synthetic definitions whose steps are tiny Python scripts
// (test/fixtures/runner/*.py): the Processing and Training container contracts, conditions, the registry,
// Fail, cache hits and misses, retries, failures that point at the log, --from-step and stopping.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { summaryTable } from '../pipeline-steps/local/display.ts';
import { readRunState, runPipeline } from '../pipeline-steps/local/runner.ts';
import type { Json, JsonObject, PipelineDefinition, StepDefinition } from '../pipeline-steps/local/types.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = join(repo, 'test', 'fixtures', 'runner');
const python = existsSync(join(repo, '.venv', 'bin', 'python')) ? join(repo, '.venv', 'bin', 'python') : 'python3';
const CODE = 's3://test-code/runner';
const mounts = (input: string) => ({ [CODE]: fixtures, 's3://test-input/corpus': input });

function workspace(): { runsDir: string; input: string } {
  const dir = mkdtempSync(join(tmpdir(), 'medllama-runner-'));
  const input = join(dir, 'input');
  mkdirSync(join(input, 'sub'), { recursive: true });
  writeFileSync(join(input, 'a.txt'), 'alpha');
  writeFileSync(join(input, 'b.txt'), 'beta');
  writeFileSync(join(input, 'sub', 'c.txt'), 'gamma');
  return { runsDir: join(dir, 'runs'), input };
}

const join3 = (...values: Json[]): Json => ({ 'Std:Join': { On: '/', Values: values } });
const runPrefix = (name: string): Json => join3('s3://test-data', { Get: 'Execution.PipelineExecutionId' }, name);

function processing(
  name: string,
  opts: { input?: Json; args?: string[]; instances?: Json; sharded?: boolean } = {},
): StepDefinition {
  return {
    Name: name,
    Type: 'Processing',
    Arguments: {
      AppSpecification: {
        ImageUri: 'unused-locally',
        ContainerEntrypoint: ['python3', '/opt/ml/processing/input/code/processing_step.py'],
        ContainerArguments: opts.args ?? [],
      },
      Environment: { STEP_ENV: name },
      ProcessingResources: {
        ClusterConfig: { InstanceCount: opts.instances ?? 1, InstanceType: 'ml.m5.xlarge', VolumeSizeInGB: 30 },
      },
      ProcessingInputs: [
        {
          InputName: 'code',
          AppManaged: false,
          S3Input: {
            S3Uri: `${CODE}/processing_step.py`,
            LocalPath: '/opt/ml/processing/input/code',
            S3DataType: 'S3Prefix',
          },
        },
        {
          InputName: 'data',
          AppManaged: false,
          S3Input: {
            S3Uri: opts.input ?? 's3://test-input/corpus',
            LocalPath: '/opt/ml/processing/input/data',
            S3DataType: 'S3Prefix',
            S3DataDistributionType: opts.sharded ? 'ShardedByS3Key' : 'FullyReplicated',
          },
        },
      ],
      ProcessingOutputConfig: {
        Outputs: [
          {
            OutputName: 'result',
            AppManaged: false,
            S3Output: {
              S3Uri: runPrefix(name.toLowerCase()),
              LocalPath: '/opt/ml/processing/output/result',
              S3UploadMode: 'EndOfJob',
            },
          },
        ],
      },
      RoleArn: 'arn:aws:iam::111122223333:role/R',
    },
  };
}

const output = (step: string): Json => ({
  Get: `Steps.${step}.ProcessingOutputConfig.Outputs['result'].S3Output.S3Uri`,
});

function training(channel: Json): StepDefinition {
  return {
    Name: 'Train',
    Type: 'Training',
    Arguments: {
      AlgorithmSpecification: {
        TrainingImage: 'unused-locally',
        TrainingInputMode: 'File',
        MetricDefinitions: [{ Name: 'train:loss', Regex: 'metric name=train_loss value=([0-9.eE+-]+)' }],
      },
      HyperParameters: {
        epochs: { 'Std:Join': { On: '', Values: [{ Get: 'Parameters.Epochs' }] } },
        learning_rate: '1.5e-05',
        model_name: '"tiny"',
        use_lora: 'true',
        sagemaker_program: '"train_step.py"',
        sagemaker_submit_directory: `"${CODE}"`,
      },
      InputDataConfig: [
        { ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: channel } } },
      ],
      OutputDataConfig: { S3OutputPath: 's3://test-artifacts/models', CompressionType: 'NONE' },
      ResourceConfig: { InstanceCount: 1, InstanceType: 'ml.g5.2xlarge', VolumeSizeInGB: 30 },
      CheckpointConfig: {
        S3Uri: join3('s3://test-artifacts/checkpoints', { Get: 'Execution.PipelineExecutionId' }),
        LocalPath: '/opt/ml/checkpoints',
      },
      RoleArn: 'arn:aws:iam::111122223333:role/R',
      StoppingCondition: { MaxRuntimeInSeconds: 3600 },
    },
  };
}

/** Prep → Train → Evaluate (PropertyFile) → QualityGate → Register | Fail. */
function pipeline(extra: { metrics?: string } = {}): PipelineDefinition {
  const evaluate = processing('Evaluate', {
    input: { Get: 'Steps.Train.ModelArtifacts.S3ModelArtifacts' },
    args: ['--metrics', extra.metrics ?? '{"gate": {"pubmedqa_delta": 0.04, "rows": [{"v": 2}]}}'],
  });
  return {
    Version: '2020-12-01',
    Parameters: [
      { Name: 'Epochs', Type: 'Integer', DefaultValue: 2 },
      { Name: 'MinDelta', Type: 'Float', DefaultValue: 0.01 },
      {
        Name: 'ApprovalStatus',
        Type: 'String',
        DefaultValue: 'PendingManualApproval',
        EnumValues: ['Approved', 'PendingManualApproval'],
      },
    ],
    Steps: [
      {
        Name: 'QualityGate',
        Type: 'Condition',
        Arguments: {
          Conditions: [
            {
              Type: 'GreaterThanOrEqualTo',
              LeftValue: {
                'Std:JsonGet': {
                  PropertyFile: { Get: 'Steps.Evaluate.PropertyFiles.EvaluationReport' },
                  Path: 'gate.pubmedqa_delta',
                },
              },
              RightValue: { Get: 'Parameters.MinDelta' },
            },
            {
              Type: 'Equals',
              LeftValue: {
                'Std:JsonGet': {
                  PropertyFile: { Get: 'Steps.Evaluate.PropertyFiles.EvaluationReport' },
                  Path: 'gate.rows[0].v',
                },
              },
              RightValue: 2,
            },
          ],
          IfSteps: [
            {
              Name: 'Register',
              Type: 'RegisterModel',
              Arguments: {
                ModelPackageGroupName: 'medllama-test',
                ModelApprovalStatus: { Get: 'Parameters.ApprovalStatus' },
                InferenceSpecification: {
                  Containers: [
                    {
                      Image: 'serving-image',
                      ModelDataSource: {
                        S3DataSource: {
                          S3Uri: {
                            'Std:Join': {
                              On: '',
                              Values: [{ Get: 'Steps.Train.ModelArtifacts.S3ModelArtifacts' }, '/'],
                            },
                          },
                          S3DataType: 'S3Prefix',
                          CompressionType: 'None',
                        },
                      },
                    },
                  ],
                  SupportedContentTypes: ['application/json'],
                  SupportedResponseMIMETypes: ['application/json'],
                },
              },
            },
          ],
          ElseSteps: [
            {
              Name: 'QualityGateFailed',
              Type: 'Fail',
              Arguments: {
                ErrorMessage: {
                  'Std:Join': {
                    On: ' ',
                    Values: ['pubmedqa_delta below', { Get: 'Parameters.MinDelta' }],
                  },
                },
              },
            },
          ],
        },
      },
      {
        ...evaluate,
        PropertyFiles: [{ PropertyFileName: 'EvaluationReport', OutputName: 'result', FilePath: 'evaluation.json' }],
      },
      training(output('Prep')),
      processing('Prep'),
    ],
  };
}

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as JsonObject;

describe('local runner: a full small pipeline', () => {
  it('runs Processing and Training with the container contract, passes the gate and registers', async () => {
    const { runsDir, input } = workspace();
    const { state, runDir } = await runPipeline({
      definition: pipeline(),
      runsDir,
      runId: 'r1',
      python,
      mounts: mounts(input),
    });
    expect(state.failureReason).toBeUndefined();
    expect(state.status).toBe('Succeeded');
    expect(state.order).toEqual(['Prep', 'Train', 'Evaluate', 'QualityGate', 'Register']);

    // Processing: inputs placed under the sandbox's /opt/ml, outputs collected to the run's local S3.
    const prep = readJson(join(runDir, 's3', 'test-data', 'r1', 'prep', 'algo-1-files.json'));
    expect(prep.files).toEqual(['a.txt', 'b.txt', 'sub/c.txt']);
    // As SageMaker Processing writes them; the instance is the local host (SageMaker local mode's name).
    expect(prep.resourceconfig).toEqual({ current_host: 'algo-1', hosts: ['algo-1'] });
    expect(prep.instance_type).toBe('local');
    expect(prep.env).toBe('Prep');
    expect(prep.cwd_in_sandbox).toBe(true);
    expect(String(prep.input_dir)).toBe(
      join(runDir, 'sandbox', 'Prep', 'algo-1', 'opt', 'ml', 'processing', 'input', 'data'),
    );
    expect(readFileSync(join(runDir, 's3', 'test-data', 'r1', 'prep', 'algo-1-sub_c.txt.upper'), 'utf8')).toBe('GAMMA');

    // Training: channel contents, hyperparameters, model and output data where ModelArtifacts says.
    const train = state.steps.Train!;
    const modelUri = 's3://test-artifacts/models/pipelines-r1-Train/output/model';
    expect((train.properties!.ModelArtifacts as JsonObject).S3ModelArtifacts).toBe(modelUri);
    expect(train.properties!.FinalMetricDataList).toEqual([{ MetricName: 'train:loss', Value: 1 }]);
    const modelDir = join(runDir, 's3', 'test-artifacts', 'models', 'pipelines-r1-Train', 'output', 'model');
    expect(readFileSync(join(modelDir, 'model.txt'), 'utf8')).toBe('tiny:4');
    const summary = readJson(join(runDir, train.outputs!.output!, 'training_summary.json'));
    expect(summary).toMatchObject({
      epochs: 2,
      learning_rate: 1.5e-5,
      use_lora: 'True',
      channels: ['train'],
      texts: 4,
      cwd_is_code: true,
    });
    expect(existsSync(join(runDir, 's3', 'test-artifacts', 'checkpoints', 'r1', 'step-2'))).toBe(true);
    expect(readFileSync(join(runDir, 'logs', 'Train.log'), 'utf8')).toMatch(/metric name=train_loss value=1.0 step=2/);

    // Evaluate read the model through the Train property; the gate read the PropertyFile.
    expect(readJson(join(runDir, 's3', 'test-data', 'r1', 'evaluate', 'algo-1-files.json')).files).toEqual([
      'model.txt',
    ]);
    expect(state.steps.QualityGate!.outcome).toBe(true);

    const entry = readJson(join(runDir, 'registry', 'medllama-test', '1.json'));
    expect(entry).toMatchObject({
      ModelPackageGroupName: 'medllama-test',
      ModelPackageVersion: 1,
      ModelApprovalStatus: 'PendingManualApproval',
    });
    expect(entry.ModelDataLocal).toEqual({
      'container-0': join('s3', 'test-artifacts', 'models', 'pipelines-r1-Train', 'output', 'model'),
    });
    expect(JSON.stringify(entry.Arguments)).toContain(`${modelUri}/`);
    expect(readRunState(runDir).status).toBe('Succeeded');
    expect(summaryTable(state, runDir)).toMatch(/Register\s+RegisterModel\s+Succeeded/);
  });

  it('takes the else branch and fails the run with the Fail step’s resolved message', async () => {
    const { runsDir, input } = workspace();
    const { state, runDir } = await runPipeline({
      definition: pipeline(),
      runsDir,
      runId: 'r2',
      python,
      mounts: mounts(input),
      parameters: { MinDelta: '0.5', Epochs: '1' },
    });
    expect(state.status).toBe('Failed');
    expect(state.steps.QualityGate!.outcome).toBe(false);
    expect(state.steps.QualityGateFailed!.state).toBe('Failed');
    expect(state.failureReason).toBe('QualityGateFailed: pubmedqa_delta below 0.5');
    expect(state.steps.Register).toBeUndefined();
    expect(existsSync(join(runDir, 'registry'))).toBe(false);
  });

  it('rejects parameter overrides the definition does not allow, before running anything', async () => {
    const { runsDir, input } = workspace();
    await expect(
      runPipeline({
        definition: pipeline(),
        runsDir,
        runId: 'r3',
        python,
        mounts: mounts(input),
        parameters: { ApprovalStatus: 'Maybe' },
      }),
    ).rejects.toThrow(/parameter ApprovalStatus: got "Maybe", expected one of "Approved", "PendingManualApproval"/);
    expect(existsSync(join(runsDir, 'r3'))).toBe(false);
  });
});

describe('local runner: processing instances', () => {
  it('runs InstanceCount processes with their own resourceconfig and merges outputs; ShardedByS3Key splits inputs', async () => {
    const { runsDir, input } = workspace();
    const definition: PipelineDefinition = { Steps: [processing('Shards', { instances: 2, sharded: true })] };
    const { state, runDir } = await runPipeline({ definition, runsDir, runId: 's1', python, mounts: mounts(input) });
    expect(state.status).toBe('Succeeded');
    const out = join(runDir, 's3', 'test-data', 's1', 'shards');
    const one = readJson(join(out, 'algo-1-files.json'));
    const two = readJson(join(out, 'algo-2-files.json'));
    expect(one.resourceconfig).toMatchObject({ current_host: 'algo-1', hosts: ['algo-1', 'algo-2'] });
    expect(two.resourceconfig).toMatchObject({ current_host: 'algo-2', hosts: ['algo-1', 'algo-2'] });
    expect([...(one.files as string[]), ...(two.files as string[])].sort()).toEqual(['a.txt', 'b.txt', 'sub/c.txt']);
    expect(one.files).toEqual(['a.txt', 'sub/c.txt']);
    expect(readFileSync(join(runDir, 'logs', 'Shards.log'), 'utf8')).toMatch(
      /\[algo-2\] progress files: 1 done on algo-2/,
    );
  });
});

describe('local runner: cache, retries, failures, re-runs', () => {
  it('reuses a cached step when its resolved arguments and input contents are unchanged', async () => {
    const { runsDir, input } = workspace();
    const cached: StepDefinition = { ...processing('Prep'), CacheConfig: { Enabled: true, ExpireAfter: 'P30D' } };
    const definition: PipelineDefinition = { Steps: [cached, processing('After', { input: output('Prep') })] };
    const first = await runPipeline({ definition, runsDir, runId: 'c1', python, mounts: mounts(input) });
    expect(first.state.steps.Prep!.reused).toBeUndefined();
    const second = await runPipeline({ definition, runsDir, runId: 'c2', python, mounts: mounts(input) });
    expect(second.state.status).toBe('Succeeded');
    expect(second.state.steps.Prep!.reused).toBe('cache');
    expect(second.state.steps.Prep!.cacheKey).toBe(first.state.steps.Prep!.cacheKey);
    // The cached outputs were restored at this run's own output location, and the next step read them.
    expect(readJson(join(second.runDir, 's3', 'test-data', 'c2', 'prep', 'algo-1-files.json')).files).toHaveLength(3);
    expect(readJson(join(second.runDir, 's3', 'test-data', 'c2', 'after', 'algo-1-files.json')).files).toContain(
      'algo-1-files.json',
    );
    expect(readFileSync(join(second.runDir, 'logs', 'Prep.log'), 'utf8')).toMatch(/cache hit/);

    writeFileSync(join(input, 'a.txt'), 'changed');
    const third = await runPipeline({ definition, runsDir, runId: 'c3', python, mounts: mounts(input) });
    expect(third.state.steps.Prep!.reused).toBeUndefined();
    expect(third.state.steps.Prep!.cacheKey).not.toBe(first.state.steps.Prep!.cacheKey);
  });

  it('retries a failed job when a RetryPolicy lists SageMaker.JOB_INTERNAL_ERROR', async () => {
    const { runsDir, input } = workspace();
    const counter = join(runsDir, '..', 'counter');
    const flaky = (policies: StepDefinition['RetryPolicies']): PipelineDefinition => ({
      Steps: [
        { ...processing('Flaky', { args: ['--fail_until', '1', '--counter', counter] }), RetryPolicies: policies },
      ],
    });
    const retried = await runPipeline({
      definition: flaky([
        { ExceptionType: ['SageMaker.JOB_INTERNAL_ERROR'], IntervalSeconds: 1, BackoffRate: 1, MaxAttempts: 2 },
      ]),
      runsDir,
      runId: 't1',
      python,
      mounts: mounts(input),
      maxRetryDelaySeconds: 0,
    });
    expect(retried.state.status).toBe('Succeeded');
    expect(retried.state.steps.Flaky!.attempts).toBe(2);
    expect(readFileSync(join(retried.runDir, 'logs', 'Flaky.log'), 'utf8')).toMatch(
      /failing on purpose[\s\S]*attempt 2/,
    );

    // Capacity-only policies do not match a local non-zero exit: the step fails, pointing at its log.
    writeFileSync(counter, '0');
    const failed = await runPipeline({
      definition: flaky([{ ExceptionType: ['SageMaker.CAPACITY_ERROR'], IntervalSeconds: 1, MaxAttempts: 3 }]),
      runsDir,
      runId: 't2',
      python,
      mounts: mounts(input),
      maxRetryDelaySeconds: 0,
    });
    expect(failed.state.status).toBe('Failed');
    expect(failed.state.steps.Flaky!.attempts).toBe(1);
    expect(failed.state.steps.Flaky!.failureReason).toBe('Flaky exited with code 3');
    const logPath = join(failed.runDir, 'logs', 'Flaky.log');
    expect(failed.state.failureReason).toBe(`Flaky: Flaky exited with code 3 (log: ${logPath})`);
    expect(readFileSync(logPath, 'utf8')).toMatch(/failing on purpose: run 1 of 1/);
  });

  it('fails clearly when an input does not exist', async () => {
    const { runsDir, input } = workspace();
    const definition: PipelineDefinition = { Steps: [processing('Prep', { input: 's3://test-input/corpus/nope' })] };
    const { state } = await runPipeline({ definition, runsDir, runId: 'm1', python, mounts: mounts(input) });
    expect(state.status).toBe('Failed');
    expect(state.steps.Prep!.failureReason).toMatch(
      /input data: s3:\/\/test-input\/corpus\/nope \(local .*nope\) does not exist/,
    );
  });

  it('re-runs from a step, reusing the earlier steps of the same run', async () => {
    const { runsDir, input } = workspace();
    const definition: PipelineDefinition = {
      Parameters: [{ Name: 'Epochs', Type: 'Integer', DefaultValue: 1 }],
      Steps: [processing('Prep'), training(output('Prep'))],
    };
    await runPipeline({ definition, runsDir, runId: 'f1', python, mounts: mounts(input) });
    const prepLog = readFileSync(join(runsDir, 'f1', 'logs', 'Prep.log'), 'utf8');
    const again = await runPipeline({
      definition,
      runsDir,
      runId: 'f1',
      python,
      mounts: mounts(input),
      fromStep: 'Train',
      parameters: { Epochs: '3' },
    });
    expect(again.state.status).toBe('Succeeded');
    expect(again.state.steps.Prep!.reused).toBe('previous-run');
    expect(again.state.steps.Train!.reused).toBeUndefined();
    expect(readFileSync(join(runsDir, 'f1', 'logs', 'Prep.log'), 'utf8')).toBe(prepLog);
    const summary = readJson(join(again.runDir, again.state.steps.Train!.outputs!.output!, 'training_summary.json'));
    // The checkpoint of the first run was restored before the second one started.
    expect(summary).toMatchObject({ epochs: 3, previous_checkpoints: ['step-1'] });
    await expect(runPipeline({ definition, runsDir, runId: 'nope', python, fromStep: 'Train' })).rejects.toThrow(
      /--from-step needs an existing run/,
    );
  });

  it('stops on abort with a resumable state, and resumes the stopped step', async () => {
    const { runsDir, input } = workspace();
    const definition: PipelineDefinition = {
      Steps: [processing('Prep'), processing('Slow', { input: output('Prep'), args: ['--sleep', '30'] })],
    };
    const controller = new AbortController();
    const started = Date.now();
    const run = runPipeline({
      definition,
      runsDir,
      runId: 'x1',
      python,
      mounts: mounts(input),
      signal: controller.signal,
      reporter: { stepOutput: (step, line) => step === 'Slow' && line === 'sleeping' && controller.abort() },
    });
    const { state } = await run;
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(state.status).toBe('Stopped');
    expect(state.steps.Slow!.state).toBe('Stopped');
    expect(readRunState(join(runsDir, 'x1')).steps.Prep!.state).toBe('Succeeded');

    const fast: PipelineDefinition = { Steps: [processing('Prep'), processing('Slow', { input: output('Prep') })] };
    const resumed = await runPipeline({ definition: fast, runsDir, runId: 'x1', python, mounts: mounts(input) });
    expect(resumed.state.status).toBe('Succeeded');
    expect(resumed.state.steps.Prep!.reused).toBe('previous-run');
    expect(resumed.state.steps.Slow!.state).toBe('Succeeded');
  });
});
