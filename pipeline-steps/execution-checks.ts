/**
 * Checks of an execution's parameter values that the definition's own types cannot express: ranges, sums, the
 * instance types each kind of job accepts (pipeline-steps/instances.ts), and whether the model fits the training
 * GPUs. `medllama start`, the local runner and the CDK config run them before any step or AWS call, so a bad value
 * is refused with the parameter, the value and what is allowed, not found three hours later inside a step.
 */

import { INSTANCE_TYPES, instanceTypeProblem, type JobKind, trainingMemory, typesThatFit } from './instances.ts';
import { CandidateSpecError, parseCandidates } from './merge-candidates.ts';

export type ParameterValues = Readonly<Record<string, string | number | boolean>>;

/** Which kind of job each instance-type parameter is for; Evaluate runs a 7B model, so it needs a GPU too. */
export const INSTANCE_PARAMETERS: Readonly<Record<string, { kind: JobKind; gpu?: true }>> = {
  IngestInstanceType: { kind: 'processing' },
  DedupInstanceType: { kind: 'processing' },
  TokenizeInstanceType: { kind: 'processing' },
  TrainInstanceType: { kind: 'training' },
  MergeInstanceType: { kind: 'processing' },
  EvaluateInstanceType: { kind: 'processing', gpu: true },
};

interface Range {
  readonly min?: number;
  readonly max?: number;
  /** The lower bound itself is refused. */
  readonly above?: number;
  readonly integer?: boolean;
  readonly note?: string;
}

const RANGES: Readonly<Record<string, Range>> = {
  MaxArticles: { min: 0, integer: true, note: '0 = no limit' },
  IngestInstanceCount: { min: 1, max: 100, integer: true },
  TokenizeInstanceCount: { min: 1, max: 100, integer: true },
  TrainInstanceCount: { min: 1, max: 16, integer: true },
  ValidationFraction: { min: 0, max: 0.5 },
  TestFraction: { min: 0, max: 0.5 },
  SeqLen: { min: 64, max: 131_072, integer: true },
  ReplayFraction: { min: 0, max: 0.5, note: '0 = no replay' },
  LearningRate: { min: 0, max: 1, note: "0 = the method's default" },
  Epochs: { above: 0, integer: true },
  TrainTokens: { min: 0, integer: true, note: '0 = Epochs decide' },
  LoraRank: { min: 1, max: 1024, integer: true },
  GradientAccumulationSteps: { min: 1, integer: true },
  MaxEvalBlocks: { min: 0, integer: true },
  EvalMaxTestDocuments: { min: 0, integer: true },
  EvalBootstrapSamples: { min: 100, max: 100_000, integer: true },
  PubMedQALimit: { min: 0, integer: true },
  EvalMaxNewTokens: { min: 1, max: 4096, integer: true },
  MaxTuningJobs: { min: 1, max: 500, integer: true },
  MaxParallelTuningJobs: { min: 1, max: 100, integer: true },
};

/** The same pattern as the tokenization config's `replay_uri` (a test holds them equal). */
export const REPLAY_URI = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/\S*)?$/;

function describe(r: Range): string {
  const parts = [
    r.integer ? 'an integer' : 'a number',
    r.above !== undefined ? `> ${r.above}` : r.min !== undefined ? `>= ${r.min}` : '',
    r.max !== undefined ? `<= ${r.max}` : '',
  ].filter(Boolean);
  return parts.join(' ') + (r.note ? ` (${r.note})` : '');
}

/** Every problem with `values` (the resolved parameters of one execution); [] when it may start. */
export function executionProblems(values: ParameterValues): string[] {
  const problems: string[] = [];
  const num = (name: string) => (values[name] === undefined ? undefined : Number(values[name]));
  for (const [name, range] of Object.entries(RANGES)) {
    const v = num(name);
    if (v === undefined) continue;
    const bad =
      !Number.isFinite(v) ||
      (range.integer && !Number.isInteger(v)) ||
      (range.min !== undefined && v < range.min) ||
      (range.above !== undefined && v <= range.above) ||
      (range.max !== undefined && v > range.max);
    if (bad) problems.push(`${name}: got ${JSON.stringify(values[name])}, expected ${describe(RANGES[name]!)}`);
  }
  const maxSteps = num('MaxSteps');
  if (maxSteps !== undefined && !(maxSteps === -1 || (Number.isInteger(maxSteps) && maxSteps > 0))) {
    problems.push(
      `MaxSteps: got ${JSON.stringify(values.MaxSteps)}, expected -1 (TrainTokens or Epochs decide) or > 0`,
    );
  }
  const validation = num('ValidationFraction') ?? 0;
  const test = num('TestFraction') ?? 0;
  if (validation + test >= 1) {
    problems.push(
      `ValidationFraction + TestFraction: got ${validation} + ${test} = ${validation + test}, expected below 1 (training needs the rest)`,
    );
  }
  const replay = values.ReplayDataUri;
  if (replay !== undefined && replay !== '' && !REPLAY_URI.test(String(replay))) {
    problems.push(
      `ReplayDataUri: got ${JSON.stringify(replay)}, expected an s3://bucket/prefix URI of the replay corpus, or '' for none`,
    );
  }
  if (values.MergeCandidates !== undefined && String(values.MergeCandidates).length > 256) {
    problems.push(
      `MergeCandidates: got ${String(values.MergeCandidates).length} characters, expected at most 256 (it is one ContainerArgument of MergeBack)`,
    );
  } else if (values.MergeCandidates !== undefined) {
    try {
      parseCandidates(String(values.MergeCandidates));
    } catch (err) {
      if (!(err instanceof CandidateSpecError)) throw err;
      problems.push(
        `MergeCandidates: got ${JSON.stringify(values.MergeCandidates)}: ${err.message} (specs such as 'slerp:t=0.5 ties:weight=0.5,density=0.5', or '' for the tuned model only)`,
      );
    }
  }
  for (const [name, { kind, gpu }] of Object.entries(INSTANCE_PARAMETERS)) {
    const type = values[name];
    if (type === undefined) continue;
    const problem = instanceTypeProblem(String(type), kind);
    if (problem) problems.push(`${name}: ${problem}`);
    else if (gpu && INSTANCE_TYPES[String(type)]!.gpus === 0) {
      problems.push(`${name}: ${type} has no GPU; Evaluate runs the 7B base and tuned models (expected a GPU type)`);
    }
  }
  const trainType = String(values.TrainInstanceType ?? '');
  if (values.Method === 'full' && INSTANCE_TYPES[trainType]?.gpu) {
    const count = num('TrainInstanceCount') ?? 1;
    const seqLen = num('SeqLen') ?? 4096;
    const need = trainingMemory('full', trainType, { seqLen, microBatch: 1, instanceCount: count });
    if (!need.fits) {
      const fit = typesThatFit('full', seqLen, count);
      problems.push(
        `Method full on ${count} × ${trainType}: about ${need.perGpuGiB} GiB per GPU (${need.breakdown}), more than its ` +
          `${need.gpuGiB} GiB; types where full fine-tuning fits at SeqLen ${seqLen}: ${fit.join(', ') || 'none (raise TrainInstanceCount)'}, or use Method lora`,
      );
    }
  }
  return problems;
}
