// `medllama report --execution <ARN>`: S3 artifacts and CloudWatch curves from a moto server, SageMaker
// responses recorded in the SDK's shapes (moto lacks ListPipelineExecutionSteps), rendered by the same code.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  type DescribePipelineExecutionCommandOutput,
  type DescribeProcessingJobCommandOutput,
  type DescribeTrainingJobCommandOutput,
  type ListPipelineExecutionStepsCommandOutput,
  type PipelineExecutionStep,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SageMakerLike } from '../lib/aws/clients.ts';
import { UsageError } from '../lib/cli/command.ts';
import { createReportCommand } from '../lib/cli/commands/report.ts';
import {
  type AwsReportClients,
  extractFromTarGz,
  fetchExecution,
  logMetricName,
  metricPeriod,
} from '../lib/report/aws.ts';
import { collectRun } from '../lib/report/collect.ts';
import { logReportToMlflow } from '../lib/report/mlflow.ts';
import { renderMarkdown } from '../lib/report/render.ts';
import { renderSlides } from '../lib/report/slides.ts';
import { startMlflowApp } from './support/mlflow-app.ts';
import { type MotoServer, startMoto, venvPython } from './support/moto.ts';

const ACCOUNT = '123456789012';
const DATA = 'medllama-data-test';
const ART = 'medllama-artifacts-test';
const EXEC = 'k3x9q2m7abcd';
const ARN = `arn:aws:sagemaker:us-east-1:${ACCOUNT}:pipeline/medllama-dev/execution/${EXEC}`;
const TRAIN_JOB = 'pipelines-k3x9q2m7abcd-Train-Ab12Cd34Ef';
const MLFLOW_APP = `arn:aws:sagemaker:us-east-1:${ACCOUNT}:mlflow-app/app-REPORT0001`;
const t = (m: number) => new Date(Date.UTC(2026, 10, 27, 8, m, 0));
const NOW = new Date(Date.UTC(2026, 10, 27, 12, 0, 0));
const jobArn = (kind: string, name: string) => `arn:aws:sagemaker:us-east-1:${ACCOUNT}:${kind}/${name.toLowerCase()}`;
const procName = (step: string) => `pipelines-${EXEC}-${step}-x1y2z3`;

type Step = PipelineExecutionStep;
const proc = (name: string, status: Step['StepStatus'], start: number, end?: number): Step => ({
  StepName: name,
  StepStatus: status,
  StartTime: t(start),
  ...(end !== undefined ? { EndTime: t(end) } : {}),
  Metadata: { ProcessingJob: { Arn: jobArn('processing-job', procName(name)) } },
});

/** Every step of a succeeded execution, newest first as the API returns them. */
function succeededSteps(): Step[] {
  return [
    {
      StepName: 'Register',
      StepStatus: 'Succeeded',
      StartTime: t(95),
      EndTime: t(96),
      Metadata: { RegisterModel: { Arn: `arn:aws:sagemaker:us-east-1:${ACCOUNT}:model-package/medllama-dev/3` } },
    },
    {
      StepName: 'QualityGate',
      StepStatus: 'Succeeded',
      StartTime: t(94),
      EndTime: t(94),
      Metadata: { Condition: { Outcome: 'True' } },
    },
    proc('Evaluate', 'Succeeded', 70, 93),
    {
      StepName: 'Train',
      StepStatus: 'Succeeded',
      StartTime: t(20),
      EndTime: t(69),
      Metadata: { TrainingJob: { Arn: jobArn('training-job', TRAIN_JOB) } },
    },
    {
      ...proc('Tokenize', 'Succeeded', 12, 19),
      CacheHitResult: { SourcePipelineExecutionArn: `arn:aws:sagemaker:us-east-1:${ACCOUNT}:pipeline/x/execution/old` },
    },
    proc('Dedup', 'Succeeded', 8, 11),
    proc('Ingest', 'Succeeded', 0, 7),
  ];
}

