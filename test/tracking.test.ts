import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SageMakerLike } from '../lib/aws/clients.ts';
import { executionStatus, formatStatus } from '../lib/cli/commands/status.ts';
import { formatMlflowRun, mlflowRunOf } from '../lib/cli/mlflow-link.ts';
import { parseConfig } from '../lib/config.ts';
import { PLACEHOLDERS } from '../lib/private/definition-tokens.ts';
import { collectRun } from '../lib/report/collect.ts';
import { renderMarkdown } from '../lib/report/render.ts';
import { builderOptions } from '../lib/stacks/pipeline-stack.ts';
import { buildMedLlamaPipeline } from '../pipeline-steps/definition.ts';
import type { Json } from '../pipeline-steps/expressions.ts';
import { localTrackingEnvironment } from '../pipeline-steps/local/mlflow.ts';
import { runPipeline } from '../pipeline-steps/local/runner.ts';
import { formatIssues, loadServiceModel, type ServiceModel, validateDefinition } from '../pipeline-steps/validate.ts';
import { PLACEHOLDER_OPTIONS } from './pipeline-options.ts';
import { syntheticRun } from './support/report-run.ts';
import { oneTrainingJob, oneTrainingJobMounts, VENV_PYTHON } from './support/training-job.ts';

type Obj = Record<string, unknown>;
const APP = 'arn:aws:sagemaker:us-east-1:111122223333:mlflow-app/app-ABCDEF123456';
const build = (extra: Obj = {}) =>
  buildMedLlamaPipeline({ ...PLACEHOLDER_OPTIONS, mlflowResourceArn: APP, ...extra }).toJSON() as { Steps: Obj[] };
const args = (def: { Steps: Obj[] }, name: string) => def.Steps.find((s) => s.Name === name)!.Arguments as Obj;
const EXPERIMENT = { Get: 'Execution.PipelineName' };
const RUN = { Get: 'Execution.PipelineExecutionId' };

describe('MLflow in the definition (pipeline-steps/tracking.ts)', () => {
  test("Train's MlflowConfig names the App, the pipeline's experiment and the execution's run", () => {
    expect(args(build(), 'Train').MlflowConfig).toEqual({
      MlflowResourceArn: APP,
      MlflowExperimentName: EXPERIMENT,
      MlflowRunName: RUN,
    });
  });

  test('Train, MergeBack and Evaluate log to the execution run; the cached data steps get no execution id', () => {
    const def = build();
    const run = { MLFLOW_TRACKING_URI: APP, MLFLOW_EXPERIMENT_NAME: EXPERIMENT, MEDLLAMA_MLFLOW_RUN_NAME: RUN };
    expect(args(def, 'Train').Environment).toEqual({ MEDLLAMA_STOP_PIDS: expect.any(String), ...run });
    expect(args(def, 'Evaluate').Environment).toEqual(run);
    expect(args(def, 'MergeBack').Environment).toEqual(run);
    for (const name of ['Ingest', 'Dedup', 'Tokenize']) {
      expect(args(def, name).Environment, name).toEqual({
        MLFLOW_TRACKING_URI: APP,
        MLFLOW_EXPERIMENT_NAME: EXPERIMENT,
      });
    }
  });

  test('without an ARN nothing changes', () => {
    const off = buildMedLlamaPipeline(PLACEHOLDER_OPTIONS).toJSON() as { Steps: Obj[] };
    expect(JSON.stringify(off)).not.toMatch(/mlflow/i);
  });

  test("with tuning each trial logs to a run of its own under the execution's (Environment; no MlflowConfig)", () => {
    const tuned = build({ tuning: true });
    const train = args(tuned, 'Train');
    const definition = train.TrainingJobDefinition as Obj;
    expect(definition.MlflowConfig).toBeUndefined();
    expect(definition.Environment).toEqual({
      MEDLLAMA_STOP_PIDS: expect.any(String),
      MLFLOW_TRACKING_URI: APP,
      MLFLOW_EXPERIMENT_NAME: EXPERIMENT,
      MEDLLAMA_MLFLOW_PARENT_RUN_NAME: RUN,
    });
    expect(args(tuned, 'Evaluate').Environment).toEqual({
      MLFLOW_TRACKING_URI: APP,
      MLFLOW_EXPERIMENT_NAME: EXPERIMENT,
      MEDLLAMA_MLFLOW_RUN_NAME: RUN,
    });
  });

  test('a malformed ARN is an early error that names the option', () => {
    expect(() => build({ mlflowResourceArn: 'arn:aws:sagemaker:us-east-1:111122223333:pipeline/x' })).toThrow(
      /mlflowResourceArn: got "arn:aws:sagemaker:us-east-1:111122223333:pipeline\/x", expected the ARN of an MLflow App/,
    );
  });

  describe('against the SageMaker API model', () => {
    let model: ServiceModel;
    beforeAll(() => {
      model = loadServiceModel();
    });

    test("accepts MlflowConfig (default, spot, tracking server) and the trials' Environment (tuning)", () => {
      for (const extra of [
        {},
        { spot: true },
        { mlflowResourceArn: 'arn:aws:sagemaker:us-east-1:111122223333:mlflow-tracking-server/medllama' },
        { tuning: true },
      ]) {
        expect(formatIssues(validateDefinition(build(extra) as unknown as Json, model))).toBe('');
      }
    });

    test('rejects an MlflowConfig member the API does not have, and an ARN outside its pattern', () => {
      const def = build();
      const config = args(def, 'Train').MlflowConfig as Obj;
      config.MlflowRunId = 'x';
      config.MlflowResourceArn = 'arn:aws:iam::111122223333:role/x';
      const found = formatIssues(validateDefinition(def as unknown as Json, model));
      expect(found).toMatch(/Train: Arguments\.MlflowConfig\.MlflowRunId: unknown member of MlflowConfig/);
      expect(found).toMatch(/Train: Arguments\.MlflowConfig\.MlflowResourceArn: .* does not match/);
    });
  });
});

