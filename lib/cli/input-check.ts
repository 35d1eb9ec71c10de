/**
 * The S3 inputs an execution reads from outside itself (the staged articles, the base model's tokenizer files, the
 * benchmarks, the general text, the code bundle), checked before StartPipelineExecution. SageMaker fails a job
 * whose S3Prefix input matches no object when the job starts, which for Tokenize or Evaluate is hours into a run
 * (Ingest and Dedup have run, and Train too for Evaluate). An input counts as external when its S3Uri resolves
 * from the execution's parameter values alone; one built from a step's output or from the execution id is made by
 * the run itself and is not checked.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ExpressionError, type ResolveContext, resolveValue } from '../../pipeline-steps/local/expressions.ts';
import type { Json, ParameterValue } from '../../pipeline-steps/local/types.ts';
import type { S3Like } from '../aws/clients.ts';
import { parseS3Uri } from '../config.ts';

/** One input of one step that the execution does not produce itself. */
export interface ExternalInput {
  readonly step: string;
  /** ProcessingInput InputName or Training ChannelName. */
  readonly name: string;
  readonly uri: string;
}

interface StepJson {
  Name?: string;
  Type?: string;
  Arguments?: {
    ProcessingInputs?: { InputName?: string; S3Input?: { S3Uri?: Json } }[];
    InputDataConfig?: { ChannelName?: string; DataSource?: { S3DataSource?: { S3Uri?: Json } } }[];
  };
}

/** A context in which only Parameters resolve: anything else is made by the run and throws. */
function parametersOnly(parameters: Readonly<Record<string, ParameterValue>>): ResolveContext {
  const madeByTheRun = (what: string) => {
    throw new ExpressionError(`${what} is made by the run`);
  };
  return {
    parameters,
    execution: {},
    stepProperties: () => undefined,
    readPropertyFile: () => madeByTheRun('a property file'),
    readS3Json: () => madeByTheRun('an S3 JSON read'),
  };
}

/** The external S3 inputs of every Processing and Training step (Tuning steps' jobs read Train's), in step order. */
export function externalInputs(
  definition: { Steps?: unknown[] },
  parameters: Readonly<Record<string, ParameterValue>>,
): ExternalInput[] {
  const ctx = parametersOnly(parameters);
  const found: ExternalInput[] = [];
  const add = (step: string, name: string | undefined, uri: Json | undefined) => {
    if (uri === undefined) return;
    let resolved: Json;
    try {
      resolved = resolveValue(uri, ctx);
    } catch (err) {
      if (err instanceof ExpressionError) return; // built from a step's output or the execution: made by the run
      throw err;
    }
    if (typeof resolved === 'string' && resolved.startsWith('s3://'))
      found.push({ step, name: name ?? '?', uri: resolved });
  };
  for (const raw of definition.Steps ?? []) {
    const step = raw as StepJson;
    const name = step.Name ?? '?';
    for (const input of step.Arguments?.ProcessingInputs ?? []) add(name, input.InputName, input.S3Input?.S3Uri);
    for (const channel of step.Arguments?.InputDataConfig ?? []) {
      add(name, channel.ChannelName, channel.DataSource?.S3DataSource?.S3Uri);
    }
  }
  return found;
}

export interface InputCheck {
  /** Inputs whose prefix matches no object: the job that reads them would fail when it starts. */
  readonly missing: ExternalInput[];
  /** Inputs that could not be checked (e.g. AccessDenied for the caller), with the reason. */
  readonly unchecked: { readonly input: ExternalInput; readonly reason: string }[];
  readonly checked: number;
}

/** Lists each input's prefix (at most one key), as SageMaker matches an S3Prefix input. Each URI is asked once. */
export async function checkInputs(s3: S3Like, inputs: readonly ExternalInput[]): Promise<InputCheck> {
  const verdicts = new Map<string, Promise<true | false | string>>();
  const exists = (uri: string): Promise<true | false | string> => {
    const { bucket, key } = parseS3Uri(uri);
    return s3
      .send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }))
      .then((page) => (page.KeyCount ?? page.Contents?.length ?? 0) > 0)
      .catch((err: { name?: string; message?: string }) => `${err.name ?? 'Error'}: ${err.message ?? String(err)}`);
  };
  const missing: ExternalInput[] = [];
  const unchecked: { input: ExternalInput; reason: string }[] = [];
  for (const input of inputs) {
    if (!verdicts.has(input.uri)) verdicts.set(input.uri, exists(input.uri));
    const verdict = await verdicts.get(input.uri)!;
    if (verdict === false) missing.push(input);
    else if (verdict !== true) unchecked.push({ input, reason: verdict });
  }
  return { missing, unchecked, checked: inputs.length };
}

/** The lines `start` prints about a check; the error, when something is missing, names each step, input and URI. */
export function describeInputCheck(result: InputCheck): { lines: string[]; error?: string } {
  const lines = [
    `inputs    ${result.checked - result.missing.length - result.unchecked.length} of ${result.checked} found`,
  ];
  for (const { input, reason } of result.unchecked) {
    lines.push(`inputs    not checked: ${input.step} ${input.name} ${input.uri} (${reason})`);
  }
  if (!result.missing.length) return { lines };
  const list = result.missing.map((i) => `${i.step} input ${i.name}: nothing at ${i.uri}`).join('\n  - ');
  return {
    lines,
    error:
      `this execution would fail when these steps start (SageMaker fails a job whose S3 input matches no object):\n  - ${list}\n` +
      'Stage them (docs/data-staging.md), or pass --skip-input-check to start anyway.',
  };
}
