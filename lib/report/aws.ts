/**
 * Downloads what a SageMaker pipeline execution produced into a local folder laid out like a local run
 * (state.json, artifacts/<Step>/..., metrics/Train.json, sources.json), so collect.ts and render.ts serve both.
 *
 * - Execution and steps: DescribePipelineExecution + ListPipelineExecutionSteps (+ parameters), via status.ts.
 * - Step outputs: DescribeProcessingJob (each output's S3 URI; a cached step points at the execution that made
 *   it) and DescribeTrainingJob (S3OutputPath: `<path>/<job>/output/output.tar.gz` holds SM_OUTPUT_DATA_DIR).
 * - Training curves: CloudWatch GetMetricData on `/aws/sagemaker/TrainingJobs`, dimension Host = `<job>/algo-1`,
 *   one query per metric definition of the job (from DescribeTrainingJob, else metric_definitions.json).
 * Anything that cannot be fetched is listed in sources.json with the reason; nothing is filled in.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { type CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import {
  DescribeModelPackageCommand,
  DescribeProcessingJobCommand,
  DescribeTrainingJobCommand,
  type DescribeTrainingJobCommandOutput,
} from '@aws-sdk/client-sagemaker';
import type { RunState, StepRecord } from '../../pipeline-steps/local/types.ts';
import { loadMetricDefinitions } from '../../pipeline-steps/metrics.ts';
import type { SageMakerLike } from '../aws/clients.ts';
import { type ExecutionStatus, executionStatus, type StepStatus } from '../cli/commands/status.ts';
import { type MlflowRunLink, mlflowRunOfEnvironment, mlflowRunOfJob } from '../cli/mlflow-link.ts';
import type { MetricPoint } from './collect.ts';

export type { S3Like } from '../aws/clients.ts';

import type { S3Like } from '../aws/clients.ts';
export type CloudWatchLike = Pick<CloudWatchClient, 'send'>;

export interface AwsReportClients {
  readonly sagemaker: SageMakerLike;
  readonly s3: S3Like;
  readonly cloudwatch: CloudWatchLike;
}

export const EXECUTION_ARN =
  /^arn:aws[a-z-]*:sagemaker:([a-z0-9-]+):\d{12}:pipeline\/([^/]+)\/execution\/([a-z0-9]+)$/i;

/** One artifact the report wanted: where it came from, or why it is missing. */
export interface SourceEntry {
  readonly step: string;
  readonly artifact: string;
  readonly uri?: string;
  /** Relative to the report folder, when fetched. */
  readonly file?: string;
  /** Why it is missing (absent when fetched). */
  readonly missing?: string;
}

/** sources.json: what an AWS report was made from. */
export interface Sources {
  readonly schema: 'medllama-report-sources/1';
  readonly executionArn: string;
  readonly executionStatus: string;
  readonly entries: SourceEntry[];
  /** The execution's MLflow run (Evaluate's environment, else Train's MlflowConfig), when it logged to one. */
  readonly mlflow?: MlflowRunLink;
}

/** metrics/Train.json: training curves from CloudWatch (x = minutes since the training job started). */
export interface MetricsFile {
  readonly source: string;
  readonly xLabel: string;
  readonly metrics: Record<string, MetricPoint[]>;
}

const errText = (err: unknown): string => {
  const e = err as { name?: string; message?: string };
  return e?.name && e.message && !e.message.startsWith(e.name)
    ? `${e.name}: ${e.message}`
    : (e?.message ?? String(err));
};

function parseS3(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new Error(`not an s3:// URI: ${uri}`);
  return { bucket: m[1]!, key: m[2]! };
}

const joinUri = (base: string, name: string) => `${base.replace(/\/+$/, '')}/${name}`;
const arnName = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);

async function getObject(s3: S3Like, uri: string): Promise<Uint8Array> {
  const { bucket, key } = parseS3(uri);
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!res.Body) throw new Error(`empty body for ${uri}`);
  return res.Body.transformToByteArray();
}