/** SageMaker answered from recorded shapes; anything else is a test failure. */
function recordedSageMaker(opts: {
  status: DescribePipelineExecutionCommandOutput['PipelineExecutionStatus'];
  steps: Step[];
}): SageMakerLike & { sent: string[] } {
  const sent: string[] = [];
  const outputs: Record<string, [string, string]> = {
    Ingest: ['ingest', `s3://${DATA}/pipeline/${EXEC}/Ingest`],
    Dedup: ['dedup', `s3://${DATA}/pipeline/${EXEC}/Dedup`],
    // cached: the output is the earlier execution's
    Tokenize: ['tokenize', `s3://${DATA}/pipeline/old/Tokenize`],
    Evaluate: ['evaluation', `s3://${ART}/evaluation/${EXEC}/Evaluate`],
  };
  const answers: Record<string, (input: Record<string, unknown>) => unknown> = {
    DescribePipelineExecutionCommand: (): DescribePipelineExecutionCommandOutput => ({
      $metadata: {},
      PipelineArn: `arn:aws:sagemaker:us-east-1:${ACCOUNT}:pipeline/medllama-dev`,
      PipelineExecutionArn: ARN,
      PipelineExecutionStatus: opts.status,
      CreationTime: t(0),
      LastModifiedTime: t(96),
    }),
    ListPipelineExecutionStepsCommand: (): ListPipelineExecutionStepsCommandOutput => ({
      $metadata: {},
      PipelineExecutionSteps: opts.steps,
    }),
    ListPipelineParametersForExecutionCommand: () => ({
      $metadata: {},
      PipelineParameters: [
        { Name: 'TrainInstanceType', Value: 'ml.g5.2xlarge' },
        { Name: 'SeqLen', Value: '4096' },
        { Name: 'Method', Value: 'lora' },
      ],
    }),
    DescribeProcessingJobCommand: (input): DescribeProcessingJobCommandOutput => {
      const step = Object.keys(outputs).find((s) => input.ProcessingJobName === procName(s).toLowerCase())!;
      const [name, uri] = outputs[step]!;
      return {
        $metadata: {},
        ProcessingJobName: String(input.ProcessingJobName),
        ProcessingJobArn: jobArn('processing-job', String(input.ProcessingJobName)),
        ProcessingJobStatus: 'Completed',
        ProcessingResources: { ClusterConfig: { InstanceCount: 1, InstanceType: 'ml.m5.xlarge', VolumeSizeInGB: 30 } },
        AppSpecification: { ImageUri: 'x' },
        RoleArn: `arn:aws:iam::${ACCOUNT}:role/r`,
        CreationTime: t(0),
        // Evaluate's environment as SageMaker ran it: the definition's MLflow variables, expressions resolved
        ...(step === 'Evaluate'
          ? {
              Environment: {
                MLFLOW_TRACKING_URI: MLFLOW_APP,
                MLFLOW_EXPERIMENT_NAME: 'medllama-dev',
                MEDLLAMA_MLFLOW_RUN_NAME: EXEC,
              },
            }
          : {}),
        ProcessingOutputConfig: {
          Outputs: [
            {
              OutputName: name,
              S3Output: { S3Uri: uri, LocalPath: '/opt/ml/processing/output', S3UploadMode: 'EndOfJob' },
            },
          ],
        },
      };
    },
    DescribeTrainingJobCommand: (input): DescribeTrainingJobCommandOutput => {
      expect(input.TrainingJobName).toBe(TRAIN_JOB.toLowerCase());
      return {
        $metadata: {},
        TrainingJobName: TRAIN_JOB,
        TrainingJobArn: jobArn('training-job', TRAIN_JOB),
        TrainingJobStatus: 'Completed',
        SecondaryStatus: 'Completed',
        AlgorithmSpecification: {
          TrainingInputMode: 'File',
          TrainingImage: 'x',
          MetricDefinitions: [
            { Name: 'train:loss', Regex: 'metric name=train_loss value=([-+0-9.eE]+)' },
            { Name: 'train:tokens_per_second', Regex: 'metric name=tokens_per_second value=([-+0-9.eE]+)' },
            { Name: 'validation:loss', Regex: 'metric name=eval_loss value=([-+0-9.eE]+)' },
          ],
        },
        OutputDataConfig: { S3OutputPath: `s3://${ART}/training` },
        ModelArtifacts: { S3ModelArtifacts: `s3://${ART}/training/${TRAIN_JOB}/output/model.tar.gz` },
        ResourceConfig: { InstanceType: 'ml.g5.2xlarge', InstanceCount: 2, VolumeSizeInGB: 300 },
        StoppingCondition: { MaxRuntimeInSeconds: 432000 },
        CreationTime: t(20),
        TrainingStartTime: t(22),
        TrainingEndTime: t(68),
        BillableTimeInSeconds: 2760,
      };
    },
    DescribeModelPackageCommand: () => ({
      $metadata: {},
      ModelPackageName: 'medllama-dev',
      ModelPackageGroupName: 'medllama-dev',
      ModelPackageVersion: 3,
      ModelPackageArn: `arn:aws:sagemaker:us-east-1:${ACCOUNT}:model-package/medllama-dev/3`,
      ModelPackageStatus: 'Completed',
      ModelApprovalStatus: 'PendingManualApproval',
      CreationTime: t(96),
    }),
  };
  return {
    sent,
    send: (async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push(command.constructor.name);
      const answer = answers[command.constructor.name];
      if (!answer) throw new Error(`unexpected SageMaker call ${command.constructor.name}`);
      return answer(command.input);
    }) as unknown as SageMakerLike['send'],
  };
}

