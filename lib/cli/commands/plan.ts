// `medllama plan`: what one execution of the deployed pipeline costs, step by step. It prices the definition
// itself (the one `cdk deploy` creates from cdk.json, or --definition FILE) with its Parameters' defaults and the
// same --param values `medllama start` takes, so `plan` with no flags prices exactly what `start` with no
// parameters runs. Instance specs and prices: pipeline-steps/instances.ts; throughputs: lib/report/throughputs.ts.
import { INSTANCE_TYPES } from '../../../pipeline-steps/instances.ts';
import { parseCandidates } from '../../../pipeline-steps/merge-candidates.ts';
import type { MedLlamaConfig } from '../../config.ts';
import { fmtNumber } from '../../report/section.ts';
import { CORPUS, SUITE_WORK, THROUGHPUTS } from '../../report/throughputs.ts';
import type { DefinitionJson } from '../../stacks/pipeline-stack.ts';
import { type CliCommand, type CliOption, UsageError } from '../command.ts';
import { readDeployConfig } from '../deploy-config.ts';
import { parseOptions } from '../options.ts';
import { checkExecution, loadParameters, validateParameters } from './start.ts';

/** What the corpus is, beyond the definition (plan-only knobs). */
export interface Corpus {
  articles: number;
  tokensPerArticle: number;
}

export const DEFAULT_CORPUS: Corpus = {
  articles: CORPUS.articles.value,
  tokensPerArticle: CORPUS.tokensPerArticle.value,
};

export interface PlanRow {
  name: string;
  instanceType: string;
  instanceCount: number;
  work: string;
  hours: number;
  maxRuntimeHours: number;
  usd: number;
  volumeGB: number;
  /** The estimate is past the step's MaxRuntime: the job would be stopped. */
  overMaxRuntime: boolean;
  /** Lines printed under the table (Evaluate: the work and time per candidate). */
  notes?: string[];
}

export interface Plan {
  steps: PlanRow[];
  dataPrep: { hours: number; usd: number };
  total: { hours: number; usd: number };
  parameters: Record<string, string | number | boolean>;
  corpus: Corpus;
}

type Json = unknown;
type Values = Record<string, string | number | boolean>;

/** A Parameter reference or a literal, resolved against the execution's values. */
function resolve(v: Json, values: Values, what: string): string | number {
  if (v && typeof v === 'object' && 'Get' in (v as object)) {
    const ref = String((v as { Get: string }).Get);
    const name = ref.startsWith('Parameters.') ? ref.slice('Parameters.'.length) : undefined;
    if (name === undefined || !(name in values)) throw new UsageError(`${what}: cannot price ${ref}`);
    return values[name] as string | number;
  }
  if (typeof v === 'string' || typeof v === 'number') return v;
  throw new UsageError(`${what}: unexpected ${JSON.stringify(v)}`);
}

interface JobShape {
  name: string;
  type: 'Processing' | 'Training' | 'Tuning';
  instanceType: string;
  instanceCount: number;
  volumeGB: number;
  maxRuntimeSeconds: number;
}

/** Each job step of the definition with its resources and limit, resolved for the execution's values. */
export function jobShapes(definition: DefinitionJson, values: Values): JobShape[] {
  const out: JobShape[] = [];
  interface JobArguments {
    ProcessingResources?: { ClusterConfig?: Record<string, Json> };
    ResourceConfig?: Record<string, Json>;
    StoppingCondition?: Record<string, Json>;
    TrainingJobDefinition?: { ResourceConfig?: Record<string, Json>; StoppingCondition?: Record<string, Json> };
  }
  for (const step of definition.Steps as { Name: string; Type: string; Arguments?: JobArguments }[]) {
    const a: JobArguments = step.Arguments ?? {};
    let resources: Record<string, Json> | undefined;
    let stopping: Record<string, Json> | undefined;
    if (step.Type === 'Processing') [resources, stopping] = [a.ProcessingResources?.ClusterConfig, a.StoppingCondition];
    else if (step.Type === 'Training') [resources, stopping] = [a.ResourceConfig, a.StoppingCondition];
    else if (step.Type === 'Tuning')
      [resources, stopping] = [a.TrainingJobDefinition?.ResourceConfig, a.TrainingJobDefinition?.StoppingCondition];
    else continue;
    const where = `step ${step.Name}`;
    out.push({
      name: step.Name,
      type: step.Type as JobShape['type'],
      instanceType: String(resolve(resources?.InstanceType, values, where)),
      instanceCount: Number(resolve(resources?.InstanceCount ?? 1, values, where)),
      volumeGB: Number(resolve(resources?.VolumeSizeInGB ?? 30, values, where)),
      maxRuntimeSeconds: Number(stopping?.MaxRuntimeInSeconds ?? 86_400),
    });
  }
  return out;
}