/** Object names directly under `prefixUri/` (no deeper keys), all pages. */
async function listNames(s3: S3Like, prefixUri: string): Promise<string[]> {
  const { bucket, key } = parseS3(joinUri(prefixUri, ''));
  const names: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: key, Delimiter: '/', ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) if (o.Key) names.push(o.Key.slice(key.length));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return names.sort();
}

/** Reads one file out of a (gzipped) ustar archive by base name; the shallowest match wins. */
export function extractFromTarGz(archive: Uint8Array, baseName: string): Buffer | undefined {
  const tar = gunzipSync(archive);
  let found: { depth: number; data: Buffer } | undefined;
  let off = 0;
  const text = (start: number, len: number) => {
    const raw = tar.subarray(start, start + len);
    const end = raw.indexOf(0);
    return raw.subarray(0, end < 0 ? len : end).toString('utf8');
  };
  while (off + 512 <= tar.length) {
    if (tar.subarray(off, off + 512).every((b) => b === 0)) break;
    const name = text(off, 100);
    const size = Number.parseInt(text(off + 124, 12).trim() || '0', 8);
    const type = text(off + 156, 1);
    // POSIX ustar (magic "ustar\0") has a name prefix; GNU tar ("ustar  ") uses those bytes for other fields.
    const prefix = tar.subarray(off + 257, off + 263).toString('latin1') === 'ustar\0' ? text(off + 345, 155) : '';
    const path = (prefix ? `${prefix}/${name}` : name).replace(/^\.\//, '');
    if (!Number.isFinite(size) || size < 0) throw new Error('malformed tar header');
    const isFile = type === '0' || type === '' || type === '\0';
    if (isFile && (path === baseName || path.endsWith(`/${baseName}`))) {
      const depth = path.split('/').length;
      if (!found || depth < found.depth)
        found = { depth, data: Buffer.from(tar.subarray(off + 512, off + 512 + size)) };
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return found?.data;
}

/** `metric name=<n>` in a metric definition's regex gives the log name the report uses; else the Name. */
export function logMetricName(def: { Name: string; Regex: string }): string {
  return /metric name=([A-Za-z0-9_]+)/.exec(def.Regex)?.[1] ?? def.Name.replace(/[^A-Za-z0-9_]/g, '_');
}

/** CloudWatch keeps 1-minute points for 15 days, 5-minute for 63 days, then hourly. */
export function metricPeriod(start: Date, now: Date): number {
  const days = (now.getTime() - start.getTime()) / 86_400_000;
  return days < 14 ? 60 : days < 62 ? 300 : 3600;
}

/** Training curves of one training job from CloudWatch, keyed by log metric name. */
export async function trainingMetrics(
  cloudwatch: CloudWatchLike,
  job: { name: string; start: Date; end: Date; definitions: readonly { Name: string; Regex: string }[] },
  now: Date,
): Promise<Record<string, MetricPoint[]>> {
  const period = metricPeriod(job.start, now);
  const queries: MetricDataQuery[] = job.definitions.map((d, i) => ({
    Id: `m${i}`,
    Label: d.Name,
    MetricStat: {
      Metric: {
        Namespace: '/aws/sagemaker/TrainingJobs',
        MetricName: d.Name,
        Dimensions: [{ Name: 'Host', Value: `${job.name}/algo-1` }],
      },
      Period: period,
      Stat: 'Average',
    },
    ReturnData: true,
  }));
  const out: Record<string, MetricPoint[]> = {};
  // Period boundaries: start on a whole period before the job, end one period after it.
  const startTime = new Date(Math.floor(job.start.getTime() / (period * 1000)) * period * 1000);
  const endTime = new Date(Math.ceil(job.end.getTime() / (period * 1000)) * period * 1000 + period * 1000);
  for (let i = 0; i < queries.length; i += 500) {
    let token: string | undefined;
    do {
      const page = await cloudwatch.send(
        new GetMetricDataCommand({
          MetricDataQueries: queries.slice(i, i + 500),
          StartTime: startTime,
          EndTime: endTime,
          ScanBy: 'TimestampAscending',
          NextToken: token,
        }),
      );
      for (const r of page.MetricDataResults ?? []) {
        const def = job.definitions[Number(r.Id?.slice(1))];
        if (!def) continue;
        const name = logMetricName(def);
        const points = (r.Timestamps ?? [])
          .map((t, k) => ({
            step: Number(((t.getTime() - job.start.getTime()) / 60_000).toFixed(3)),
            value: r.Values?.[k] ?? Number.NaN,
          }))
          .filter((p) => Number.isFinite(p.value));
        if (points.length) out[name] = [...(out[name] ?? []), ...points].sort((a, b) => a.step - b.step);
      }
      token = page.NextToken;
    } while (token);
  }
  return Object.fromEntries(Object.entries(out).sort((a, b) => a[0].localeCompare(b[0])));
}

const STATUS: Record<string, RunState['status']> = {
  Executing: 'Executing',
  Stopping: 'Executing',
  Succeeded: 'Succeeded',
  Failed: 'Failed',
  Stopped: 'Stopped',
};

function stepType(s: StepStatus): string {
  const r = s.resource ?? '';
  if (/:processing-job\//.test(r)) return 'Processing';
  if (/:training-job\//.test(r)) return 'Training';
  if (/:hyper-parameter-tuning-job\//.test(r)) return 'Tuning';
  if (/:model-package\//.test(r)) return 'RegisterModel';
  if (/:model\//.test(r)) return 'Model';
  if (r.startsWith('condition:')) return 'Condition';
  if (r.startsWith('fail:')) return 'Fail';
  return 'Unknown';
}

const seconds = (a?: string, b?: string) => (a && b ? Math.max(0, (Date.parse(b) - Date.parse(a)) / 1000) : undefined);

/** What each step's outputs should contain for the report. */
const WANTED: Record<string, { output: string; files: (string | RegExp)[] }> = {
  Ingest: { output: 'ingest', files: [/^ingest-report.*\.json$/] },
  Dedup: { output: 'dedup', files: ['dedup-report.json'] },
  Tokenize: { output: 'tokenize', files: ['tokenize-report.json'] },
  Evaluate: { output: 'evaluation', files: ['evaluation.json', 'qualitative.jsonl'] },
};

export interface FetchResult {
  readonly dir: string;
  readonly status: ExecutionStatus;
  readonly sources: Sources;
  /** The execution's MLflow run, when its jobs logged to one (docs/tracking.md). */
  readonly mlflow?: MlflowRunLink;
}

/**
 * Fetches an execution into `dir`. Throws for an unknown execution; a running or failed execution is fetched as
 * far as it got, and every artifact that could not be fetched is listed with the reason in sources.json.
 */
export async function fetchExecution(
  clients: AwsReportClients,
  executionArn: string,
  dir: string,
  opts: { now?: Date; metricDefinitions?: () => { Name: string; Regex: string }[] } = {},
): Promise<FetchResult> {
  const m = EXECUTION_ARN.exec(executionArn);
  if (!m) {
    throw new Error(
      `execution ARN: got ${JSON.stringify(executionArn)}, expected arn:aws:sagemaker:<region>:<account>:pipeline/<name>/execution/<id>`,
    );
  }
  const now = opts.now ?? new Date();
  let status: ExecutionStatus;
  try {
    // the MLflow run comes from the Train and Evaluate jobs described below, not from a second DescribeTrainingJob
    status = await executionStatus(clients.sagemaker, executionArn, { lookUpMlflow: false });
  } catch (err) {
    const name = (err as { name?: string }).name ?? '';
    if (/ResourceNotFound|ValidationException|NotFound/i.test(name) || /does not exist|not found/i.test(errText(err)))
      throw new Error(`pipeline execution ${executionArn} not found in ${m[1]} (${errText(err)})`);
    throw err;
  }
  // A re-fetch replaces what an earlier one wrote, so no stale file outlives a now-missing artifact; a local
  // run folder (state.json without sources.json) is never overwritten.
  if (existsSync(join(dir, 'state.json')) && !existsSync(join(dir, 'sources.json')))
    throw new Error(`${dir} holds a local run (state.json without sources.json); choose another --out`);
  for (const sub of ['artifacts', 'metrics', 'registry']) rmSync(join(dir, sub), { recursive: true, force: true });
  const entries: SourceEntry[] = [];
  const write = (rel: string, data: Uint8Array | string) => {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data);
  };
  const running = status.status === 'Executing' || status.status === 'Stopping';
  const byName = new Map(status.steps.map((s) => [s.name, s]));
  const notRun = (step: string) =>
    running
      ? `step ${step} has not started yet (the execution is still ${status.status})`
      : `step ${step} did not run (execution ${status.status})`;
  const notDone = (s: StepStatus) =>
    s.status === 'Failed'
      ? `step ${s.name} failed${s.failureReason ? `: ${s.failureReason}` : ''}`
      : `step ${s.name} is ${s.status}`;

  const steps: Record<string, StepRecord> = {};
  for (const s of status.steps) {
    const elapsed = seconds(s.started, s.ended);
    steps[s.name] = {
      name: s.name,
      type: stepType(s),
      state: (['Succeeded', 'Failed', 'Executing', 'Stopped'].includes(s.status)
        ? s.status
        : s.status === 'Starting' || s.status === 'Stopping'
          ? 'Executing'
          : s.status) as StepRecord['state'],
      attempts: s.attempts ?? 1,
      ...(s.started ? { startedAt: s.started } : {}),
      ...(s.ended ? { endedAt: s.ended } : {}),
      ...(elapsed !== undefined ? { elapsedSeconds: elapsed } : {}),
      ...(s.failureReason ? { failureReason: s.failureReason } : {}),
      ...(s.cacheHit ? { reused: 'cache' as const } : {}),
      ...(s.resource?.startsWith('condition:') ? { outcome: /true/i.test(s.resource) } : {}),
    };
  }

  // The execution's MLflow run, as status.ts finds it: Train's MlflowConfig, else Evaluate's environment.
  let trainRun: MlflowRunLink | undefined;
  let evaluateRun: MlflowRunLink | undefined;
  // Processing steps: ask the job where each output went (a cached step's outputs live under the old execution).
  for (const [stepName, want] of Object.entries(WANTED)) {
    const s = byName.get(stepName);
    const label = (f: string | RegExp) => (typeof f === 'string' ? f : `${stepName.toLowerCase()} reports`);
    const miss = (reason: string, uri?: string) => {
      for (const f of want.files)
        entries.push({ step: stepName, artifact: label(f), ...(uri ? { uri } : {}), missing: reason });
    };
    if (!s) {
      miss(notRun(stepName));
      continue;
    }
    if (s.status !== 'Succeeded') {
      miss(notDone(s));
      continue;
    }
    if (!s.resource || !/:processing-job\//.test(s.resource)) {
      miss(`step ${stepName} reports no processing job`);
      continue;
    }
    let uri: string | undefined;
    try {
      const job = await clients.sagemaker.send(
        new DescribeProcessingJobCommand({ ProcessingJobName: arnName(s.resource) }),
      );
      uri = job.ProcessingOutputConfig?.Outputs?.find((o) => o.OutputName === want.output)?.S3Output?.S3Uri;
      if (stepName === 'Evaluate') evaluateRun = mlflowRunOfEnvironment(job.Environment);
    } catch (err) {
      miss(`DescribeProcessingJob ${arnName(s.resource)} failed: ${errText(err)}`);
      continue;
    }
    if (!uri) {
      miss(`processing job ${arnName(s.resource)} has no output named ${want.output}`);
      continue;
    }
    const rel = `artifacts/${stepName}`;
    steps[stepName] = { ...steps[stepName]!, outputs: { [want.output]: rel } };
    for (const f of want.files) {
      let names: string[];
      if (typeof f === 'string') names = [f];
      else {
        try {
          names = (await listNames(clients.s3, uri)).filter((n) => f.test(n));
        } catch (err) {
          entries.push({ step: stepName, artifact: label(f), uri, missing: `cannot list ${uri}: ${errText(err)}` });
          continue;
        }
        if (!names.length) {
          entries.push({ step: stepName, artifact: label(f), uri, missing: `no object matching ${f} under ${uri}` });
          continue;
        }
      }
      for (const n of names) {
        const src = joinUri(uri, n);
        try {
          write(`${rel}/${n}`, await getObject(clients.s3, src));
          entries.push({ step: stepName, artifact: n, uri: src, file: `${rel}/${n}` });
        } catch (err) {
          entries.push({ step: stepName, artifact: n, uri: src, missing: errText(err) });
        }
      }
    }
  }

  // Training: training_summary.json from output.tar.gz, curves from CloudWatch.
  const train = byName.get('Train');
  const trainMiss = (artifact: string, reason: string, uri?: string) =>
    entries.push({ step: 'Train', artifact, ...(uri ? { uri } : {}), missing: reason });
  if (!train) {
    trainMiss('training_summary.json', notRun('Train'));
    trainMiss('training curves', notRun('Train'));
  } else if (!train.resource || !/:training-job\//.test(train.resource)) {
    const why = train.resource
      ? `step Train ran ${train.resource} (not a single training job); fetch its best job's artifacts by hand`
      : `step Train reports no training job yet (${train.status})`;
    trainMiss('training_summary.json', why);
    trainMiss('training curves', why);
  } else {
    const arnJob = arnName(train.resource);
    let job: DescribeTrainingJobCommandOutput | undefined;
    try {
      job = await clients.sagemaker.send(new DescribeTrainingJobCommand({ TrainingJobName: arnJob }));
    } catch (err) {
      const why = `DescribeTrainingJob ${arnJob} failed: ${errText(err)}`;
      trainMiss('training_summary.json', why);
      trainMiss('training curves', why);
    }
    if (job) {
      trainRun = mlflowRunOfJob(job);
      // ARNs carry the job name lower-cased; S3 paths and the CloudWatch Host use the name as created.
      const jobName = job.TrainingJobName ?? arnName(train.resource);
      const outPath = job.OutputDataConfig?.S3OutputPath;
      const tarUri = outPath ? joinUri(joinUri(joinUri(outPath, jobName), 'output'), 'output.tar.gz') : undefined;
      if (train.status !== 'Succeeded') trainMiss('training_summary.json', notDone(train), tarUri);
      else if (!tarUri) trainMiss('training_summary.json', `training job ${jobName} has no S3OutputPath`);
      else {
        try {
          const summary = extractFromTarGz(await getObject(clients.s3, tarUri), 'training_summary.json');
          if (!summary) trainMiss('training_summary.json', `not in ${tarUri}`, tarUri);
          else {
            write('artifacts/Train/output/training_summary.json', summary);
            entries.push({
              step: 'Train',
              artifact: 'training_summary.json',
              uri: tarUri,
              file: 'artifacts/Train/output/training_summary.json',
            });
            steps.Train = { ...steps.Train!, outputs: { output: 'artifacts/Train/output' } };
          }
        } catch (err) {
          trainMiss('training_summary.json', errText(err), tarUri);
        }
      }
      const defs = job.AlgorithmSpecification?.MetricDefinitions?.filter(
        (d): d is { Name: string; Regex: string } => !!d.Name && !!d.Regex,
      );
      const definitions = defs?.length ? defs : (opts.metricDefinitions ?? loadMetricDefinitions)();
      const start = job.TrainingStartTime ?? job.CreationTime;
      const end = job.TrainingEndTime ?? now;
      if (!start) trainMiss('training curves', `training job ${jobName} has not started (${job.TrainingJobStatus})`);
      else {
        try {
          const metrics = await trainingMetrics(clients.cloudwatch, { name: jobName, start, end, definitions }, now);
          if (Object.keys(metrics).length === 0) {
            trainMiss(
              'training curves',
              `CloudWatch has no /aws/sagemaker/TrainingJobs data for Host=${jobName}/algo-1 ` +
                `(${definitions.map((d) => d.Name).join(', ')})`,
            );
          } else {
            const file: MetricsFile = {
              source: `CloudWatch /aws/sagemaker/TrainingJobs, Host=${jobName}/algo-1`,
              xLabel: 'minutes since the training job started',
              metrics,
            };
            write('metrics/Train.json', `${JSON.stringify(file, null, 2)}\n`);
            entries.push({ step: 'Train', artifact: 'training curves', file: 'metrics/Train.json' });
          }
        } catch (err) {
          trainMiss('training curves', `GetMetricData failed: ${errText(err)}`);
        }
      }
      if (job.ResourceConfig?.InstanceType) {
        steps.Train = {
          ...steps.Train!,
          properties: {
            InstanceType: job.ResourceConfig.InstanceType,
            InstanceCount: job.ResourceConfig.InstanceCount ?? 1,
            ...(job.BillableTimeInSeconds !== undefined ? { BillableTimeInSeconds: job.BillableTimeInSeconds } : {}),
          },
        };
      }
    }
  }

  // Register: the model package's group, version and approval status.
  const reg = byName.get('Register');
  if (reg?.status === 'Succeeded' && reg.resource && /:model-package\//.test(reg.resource)) {
    try {
      const pkg = await clients.sagemaker.send(new DescribeModelPackageCommand({ ModelPackageName: reg.resource }));
      const rel = `registry/${pkg.ModelPackageGroupName}/${pkg.ModelPackageVersion}.json`;
      write(
        rel,
        `${JSON.stringify(
          {
            ModelPackageArn: reg.resource,
            ModelPackageGroupName: pkg.ModelPackageGroupName ?? null,
            ModelPackageVersion: pkg.ModelPackageVersion ?? null,
            ModelApprovalStatus: pkg.ModelApprovalStatus ?? null,
          },
          null,
          2,
        )}\n`,
      );
      steps.Register = { ...steps.Register!, properties: { RegistryEntry: rel } };
    } catch (err) {
      entries.push({ step: 'Register', artifact: 'model package', uri: reg.resource, missing: errText(err) });
    }
  }

  const state: RunState = {
    schemaVersion: 1,
    runId: m[3]!,
    pipelineName: m[2]!,
    status: STATUS[status.status] ?? 'Executing',
    startedAt: status.created ?? '',
    ...(status.lastModified && !running ? { endedAt: status.lastModified } : {}),
    ...(status.failureReason ? { failureReason: status.failureReason } : {}),
    parameters: Object.fromEntries(status.parameters.map((p) => [p.name, p.value])),
    steps,
    order: status.steps.map((s) => s.name),
  };
  write('state.json', `${JSON.stringify(state, null, 2)}\n`);
  const mlflow = trainRun ?? evaluateRun;
  const order = ['Ingest', 'Dedup', 'Tokenize', 'Train', 'Evaluate', 'Register'];
  const sources: Sources = {
    schema: 'medllama-report-sources/1',
    executionArn,
    executionStatus: status.status,
    // pipeline order; stable within a step
    entries: entries
      .map((e, i) => ({ e, i, o: order.indexOf(e.step) }))
      .sort((a, b) => a.o - b.o || a.i - b.i)
      .map(({ e }) => e),
    ...(mlflow ? { mlflow } : {}),
  };
  write('sources.json', `${JSON.stringify(sources, null, 2)}\n`);
  return { dir, status, sources, ...(mlflow ? { mlflow } : {}) };
}