describe('the local runner stands a file store under the run folder in for the MLflow App', () => {
  test('an MLflow ARN becomes runs/<id>/mlruns, with the file store allowed; other URIs stay', () => {
    expect(localTrackingEnvironment({ MLFLOW_TRACKING_URI: APP, A: 'b' }, '/tmp/runs/r1')).toEqual({
      MLFLOW_TRACKING_URI: 'file:///tmp/runs/r1/mlruns',
      MLFLOW_ALLOW_FILE_STORE: 'true',
      A: 'b',
    });
    expect(localTrackingEnvironment({ MLFLOW_TRACKING_URI: 'http://localhost:5000' }, '/r')).toEqual({
      MLFLOW_TRACKING_URI: 'http://localhost:5000',
    });
    expect(localTrackingEnvironment({}, '/r')).toEqual({});
  });
});

describe("a tuning trial locally: the definition's environment, the host's TRAINING_JOB_NAME, our tracker", () => {
  const work = mkdtempSync(join(tmpdir(), 'medllama-trial-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test("the trial's run is named after its job and nested under the execution's run", async () => {
    // the trial environment exactly as the tuning definition renders it, with the execution id resolved
    const trial = args(build({ tuning: true }), 'Train').TrainingJobDefinition as { Environment: Obj };
    const environment = Object.fromEntries(
      Object.entries(trial.Environment).map(([k, v]) => {
        const resolved = { [JSON.stringify(RUN)]: 'exec-42', [JSON.stringify(EXPERIMENT)]: 'medllama-test' };
        return [k, resolved[JSON.stringify(v)] ?? String(v)];
      }),
    );
    const { state, runDir } = await runPipeline({
      definition: oneTrainingJob({ program: 'trial_step.py', environment }),
      runsDir: join(work, 'runs'),
      runId: 'trial',
      python: VENV_PYTHON,
      mounts: oneTrainingJobMounts(work),
    });
    expect(state.steps.Train?.state, state.steps.Train?.failureReason).toBe('Succeeded');
    const read = spawnSync(
      VENV_PYTHON,
      [
        '-c',
        `import json, mlflow
c = mlflow.MlflowClient(${JSON.stringify(`file://${join(runDir, 'mlruns')}`)})
e = c.get_experiment_by_name("medllama-test")
print(json.dumps(sorted([r.info.run_name, r.data.tags.get("mlflow.parentRunId"), r.info.run_id, r.data.metrics] for r in c.search_runs([e.experiment_id]))))`,
      ],
      { encoding: 'utf8', env: { ...process.env, MLFLOW_ALLOW_FILE_STORE: 'true' } },
    );
    expect(read.status, read.stderr).toBe(0);
    const runs = JSON.parse(read.stdout) as [string, string | null, string, Obj][];
    const parent = runs.find(([name]) => name === 'exec-42');
    const child = runs.find(([name]) => name !== 'exec-42');
    expect(runs).toHaveLength(2);
    // the job's name, which the runner puts in TRAINING_JOB_NAME as SageMaker does
    expect(child![0]).toBe((state.steps.Train!.properties as Obj).TrainingJobName);
    expect(child![1]).toBe(parent![2]);
    expect(child![3]).toEqual({ eval_loss: 1.25 });
  }, 120_000);
});

describe('deploy config `mlflow` (lib/config.ts)', () => {
  test('on by default (the stack creates an App); your own ARN; or off', () => {
    expect(parseConfig({}).mlflow).toEqual({ enabled: true });
    const own = 'arn:aws:sagemaker:us-east-1:111122223333:mlflow-tracking-server/team';
    expect(builderOptions(parseConfig({ mlflow: { resourceArn: own } }), 'g').mlflowResourceArn).toBe(own);
    expect(builderOptions(parseConfig({}), 'g').mlflowResourceArn).toBe(PLACEHOLDERS.mlflowArn);
    expect(builderOptions(parseConfig({ mlflow: { enabled: false } }), 'g').mlflowResourceArn).toBeUndefined();
  });

  test('errors name the field, the value and what was expected', () => {
    expect(() => parseConfig({ mlflow: { resourceArn: 'my-server' } })).toThrow(
      /mlflow\.resourceArn.*the ARN of an MLflow App or tracking server/,
    );
    expect(() => parseConfig({ mlflow: { enabled: false, resourceArn: APP } })).toThrow(
      /resourceArn is given but enabled is false/,
    );
  });
});

describe('the report points at the MLflow run (lib/report/summary.ts)', () => {
  test('a run folder with mlruns/ gets the store, the run and the `mlflow ui` command; one without, nothing', () => {
    const dir = syntheticRun();
    expect(renderMarkdown(collectRun(dir))).not.toMatch(/mlflow ui/);
    mkdirSync(join(dir, 'mlruns'));
    const md = renderMarkdown(collectRun(dir));
    expect(md).toContain(`MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri ${join(dir, 'mlruns')}`);
    expect(md).toMatch(/MLflow: run `[^`]+` of experiment `[^`]+`/);
  });
});

describe('medllama status prints the MLflow run (lib/cli/mlflow-link.ts)', () => {
  const job = 'arn:aws:sagemaker:us-east-1:111122223333:training-job/pipelines-abc123-train-x1y2z3';
  const fake = (output: Record<string, unknown>) => {
    const sent: { name: string; input: unknown }[] = [];
    const client = {
      send: async (command: { constructor: { name: string }; input: unknown }) => {
        sent.push({ name: command.constructor.name, input: command.input });
        return output;
      },
    } as unknown as SageMakerLike;
    return { client, sent };
  };

  test("from the Train job's MlflowConfig and MlflowDetails; the command that opens it, never a presigned URL", async () => {
    const { client, sent } = fake({
      MlflowConfig: { MlflowResourceArn: APP, MlflowExperimentName: 'medllama-dev', MlflowRunName: 'abc123' },
      MlflowDetails: { MlflowExperimentId: '7', MlflowRunId: 'f00d' },
    });
    const link = await mlflowRunOf(client, job);
    expect(sent).toEqual([
      { name: 'DescribeTrainingJobCommand', input: { TrainingJobName: 'pipelines-abc123-train-x1y2z3' } },
    ]);
    const lines = formatStatus({ executionArn: 'e', status: 'Succeeded', parameters: [], steps: [], mlflow: link });
    expect(lines.slice(-2)).toEqual([
      `mlflow    run abc123 of experiment medllama-dev in ${APP}`,
      `          open: aws sagemaker create-presigned-mlflow-app-url --arn ${APP}, then the page #/experiments/7/runs/f00d`,
    ]);
  });

  test("with a tuning step (no MlflowConfig), Evaluate's environment names the execution's run", async () => {
    const exec = 'arn:aws:sagemaker:us-east-1:111122223333:pipeline/medllama-dev/execution/abc123';
    const evaluate = 'arn:aws:sagemaker:us-east-1:111122223333:processing-job/pipelines-abc123-evaluate-x1';
    const answers: Record<string, unknown> = {
      DescribePipelineExecutionCommand: { PipelineExecutionStatus: 'Executing' },
      ListPipelineExecutionStepsCommand: {
        PipelineExecutionSteps: [
          { StepName: 'Train', StepStatus: 'Succeeded', Metadata: { TuningJob: { Arn: `${job}-tuning` } } },
          { StepName: 'Evaluate', StepStatus: 'Executing', Metadata: { ProcessingJob: { Arn: evaluate } } },
        ],
      },
      ListPipelineParametersForExecutionCommand: { PipelineParameters: [] },
      DescribeProcessingJobCommand: {
        Environment: {
          MLFLOW_TRACKING_URI: APP,
          MLFLOW_EXPERIMENT_NAME: 'medllama-dev',
          MEDLLAMA_MLFLOW_RUN_NAME: 'abc123',
        },
      },
    };
    const sent: { name: string; input: unknown }[] = [];
    const client = {
      send: async (command: { constructor: { name: string }; input: unknown }) => {
        sent.push({ name: command.constructor.name, input: command.input });
        return answers[command.constructor.name];
      },
    } as unknown as SageMakerLike;
    const status = await executionStatus(client, exec);
    expect(status.mlflow).toEqual({ resourceArn: APP, experimentName: 'medllama-dev', runName: 'abc123' });
    expect(sent.find((c) => c.name === 'DescribeProcessingJobCommand')?.input).toEqual({
      ProcessingJobName: 'pipelines-abc123-evaluate-x1',
    });
    expect(sent.some((c) => c.name === 'DescribeTrainingJobCommand')).toBe(false);
  });

  test('a job without MlflowConfig has no run; a tracking server opens by its name', async () => {
    expect(await mlflowRunOf(fake({}).client, job)).toBeUndefined();
    const server = 'arn:aws:sagemaker:us-east-1:111122223333:mlflow-tracking-server/team';
    expect(formatMlflowRun({ resourceArn: server, runName: 'abc' })[1]).toBe(
      '          open: aws sagemaker create-presigned-mlflow-tracking-server-url --tracking-server-name team',
    );
  });
});