describe('helpers', () => {
  test('metric names, retention periods and tar extraction', () => {
    expect(logMetricName({ Name: 'train:loss', Regex: 'metric name=train_loss value=([-+0-9.eE]+)' })).toBe(
      'train_loss',
    );
    expect(logMetricName({ Name: 'x:y', Regex: 'loss=(\\S+)' })).toBe('x_y');
    expect(metricPeriod(t(0), NOW)).toBe(60);
    expect(metricPeriod(t(0), new Date(t(0).getTime() + 30 * 86_400_000))).toBe(300);
    expect(metricPeriod(t(0), new Date(t(0).getTime() + 90 * 86_400_000))).toBe(3600);
    const dir = mkdtempSync(join(tmpdir(), 'medllama-tar-'));
    mkdirSync(join(dir, 'src/sub'), { recursive: true });
    writeFileSync(join(dir, 'src/sub/training_summary.json'), '{"deep":true}');
    writeFileSync(join(dir, 'src/training_summary.json'), '{"top":true}');
    for (const format of ['gnu', 'ustar']) {
      execFileSync('tar', [`--format=${format}`, '-czf', join(dir, `${format}.tar.gz`), '-C', join(dir, 'src'), '.']);
      const archive = readFileSync(join(dir, `${format}.tar.gz`));
      expect(extractFromTarGz(archive, 'training_summary.json')?.toString()).toBe('{"top":true}');
      expect(extractFromTarGz(archive, 'nope.json')).toBeUndefined();
    }
  });
});

