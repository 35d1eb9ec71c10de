import {
  DescribePipelineExecutionCommand,
  type DescribePipelineExecutionCommandOutput,
  DescribeProcessingJobCommand,
  ListPipelineExecutionStepsCommand,
  ListPipelineExecutionsCommand,
  ListPipelineParametersForExecutionCommand,
  type ListPipelineParametersForExecutionCommandOutput,
  type PipelineExecutionStep,
} from '@aws-sdk/client-sagemaker';
import { type SageMakerLike, sageMakerClient } from '../../aws/clients.ts';
import { resolveRegion } from '../../aws/region.ts';
import type { MedLlamaConfig } from '../../config.ts';
import { pipelineNames } from '../../stacks/pipeline-stack.ts';
import { type CliCommand, UsageError } from '../command.ts';
import { cdkJsonRegion, readDeployConfig } from '../deploy-config.ts';
import { formatMlflowRun, type MlflowRunLink, mlflowRunOf, mlflowRunOfEnvironment } from '../mlflow-link.ts';
import { parseOptions, regionOption } from '../options.ts';

const usage = `usage: medllama status [EXECUTION_ARN] [--pipeline NAME] [--region REGION] [--json]

Shows one pipeline execution: its state, every step with its state, timing, job and failure reason, and the
parameters it ran with. Without EXECUTION_ARN, the newest execution of the pipeline.

Exit status: 0, or 3 when the execution failed.`;

const options = [
  { name: 'pipeline', value: 'NAME', description: 'pipeline name (default medllama-<stage> from cdk.json)' },
  regionOption("the ARN's region"),
  { name: 'json', description: 'print the collected status as JSON' },
] as const;

const EXECUTION_ARN = /^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:pipeline\/[^/]+\/execution\/[a-z0-9]+$/i;

export interface StepStatus {
  readonly name: string;
  readonly status: string;
  readonly started?: string;
  readonly ended?: string;
  readonly attempts?: number;
  /** The job or model package the step created. */
  readonly resource?: string;
  readonly failureReason?: string;
  readonly cacheHit?: boolean;
}

export interface ExecutionStatus {
  readonly executionArn: string;
  readonly displayName?: string;
  readonly status: string;
  readonly failureReason?: string;
  readonly created?: string;
  readonly lastModified?: string;
  readonly parameters: { readonly name: string; readonly value: string }[];
  /** In execution order (oldest first). */
  readonly steps: StepStatus[];
  /** The execution's MLflow run, from its Train job (docs/tracking.md). */
  readonly mlflow?: MlflowRunLink;
  /** Why the MLflow run could not be looked up (status still reports everything else). */
  readonly mlflowError?: string;
}

const iso = (d: Date | undefined) => d?.toISOString().replace(/\.\d+Z$/, 'Z');

function stepResource(step: PipelineExecutionStep): string | undefined {
  const m = step.Metadata;
  return (
    m?.TrainingJob?.Arn ??
    m?.ProcessingJob?.Arn ??
    m?.TuningJob?.Arn ??
    m?.RegisterModel?.Arn ??
    m?.Model?.Arn ??
    (m?.Condition?.Outcome ? `condition: ${m.Condition.Outcome}` : undefined) ??
    (m?.Fail?.ErrorMessage ? `fail: ${m.Fail.ErrorMessage}` : undefined)
  );
}

/** The newest execution of `pipelineName`. */
export async function latestExecution(client: SageMakerLike, pipelineName: string): Promise<string> {
  const page = await client.send(
    new ListPipelineExecutionsCommand({
      PipelineName: pipelineName,
      SortBy: 'CreationTime',
      SortOrder: 'Descending',
      MaxResults: 1,
    }),
  );
  const newest = [...(page.PipelineExecutionSummaries ?? [])].sort(
    (a, b) => (b.StartTime?.getTime() ?? 0) - (a.StartTime?.getTime() ?? 0),
  )[0];
  if (!newest?.PipelineExecutionArn) throw new Error(`pipeline ${pipelineName} has no executions yet`);
  return newest.PipelineExecutionArn;
}