function spec(type: string) {
  const t = INSTANCE_TYPES[type];
  if (!t) throw new UsageError(`no price for ${type} (pipeline-steps/instances.ts lists the accepted types)`);
  return t;
}

function trainRate(type: string): number {
  const t = THROUGHPUTS.trainTokensPerGpuSecond[type];
  if (!t)
    throw new UsageError(
      `no training throughput for ${type}; known: ${Object.keys(THROUGHPUTS.trainTokensPerGpuSecond).join(', ')}`,
    );
  return t.value;
}

/** The tokens Train will see: MaxSteps, else TrainTokens, else Epochs over the corpus (Train's own precedence). */
export function trainTokens(values: Values, corpusTokens: number, gpus: number): number {
  const maxSteps = Number(values.MaxSteps ?? -1);
  const seqLen = Number(values.SeqLen ?? 4096);
  const perStep = seqLen * Number(values.GradientAccumulationSteps ?? 8) * gpus; // one block per GPU per micro-step
  if (maxSteps > 0) return maxSteps * perStep;
  const budget = Number(values.TrainTokens ?? 0);
  if (budget > 0) return budget;
  return corpusTokens * Number(values.Epochs ?? 1);
}

/** The candidates Evaluate gates (MergeCandidates, tuned first), as MergeBack parses them. */
function candidateNames(values: Values): string[] {
  try {
    return parseCandidates(String(values.MergeCandidates ?? '')).map((c) => c.name);
  } catch (err) {
    throw new UsageError(`MergeCandidates: ${(err as Error).message}`);
  }
}

/**
 * What Evaluate scores per model: the test documents' tokens (EvalMaxDocumentTokens caps each) and every task of
 * the benchmark suite, items × distinct inputs per item × tokens per input (SUITE_WORK; PubMedQALimit caps
 * PubMedQA's 500 items).
 * General-text and qualitative work are small beside these and not counted.
 */
export function evaluateWork(values: Values, testDocs: number, corpus: Corpus): { tokens: number; describe: string } {
  const cap = Number(values.EvalMaxDocumentTokens ?? 0);
  const perDoc = cap > 0 ? Math.min(cap, corpus.tokensPerArticle) : corpus.tokensPerArticle;
  const maxDocs = Number(values.EvalMaxTestDocuments ?? 0);
  const docs = maxDocs > 0 ? Math.min(maxDocs, testDocs) : testDocs;
  const limit = Number(values.PubMedQALimit ?? 0);
  const tasks = SUITE_WORK.map((t) => ({
    ...t,
    items: t.task === 'pubmedqa' && limit > 0 ? Math.min(limit, t.items) : t.items,
  }));
  const suite = tasks.reduce((sum, t) => sum + t.items * t.inputsPerItem * t.tokensPerInput, 0);
  return {
    tokens: docs * perDoc + suite,
    describe:
      `perplexity ${fmtNumber(docs)} documents × ${fmtNumber(perDoc)} tokens + the benchmark suite ` +
      `${fmtNumber(suite)} tokens (${tasks
        .map((t) => `${t.label} ${fmtNumber(t.items)} × ${t.inputsPerItem} × ${fmtNumber(t.tokensPerInput)}`)
        .join(', ')})`,
  };
}