describe('medllama report --execution against moto (S3, CloudWatch) and recorded SageMaker responses', () => {
  let moto: MotoServer;
  let s3: S3Client;
  let cloudwatch: CloudWatchClient;

  const put = (bucket: string, key: string, body: string | Uint8Array) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

  beforeAll(async () => {
    moto = await startMoto('us-east-1');
    s3 = new S3Client(moto.clientConfig);
    cloudwatch = new CloudWatchClient(moto.clientConfig);
    for (const b of [DATA, ART]) await s3.send(new CreateBucketCommand({ Bucket: b }));
    const j = (v: unknown) => JSON.stringify(v);
    await put(
      DATA,
      `pipeline/${EXEC}/Ingest/ingest-report-00000-of-00002.json`,
      j({
        inputs: 600,
        documents: 500,
        rejected_by_reason: { 'license-not-allowed': 70, 'too-short': 30 },
        licenses: { 'CC BY': 450, CC0: 50 },
      }),
    );
    await put(
      DATA,
      `pipeline/${EXEC}/Ingest/ingest-report-00001-of-00002.json`,
      j({
        inputs: 400,
        documents: 380,
        rejected_by_reason: { notice: 20 },
        licenses: { 'CC BY': 380 },
      }),
    );
    await put(DATA, `pipeline/${EXEC}/Ingest/documents/part-00000-of-00002.jsonl`, '{"id":"PMC1"}\n');
    await put(DATA, `pipeline/${EXEC}/Dedup/dedup-report.json`, j({ kept: 860, duplicates: { total: 20 } }));
    await put(
      DATA,
      'pipeline/old/Tokenize/tokenize-report.json',
      j({
        splits: { train: { documents: 840, tokens: 7_300_000, blocks: 1782 } },
      }),
    );
    await put(
      ART,
      `evaluation/${EXEC}/Evaluate/evaluation.json`,
      j({
        schema_version: '1.0.0',
        metrics: { test_perplexity: { improvement: { value: 0.183, ci95: [0.15, 0.21] } } },
        gate: { perplexity_improvement: 0.183, pubmedqa_delta: 0.04, general_perplexity_regression: 0.012 },
      }),
    );
    await put(
      ART,
      `evaluation/${EXEC}/Evaluate/qualitative.jsonl`,
      `${j({
        id: 'q1',
        prompt: 'First-line treatment of type 2 diabetes is',
        base_answer: 'unclear.',
        tuned_answer: 'metformin.',
      })}\n`,
    );
    const dir = mkdtempSync(join(tmpdir(), 'medllama-out-'));
    writeFileSync(join(dir, 'training_summary.json'), j({ final_train_loss: 1.91, steps: 1200 }));
    execFileSync('tar', ['-czf', join(dir, 'output.tar.gz'), '-C', dir, 'training_summary.json']);
    await put(ART, `training/${TRAIN_JOB}/output/output.tar.gz`, readFileSync(join(dir, 'output.tar.gz')));
    // train:loss at 1, 2, 3 minutes after the job started; another host's data must not show up
    const host = (h: string) => [{ Name: 'Host', Value: h }];
    await cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: '/aws/sagemaker/TrainingJobs',
        MetricData: [
          ...[2.5, 2.1, 1.9].map((v, i) => ({
            MetricName: 'train:loss',
            Dimensions: host(`${TRAIN_JOB}/algo-1`),
            Timestamp: t(23 + i),
            Value: v,
          })),
          {
            MetricName: 'train:tokens_per_second',
            Dimensions: host(`${TRAIN_JOB}/algo-1`),
            Timestamp: t(24),
            Value: 1800,
          },
          { MetricName: 'train:loss', Dimensions: host('another-job/algo-1'), Timestamp: t(24), Value: 99 },
        ],
      }),
    );
  }, 60_000);
  afterAll(async () => {
    s3?.destroy();
    cloudwatch?.destroy();
    await moto?.stop();
  });

  const clients = (sagemaker: SageMakerLike): AwsReportClients => ({ sagemaker, s3, cloudwatch });

  test('a succeeded execution: every artifact fetched, laid out like a local run, rendered by the same code', async () => {
    const out = mkdtempSync(join(tmpdir(), 'medllama-aws-report-'));
    const sm = recordedSageMaker({ status: 'Succeeded', steps: succeededSteps() });
    const { sources } = await fetchExecution(clients(sm), ARN, out, { now: NOW });
    expect(sources.entries.filter((e) => e.missing)).toEqual([]);
    expect(sm.sent.slice(0, 2)).toEqual(['DescribePipelineExecutionCommand', 'ListPipelineExecutionStepsCommand']);
    expect(sources.entries.find((e) => e.artifact === 'tokenize-report.json')?.uri).toBe(
      `s3://${DATA}/pipeline/old/Tokenize/tokenize-report.json`,
    );
    expect(existsSync(join(out, 'artifacts/Ingest/documents'))).toBe(false); // only the reports
    const state = JSON.parse(readFileSync(join(out, 'state.json'), 'utf8'));
    expect(state.order).toEqual(['Ingest', 'Dedup', 'Tokenize', 'Train', 'Evaluate', 'QualityGate', 'Register']);
    expect(state.steps.Tokenize).toMatchObject({ type: 'Processing', reused: 'cache', elapsedSeconds: 420 });
    expect(state.steps.QualityGate).toMatchObject({ type: 'Condition', outcome: true });

    const data = collectRun(out);
    expect(data.metrics).toEqual({
      train_loss: [
        { step: 1, value: 2.5 },
        { step: 2, value: 2.1 },
        { step: 3, value: 1.9 },
      ],
      tokens_per_second: [{ step: 2, value: 1800 }],
    });
    const md = renderMarkdown(data);
    expect(md).toContain(`Fetched from SageMaker pipeline execution \`${ARN}\` (status Succeeded)`);
    expect(md).toContain('| input articles | 1,000 |');
    expect(md).toContain('| kept after dedup | 860 |');
    expect(md).toContain('| train | 840 | 7,300,000 | 1,782 |');
    expect(md).toContain('| final training loss (nats per token) | 1.91 |');
    expect(md).toContain(
      '| Held-out PMC perplexity (lower is better) | – | – | relative improvement (base − tuned) / base: 0.183 [0.15, 0.21] |',
    );
    expect(md).toContain('First-line treatment of type 2 diabetes is');
    expect(md).toContain('Registered as medllama-dev version 3 with status PendingManualApproval.');
    // 2760 s per instance × 2 instances × $1.52/h = $2.33
    expect(md).toContain('Training: 46m00s billable per instance on 2 × ml.g5.2xlarge ≈ $2.33');
    expect(md).toContain('Loss from CloudWatch /aws/sagemaker/TrainingJobs, Host=');
    expect(md).not.toContain('could not be fetched');
    expect(renderSlides(data)).toContain('minutes since the training job started');

    // a second fetch of the same folder replaces the first; a local run folder is refused
    await fetchExecution(clients(recordedSageMaker({ status: 'Executing', steps: [] })), ARN, out, { now: NOW });
    expect(existsSync(join(out, 'artifacts'))).toBe(false);
    expect(existsSync(join(out, 'metrics/Train.json'))).toBe(false);
    const local = mkdtempSync(join(tmpdir(), 'medllama-local-'));
    writeFileSync(join(local, 'state.json'), '{}');
    await expect(fetchExecution(clients(sm), ARN, local, { now: NOW })).rejects.toThrow(/holds a local run/);
  });

  test("the report goes into the execution's MLflow run: Evaluate's environment names it, the plugin signs the calls", async () => {
    const app = await startMlflowApp(`s3://${ART}/mlflow`);
    try {
      const out = mkdtempSync(join(tmpdir(), 'medllama-aws-mlflow-'));
      const logs: string[] = [];
      const cmd = createReportCommand({
        clients: () => clients(recordedSageMaker({ status: 'Succeeded', steps: succeededSteps() })),
        log: (l) => logs.push(l),
        // the real logger (python -m medllama.tracking with the App ARN), pointed at the stand-in App and moto S3
        logToMlflow: (run, files) =>
          logReportToMlflow(
            {
              ...run,
              environment: {
                SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT: app.endpoint,
                MLFLOW_S3_ENDPOINT_URL: moto.endpoint,
                AWS_ACCESS_KEY_ID: 'testing',
                AWS_SECRET_ACCESS_KEY: 'testing',
                AWS_SESSION_TOKEN: undefined,
                AWS_PROFILE: undefined,
              },
            },
            files,
            venvPython,
          ),
      });
      expect(await cmd.run(['--execution', ARN, '--out', out])).toBe(0);
      expect(logs).toContain(`mlflow: the report is in run ${EXEC} of experiment medllama-dev in ${MLFLOW_APP}`);
      const sources = JSON.parse(readFileSync(join(out, 'sources.json'), 'utf8'));
      expect(sources.mlflow).toEqual({ resourceArn: MLFLOW_APP, experimentName: 'medllama-dev', runName: EXEC });
      expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain(
        `MLflow: run ${EXEC} of experiment medllama-dev in ${MLFLOW_APP}`,
      );
      // the three files, in the App's artifact store under the run
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: ART, Prefix: 'mlflow/' }));
      const keys = (listed.Contents ?? []).map((o) => o.Key!.replace(/^mlflow\/\d+\/[0-9a-f]+\//, '')).sort();
      expect(keys).toEqual([
        'artifacts/report/report.html',
        'artifacts/report/report.md',
        'artifacts/report/slides.html',
      ]);
      // every REST call signed for SageMaker's MLflow endpoint
      const api = app.requests().filter(([, path]) => path.startsWith('/api/'));
      expect(api.length).toBeGreaterThan(0);
      for (const [, , auth] of api)
        expect(auth).toMatch(/^AWS4-HMAC-SHA256 Credential=testing\/\d+\/us-east-1\/sagemaker\//);
    } finally {
      await app.stop();
    }
  }, 120_000);

  test('a running execution: renders what exists, says so, and names every missing artifact with the reason', async () => {
    const out = mkdtempSync(join(tmpdir(), 'medllama-aws-running-'));
    const steps = [proc('Dedup', 'Executing', 8), proc('Ingest', 'Succeeded', 0, 7)];
    const logs: string[] = [];
    const cmd = createReportCommand({
      clients: () => clients(recordedSageMaker({ status: 'Executing', steps })),
      log: (l) => logs.push(l),
    });
    expect(await cmd.run(['--execution', ARN, '--out', out])).toBe(0);
    expect(logs).toContain('the execution is still running: the report shows what exists now');
    expect(logs).toContain('missing: Dedup dedup-report.json: step Dedup is Executing');
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('**The execution is still running**');
    expect(md).toContain('| input articles | 1,000 |');
    expect(md).toContain('| Dedup | dedup-report.json | step Dedup is Executing |');
    expect(md).toContain(
      '| Tokenize | tokenize-report.json | step Tokenize has not started yet (the execution is still Executing) |',
    );
    expect(md).toContain('| Train | training curves | step Train has not started yet');
    expect(md).toContain('evaluation.json is not available in this run.');
    expect(md).toContain('No loss curve is available for this execution');
    expect(md).not.toContain('| training_summary.json | value |');
    expect(existsSync(join(out, 'slides.html'))).toBe(true);
  });

  test('a missing object is reported with its URI and the S3 error, not filled in', async () => {
    const out = mkdtempSync(join(tmpdir(), 'medllama-aws-missing-'));
    const steps = succeededSteps().map((s) =>
      s.StepName === 'Evaluate'
        ? { ...s, Metadata: { ProcessingJob: { Arn: jobArn('processing-job', procName('Evaluate')) } } }
        : s,
    );
    const sm = recordedSageMaker({ status: 'Succeeded', steps });
    // an execution whose Evaluate output prefix has no qualitative.jsonl: point Evaluate at the data bucket
    const send = sm.send;
    const wrapped: SageMakerLike = {
      send: (async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        const res = (await send(command as never)) as DescribeProcessingJobCommandOutput;
        if (
          command.constructor.name === 'DescribeProcessingJobCommand' &&
          /evaluate/.test(String(command.input.ProcessingJobName))
        )
          return {
            ...res,
            ProcessingOutputConfig: {
              Outputs: [
                {
                  OutputName: 'evaluation',
                  S3Output: {
                    S3Uri: `s3://${ART}/evaluation/none/Evaluate`,
                    LocalPath: '/x',
                    S3UploadMode: 'EndOfJob',
                  },
                },
              ],
            },
          };
        return res;
      }) as unknown as SageMakerLike['send'],
    };
    const { sources } = await fetchExecution(clients(wrapped), ARN, out, { now: NOW });
    const missing = sources.entries.filter((e) => e.missing);
    expect(missing.map((e) => [e.step, e.artifact, e.uri])).toEqual([
      ['Evaluate', 'evaluation.json', `s3://${ART}/evaluation/none/Evaluate/evaluation.json`],
      ['Evaluate', 'qualitative.jsonl', `s3://${ART}/evaluation/none/Evaluate/qualitative.jsonl`],
    ]);
    expect(missing[0]!.missing).toMatch(/NoSuchKey/);
    const md = renderMarkdown(collectRun(out));
    expect(md).toContain('2 artifact(s) could not be fetched');
    expect(md).toMatch(
      /\| Evaluate \| evaluation\.json \| NoSuchKey.*\(s3:\/\/medllama-artifacts-test\/evaluation\/none\/Evaluate\/evaluation\.json\) \|/,
    );
    expect(md).toContain('evaluation.json is not available in this run.');
  });

  test('an unknown execution is a clear error (moto SageMaker); bad arguments are usage errors', async () => {
    const sagemaker = new SageMakerClient(moto.clientConfig);
    try {
      const out = mkdtempSync(join(tmpdir(), 'medllama-aws-unknown-'));
      await expect(fetchExecution(clients(sagemaker), ARN, out, { now: NOW })).rejects.toThrow(
        new RegExp(`pipeline execution ${ARN.replace(/[/.]/g, '\\$&')} not found in us-east-1`),
      );
      expect(existsSync(join(out, 'state.json'))).toBe(false);
    } finally {
      sagemaker.destroy();
    }
    const cmd = createReportCommand({
      clients: () => {
        throw new Error('no AWS call expected');
      },
      log: () => {},
    });
    await expect(cmd.run(['--execution', 'arn:aws:sagemaker:us-east-1:1:pipeline/x'])).rejects.toThrow(UsageError);
    await expect(cmd.run(['--run', 'a', '--execution', ARN])).rejects.toThrow(/either --run or --execution/);
    await expect(cmd.run([])).rejects.toThrow(/--run <run folder> or --execution/);
    await expect(cmd.run(['--out'])).rejects.toThrow(/--out needs a value/);
  });
});