/**
 * Collects an execution's state, steps (all pages), parameters and its MLflow run (`lookUpMlflow: false` leaves the
 * run out, for a caller that describes the Train and Evaluate jobs itself).
 */
export async function executionStatus(
  client: SageMakerLike,
  executionArn: string,
  { lookUpMlflow = true }: { readonly lookUpMlflow?: boolean } = {},
): Promise<ExecutionStatus> {
  const execution: DescribePipelineExecutionCommandOutput = await client.send(
    new DescribePipelineExecutionCommand({ PipelineExecutionArn: executionArn }),
  );
  const steps: PipelineExecutionStep[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListPipelineExecutionStepsCommand({
        PipelineExecutionArn: executionArn,
        NextToken: token,
        SortOrder: 'Ascending',
      }),
    );
    steps.push(...(page.PipelineExecutionSteps ?? []));
    token = page.NextToken;
  } while (token);
  const parameters: { name: string; value: string }[] = [];
  token = undefined;
  do {
    const page: ListPipelineParametersForExecutionCommandOutput = await client.send(
      new ListPipelineParametersForExecutionCommand({ PipelineExecutionArn: executionArn, NextToken: token }),
    );
    for (const p of page.PipelineParameters ?? []) parameters.push({ name: p.Name ?? '', value: p.Value ?? '' });
    token = page.NextToken;
  } while (token);
  // The execution's MLflow run: Train's MlflowConfig (with the run's ids); with a tuning step, whose trials have
  // none, Evaluate's environment names it once Evaluate has started.
  const train = steps.find((s) => s.Metadata?.TrainingJob?.Arn && s.StepName === 'Train')?.Metadata?.TrainingJob?.Arn;
  const evaluate = steps.find((s) => s.StepName === 'Evaluate')?.Metadata?.ProcessingJob?.Arn;
  let mlflow: MlflowRunLink | undefined;
  let mlflowError: string | undefined;
  try {
    if (train && lookUpMlflow) mlflow = await mlflowRunOf(client, train);
    if (!mlflow && evaluate && lookUpMlflow) {
      const job = await client.send(
        new DescribeProcessingJobCommand({ ProcessingJobName: evaluate.slice(evaluate.lastIndexOf('/') + 1) }),
      );
      mlflow = mlflowRunOfEnvironment(job.Environment);
    }
  } catch (err) {
    mlflowError = (err as Error).message;
  }
  return {
    executionArn,
    ...(mlflow ? { mlflow } : {}),
    ...(mlflowError ? { mlflowError } : {}),
    ...(execution.PipelineExecutionDisplayName ? { displayName: execution.PipelineExecutionDisplayName } : {}),
    status: execution.PipelineExecutionStatus ?? 'Unknown',
    ...(execution.FailureReason ? { failureReason: execution.FailureReason } : {}),
    ...(execution.CreationTime ? { created: iso(execution.CreationTime) } : {}),
    ...(execution.LastModifiedTime ? { lastModified: iso(execution.LastModifiedTime) } : {}),
    parameters: parameters.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    steps: steps
      .map((s) => ({ s, t: s.StartTime?.getTime() ?? Number.MAX_SAFE_INTEGER }))
      .sort((a, b) => a.t - b.t)
      .map(({ s }) => {
        const resource = stepResource(s);
        return {
          name: s.StepName ?? '?',
          status: s.StepStatus ?? 'Unknown',
          ...(s.StartTime ? { started: iso(s.StartTime) } : {}),
          ...(s.EndTime ? { ended: iso(s.EndTime) } : {}),
          ...(s.AttemptCount ? { attempts: s.AttemptCount } : {}),
          ...(resource ? { resource } : {}),
          ...(s.FailureReason ? { failureReason: s.FailureReason } : {}),
          ...(s.CacheHitResult?.SourcePipelineExecutionArn ? { cacheHit: true } : {}),
        };
      }),
  };
}