/** The per-step estimates of one execution; cost = instances × hours × on-demand price (start-up not included). */
export function planExecution(definition: DefinitionJson, values: Values, corpus: Corpus = DEFAULT_CORPUS): Plan {
  const limit = Number(values.MaxArticles ?? 0);
  const articles = limit > 0 ? Math.min(limit, corpus.articles) : corpus.articles;
  const tokens = articles * corpus.tokensPerArticle;
  const testDocs = Math.min(2000, Math.round(articles * Number(values.TestFraction ?? 0.01)));
  const rows: PlanRow[] = [];
  for (const job of jobShapes(definition, values)) {
    const t = spec(job.instanceType);
    let seconds: number;
    let work: string;
    let parallel = job.instanceCount;
    let notes: string[] | undefined;
    if (job.name === 'Ingest') {
      seconds = articles / (THROUGHPUTS.ingestArticlesPerCoreSecond.value * t.vcpus * job.instanceCount);
      work = `${fmtNumber(articles)} articles`;
    } else if (job.name === 'Dedup') {
      seconds = articles / THROUGHPUTS.dedupDocumentsPerSecond.value;
      work = `${fmtNumber(articles)} documents`;
    } else if (job.name === 'Tokenize') {
      seconds = tokens / (THROUGHPUTS.tokenizeTokensPerCoreSecond.value * t.vcpus * job.instanceCount);
      work = `${fmtNumber(tokens)} tokens`;
    } else if (job.type === 'Training' || job.type === 'Tuning') {
      if (job.name === 'StageBaseModel') {
        seconds = 1800; // copy and unpack ~13 GB: minutes; a half-hour allowance
        work = 'unpack the JumpStart archive';
      } else {
        const gpus = t.gpus * job.instanceCount;
        if (gpus === 0) throw new UsageError(`${job.instanceType} has no GPU`);
        const train = trainTokens(values, tokens, gpus);
        seconds = train / (trainRate(job.instanceType) * gpus);
        work = `${fmtNumber(train)} tokens (seq ${values.SeqLen ?? 4096})`;
        if (job.type === 'Tuning') {
          const jobs = Number(values.MaxTuningJobs ?? 8);
          parallel = job.instanceCount * jobs;
          seconds *= Math.ceil(jobs / Number(values.MaxParallelTuningJobs ?? 2));
          work += ` × ${jobs} trials`;
        }
      }
    } else if (job.name === 'MergeBack') {
      const merged = candidateNames(values).length - 1;
      seconds = THROUGHPUTS.mergeSetupSeconds.value + merged * THROUGHPUTS.mergeSecondsPerCandidate.value;
      work = `${merged} merged candidate(s) of 7B`;
    } else if (job.name === 'Evaluate') {
      if (t.gpus === 0) throw new UsageError(`${job.instanceType} has no GPU`);
      const e = evaluateWork(values, testDocs, corpus);
      const names = candidateNames(values);
      const rate = trainRate(job.instanceType) * THROUGHPUTS.evalSpeedupOverTraining.value * t.gpus;
      const perModel = e.tokens / rate;
      seconds = perModel * (names.length + 1);
      work = `${fmtNumber(e.tokens * (names.length + 1))} tokens (base + ${names.length} candidate(s))`;
      notes = [
        `Evaluate, per model (the base and each candidate: ${names.join(', ')}): ${e.describe} = ` +
          `${fmtNumber(e.tokens)} tokens → ${duration(perModel / 3600)}, ` +
          `$${((perModel * t.usdPerHour) / 3600).toFixed(2)} per candidate on ${job.instanceType}`,
      ];
    } else {
      seconds = 0;
      work = '';
    }
    const hours = seconds / 3600;
    const usd =
      job.type === 'Tuning'
        ? (parallel *
            (seconds / Math.ceil(Number(values.MaxTuningJobs ?? 8) / Number(values.MaxParallelTuningJobs ?? 2))) *
            t.usdPerHour) /
          3600
        : (job.instanceCount * seconds * t.usdPerHour) / 3600;
    rows.push({
      name: job.name,
      instanceType: job.instanceType,
      instanceCount: job.instanceCount,
      work,
      hours,
      maxRuntimeHours: job.maxRuntimeSeconds / 3600,
      usd,
      volumeGB: job.volumeGB,
      overMaxRuntime: seconds > job.maxRuntimeSeconds,
      ...(notes ? { notes } : {}),
    });
  }
  const sum = (rs: PlanRow[]) => ({
    hours: rs.reduce((a, r) => a + r.hours, 0),
    usd: rs.reduce((a, r) => a + r.usd, 0),
  });
  return {
    steps: rows,
    dataPrep: sum(rows.filter((r) => ['Ingest', 'Dedup', 'Tokenize'].includes(r.name))),
    total: sum(rows),
    parameters: values,
    corpus: { articles, tokensPerArticle: corpus.tokensPerArticle },
  };
}

function duration(h: number): string {
  return h < 1 ? `${(h * 60).toFixed(1)} min` : `${h.toFixed(1)} h`;
}

export function formatPlan(p: Plan): string {
  const table = p.steps.map((r) => [
    r.name,
    `${r.instanceCount} × ${r.instanceType}`,
    r.work,
    duration(r.hours) + (r.overMaxRuntime ? ' (!)' : ''),
    duration(r.maxRuntimeHours),
    `${r.volumeGB} GB`,
    `$${r.usd.toFixed(2)}`,
  ]);
  const head = ['step', 'instances', 'work', 'wall time', 'MaxRuntime', 'volume', 'cost'];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  const over = p.steps.filter((r) => r.overMaxRuntime);
  const prices = [...new Set(p.steps.map((r) => r.instanceType))].map(
    (type) => `  ${type}: $${INSTANCE_TYPES[type]!.usdPerHour}/h (${INSTANCE_TYPES[type]!.priceSource})`,
  );
  return [
    `corpus: ${fmtNumber(p.corpus.articles)} articles × ${fmtNumber(p.corpus.tokensPerArticle)} tokens`,
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...table.map(line),
    '',
    ...p.steps.flatMap((r) => r.notes ?? []),
    `data prep (Ingest+Dedup+Tokenize): ${duration(p.dataPrep.hours)}, $${p.dataPrep.usd.toFixed(2)}`,
    `whole pipeline (steps in sequence): ${duration(p.total.hours)}, $${p.total.usd.toFixed(2)}`,
    ...(over.length
      ? [
          '',
          ...over.map(
            (r) =>
              `(!) ${r.name}: the estimate (${duration(r.hours)}) is past its MaxRuntime (${duration(r.maxRuntimeHours)}); ` +
              (r.name === 'Train'
                ? 'Train caps its own steps to end in time, so it trains on fewer tokens than asked (lower TrainTokens)'
                : 'SageMaker would stop the job: use more or larger instances'),
          ),
        ]
      : []),
    '',
    'prices (pipeline-steps/instances.ts):',
    ...prices,
    'throughputs: lib/report/throughputs.ts (ingest and tokenize measured by bench/, see docs/performance.md; dedup, training and evaluation from published anchors; MergeBack times and the benchmark suite tokens per request are allowances)',
  ].join('\n');
}

const options = [
  {
    name: 'param',
    value: 'Name=Value',
    description: 'a pipeline parameter, as `medllama start` takes it (e.g. TrainInstanceType=ml.p4d.24xlarge)',
    repeatable: true,
  },
  {
    name: 'articles',
    value: 'N',
    description: 'articles in the corpus (MaxArticles, when set, caps it)',
    default: String(DEFAULT_CORPUS.articles),
  },
  {
    name: 'tokens-per-article',
    value: 'N',
    description: 'Llama 2 tokens per article',
    default: String(DEFAULT_CORPUS.tokensPerArticle),
  },
  {
    name: 'definition',
    value: 'FILE',
    description: 'price this definition JSON instead of the one cdk.json deploys',
  },
  { name: 'json', description: 'print the plan as JSON ({"steps":[{"name","instanceType",…}],…})' },
] as const satisfies readonly CliOption[];

function count(flag: string, raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1) throw new UsageError(`--${flag}: got "${raw}", expected a whole number >= 1`);
  return n;
}

export interface PlanDeps {
  readonly config: () => MedLlamaConfig;
  readonly log: (line: string) => void;
}

export function createPlanCommand(deps: PlanDeps = { config: () => readDeployConfig(), log: console.log }): CliCommand {
  return {
    name: 'plan',
    summary: 'Estimate wall time and cost per step of one execution (the deployed definition, start’s --param)',
    usage: `usage: medllama plan [--param Name=Value]... [--articles N] [--tokens-per-article N] [--definition FILE] [--json]

Prices the pipeline definition cdk.json deploys, with its Parameters' defaults and your --param values: with no
flags, exactly what \`medllama start\` with no parameters runs. The parameters are checked as start checks them.
Corpus defaults: the full PMC OA subset (${fmtNumber(DEFAULT_CORPUS.articles)} articles × ${fmtNumber(DEFAULT_CORPUS.tokensPerArticle)} tokens).
A step whose estimate is past its MaxRuntime is marked (!).`,
    options,
    withoutAws: 'plan never calls AWS',
    async run(argv) {
      const { values } = parseOptions(argv, options);
      const parameters = loadParameters(values.definition, deps.config());
      const given = validateParameters(values.param, parameters);
      checkExecution(parameters, given);
      const execution: Values = {};
      for (const p of parameters) if (p.DefaultValue !== undefined) execution[p.Name] = p.DefaultValue;
      for (const p of given) execution[p.Name] = p.Value;
      const definition = values.definition
        ? (JSON.parse((await import('node:fs')).readFileSync(values.definition, 'utf8')) as DefinitionJson)
        : (await import('../../stacks/pipeline-stack.ts')).definitionForConfig(deps.config());
      const result = planExecution(definition, execution, {
        articles: values.articles ? count('articles', values.articles) : DEFAULT_CORPUS.articles,
        tokensPerArticle: values['tokens-per-article']
          ? count('tokens-per-article', values['tokens-per-article'])
          : DEFAULT_CORPUS.tokensPerArticle,
      });
      deps.log(values.json ? JSON.stringify(result, null, 2) : formatPlan(result));
      return 0;
    },
  };
}

export const command = createPlanCommand();