function duration(start?: string, end?: string): string {
  if (!start || !end) return '';
  const s = Math.round((Date.parse(end) - Date.parse(start)) / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Human-readable lines: header, one line per step (plus its failure reason), a progress summary, parameters. */
export function formatStatus(status: ExecutionStatus): string[] {
  const lines = [
    `execution ${status.executionArn}${status.displayName ? ` (${status.displayName})` : ''}`,
    `state     ${status.status}${status.created ? `, started ${status.created}` : ''}`,
  ];
  if (status.failureReason) lines.push(`reason    ${status.failureReason}`);
  if (status.steps.length === 0) {
    lines.push('steps     none reported yet');
  } else {
    const width = Math.max(...status.steps.map((s) => s.name.length), 4);
    lines.push('', `  ${'step'.padEnd(width)}  ${'state'.padEnd(10)}  ${'took'.padEnd(7)}  job / outcome`);
    for (const s of status.steps) {
      const took = duration(s.started, s.ended);
      const extra = [
        s.resource ?? '',
        s.cacheHit ? '(cached)' : '',
        s.attempts && s.attempts > 1 ? `(${s.attempts} attempts)` : '',
      ]
        .filter(Boolean)
        .join(' ');
      lines.push(`  ${s.name.padEnd(width)}  ${s.status.padEnd(10)}  ${took.padEnd(7)}  ${extra}`.trimEnd());
      if (s.failureReason) lines.push(`  ${''.padEnd(width)}  ↳ ${s.failureReason}`);
    }
    const count = (state: string) => status.steps.filter((s) => s.status === state).length;
    lines.push(
      '',
      `progress  ${count('Succeeded')} succeeded, ${count('Executing') + count('Starting')} running, ${count('Failed')} failed of ${status.steps.length} started steps`,
    );
  }
  if (status.parameters.length) {
    lines.push(`params    ${status.parameters.map((p) => `${p.name}=${p.value}`).join(' ')}`);
  }
  if (status.mlflow) lines.push(...formatMlflowRun(status.mlflow));
  else if (status.mlflowError) lines.push(`mlflow    not looked up: ${status.mlflowError}`);
  return lines;
}

export interface StatusDeps {
  readonly client: (region: string | undefined) => SageMakerLike;
  readonly config: () => MedLlamaConfig;
  /** `medllama.region` as cdk.json writes it (default: read from the repository's cdk.json). */
  readonly cdkJsonRegion?: () => string | undefined;
  readonly log: (line: string) => void;
}

const defaultDeps: StatusDeps = {
  client: (region) => sageMakerClient({ region }),
  config: () => readDeployConfig(),
  log: (line) => console.log(line),
};

export function createStatusCommand(deps: StatusDeps = defaultDeps): CliCommand {
  return {
    name: 'status',
    summary: 'show a pipeline execution: state, steps, failure reasons',
    usage,
    options,
    async run(argv: string[]): Promise<number> {
      const { values, positionals } = parseOptions(argv, options, { positionals: true });
      if (positionals.length > 1) throw new UsageError(`expected at most one execution ARN, got ${positionals.length}`);
      const arn = positionals[0];
      if (arn !== undefined && !EXECUTION_ARN.test(arn)) {
        throw new UsageError(
          `execution ARN: got ${JSON.stringify(arn)}, expected arn:aws:sagemaker:<region>:<account>:pipeline/<name>/execution/<id>`,
        );
      }
      // With an ARN, neither the config (pipeline name) nor cdk.json's region is needed.
      const config = arn ? undefined : deps.config();
      const { region } = resolveRegion({ flag: values.region, arn, cdkJson: deps.cdkJsonRegion ?? cdkJsonRegion });
      const client = deps.client(region);
      const executionArn =
        arn ?? (await latestExecution(client, values.pipeline ?? pipelineNames(config!.stage).pipelineName));
      const status = await executionStatus(client, executionArn);
      if (values.json) deps.log(JSON.stringify(status, null, 2));
      else for (const line of formatStatus(status)) deps.log(line);
      return status.status === 'Failed' ? 3 : 0;
    },
  };
}

export const command = createStatusCommand();
