// `medllama plan`: tokens, wall time and cost per step for a configuration, from lib/report/throughputs.ts.
import { fmtNumber } from '../../report/render.ts';
import { CORPUS, PRICES, THROUGHPUTS } from '../../report/throughputs.ts';
import { type CliCommand, type CliOption, optionSynopsis, UsageError } from '../command.ts';

export interface PlanOptions {
  articles: number;
  tokensPerArticle: number;
  seqLen: number;
  epochs: number;
  /** Train on at most this many tokens (0 = all, times epochs). */
  maxTrainTokens: number;
  /** Documents in the test split that Evaluate scores with both models. */
  testDocuments: number;
  ingestInstanceType: string;
  ingestInstanceCount: number;
  dedupInstanceType: string;
  tokenizeInstanceType: string;
  tokenizeInstanceCount: number;
  trainInstanceType: string;
  trainInstanceCount: number;
  evaluateInstanceType: string;
}

export const DEFAULT_PLAN: PlanOptions = {
  articles: CORPUS.articles.value,
  tokensPerArticle: CORPUS.tokensPerArticle.value,
  seqLen: 4096,
  epochs: 1,
  maxTrainTokens: 0,
  testDocuments: 2000,
  ingestInstanceType: 'ml.c5.4xlarge',
  ingestInstanceCount: 8,
  dedupInstanceType: 'ml.m5.4xlarge',
  tokenizeInstanceType: 'ml.c5.4xlarge',
  tokenizeInstanceCount: 4,
  trainInstanceType: 'ml.p4d.24xlarge',
  trainInstanceCount: 1,
  evaluateInstanceType: 'ml.g5.2xlarge',
};

export interface PlanRow {
  step: string;
  instance: string;
  count: number;
  work: string;
  seconds: number;
  usd: number;
}

function price(type: string): (typeof PRICES)[string] {
  const p = PRICES[type];
  if (!p)
    throw new UsageError(`no price for ${type}; known: ${Object.keys(PRICES).join(', ')} (lib/report/throughputs.ts)`);
  return p;
}

function trainRate(type: string): number {
  const t = THROUGHPUTS.trainTokensPerGpuSecond[type];
  if (!t)
    throw new UsageError(
      `no training throughput for ${type}; known: ${Object.keys(THROUGHPUTS.trainTokensPerGpuSecond).join(', ')}`,
    );
  return t.value;
}

/** Per-step estimates; cost = instances × hours × on-demand price (start-up time not included). */
export function plan(o: PlanOptions): PlanRow[] {
  const tokens = o.articles * o.tokensPerArticle;
  const rows: PlanRow[] = [];
  const row = (step: string, instance: string, count: number, work: string, seconds: number) =>
    rows.push({ step, instance, count, work, seconds, usd: (count * seconds * price(instance).usdPerHour) / 3600 });
  const ingestCores = price(o.ingestInstanceType).vcpus * o.ingestInstanceCount;
  row(
    'Ingest',
    o.ingestInstanceType,
    o.ingestInstanceCount,
    `${fmtNumber(o.articles)} articles`,
    o.articles / (THROUGHPUTS.ingestArticlesPerCoreSecond.value * ingestCores),
  );
  price(o.dedupInstanceType);
  row(
    'Dedup',
    o.dedupInstanceType,
    1,
    `${fmtNumber(o.articles)} documents`,
    o.articles / THROUGHPUTS.dedupDocumentsPerSecond.value,
  );
  const tokCores = price(o.tokenizeInstanceType).vcpus * o.tokenizeInstanceCount;
  row(
    'Tokenize',
    o.tokenizeInstanceType,
    o.tokenizeInstanceCount,
    `${fmtNumber(tokens)} tokens`,
    tokens / (THROUGHPUTS.tokenizeTokensPerCoreSecond.value * tokCores),
  );
  const trainTokens = o.maxTrainTokens > 0 ? Math.min(o.maxTrainTokens, tokens * o.epochs) : tokens * o.epochs;
  const gpus = price(o.trainInstanceType).gpus * o.trainInstanceCount;
  if (gpus === 0) throw new UsageError(`${o.trainInstanceType} has no GPU`);
  row(
    'Train',
    o.trainInstanceType,
    o.trainInstanceCount,
    `${fmtNumber(trainTokens)} tokens (seq ${o.seqLen})`,
    trainTokens / (trainRate(o.trainInstanceType) * gpus),
  );
  const evalTokens = 2 * Math.min(o.testDocuments, o.articles) * o.tokensPerArticle;
  const evalGpus = price(o.evaluateInstanceType).gpus;
  if (evalGpus === 0) throw new UsageError(`${o.evaluateInstanceType} has no GPU`);
  const evalRate = trainRate(o.evaluateInstanceType) * THROUGHPUTS.evalSpeedupOverTraining.value * evalGpus;
  row('Evaluate', o.evaluateInstanceType, 1, `${fmtNumber(evalTokens)} tokens (base + tuned)`, evalTokens / evalRate);
  return rows;
}

function hours(s: number): string {
  return s < 3600 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`;
}

export function formatPlan(rows: PlanRow[]): string {
  const table = rows.map((r) => [
    r.step,
    `${r.count} × ${r.instance}`,
    r.work,
    hours(r.seconds),
    `$${r.usd.toFixed(2)}`,
  ]);
  const head = ['step', 'instances', 'work', 'wall time', 'cost'];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  const prep = rows.filter((r) => ['Ingest', 'Dedup', 'Tokenize'].includes(r.step));
  const total = (rs: PlanRow[]) => [rs.reduce((a, r) => a + r.seconds, 0), rs.reduce((a, r) => a + r.usd, 0)] as const;
  const [prepS, prepUsd] = total(prep);
  const [allS, allUsd] = total(rows);
  const sources = [
    ...new Set(
      rows.map(
        (r) =>
          `${r.instance}: $${PRICES[r.instance]!.usdPerHour}/h (${PRICES[r.instance]!.asOf}, ${PRICES[r.instance]!.source})`,
      ),
    ),
  ];
  return [
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...table.map(line),
    '',
    `data prep (Ingest+Dedup+Tokenize): ${hours(prepS)}, $${prepUsd.toFixed(2)}`,
    `whole pipeline (steps in sequence): ${hours(allS)}, $${allUsd.toFixed(2)}`,
    '',
    'prices:',
    ...sources.map((s) => `  ${s}`),
    'throughputs: lib/report/throughputs.ts (ingest and tokenize measured by bench/, see docs/performance.md; dedup, training and evaluation from published anchors)',
  ].join('\n');
}

const FLAGS: Record<string, keyof PlanOptions> = {
  '--articles': 'articles',
  '--tokens-per-article': 'tokensPerArticle',
  '--seq-len': 'seqLen',
  '--epochs': 'epochs',
  '--max-train-tokens': 'maxTrainTokens',
  '--test-documents': 'testDocuments',
  '--ingest-instance-type': 'ingestInstanceType',
  '--ingest-instance-count': 'ingestInstanceCount',
  '--dedup-instance-type': 'dedupInstanceType',
  '--tokenize-instance-type': 'tokenizeInstanceType',
  '--tokenize-instance-count': 'tokenizeInstanceCount',
  '--train-instance-type': 'trainInstanceType',
  '--train-instance-count': 'trainInstanceCount',
  '--evaluate-instance-type': 'evaluateInstanceType',
};

export function parsePlanArgs(argv: string[]): PlanOptions {
  const o: PlanOptions = { ...DEFAULT_PLAN };
  for (let i = 0; i < argv.length; i++) {
    const key = FLAGS[argv[i]!];
    if (!key) throw new UsageError(`unknown option ${argv[i]}`);
    const raw = argv[++i];
    if (raw === undefined) throw new UsageError(`${argv[i - 1]} needs a value`);
    if (typeof DEFAULT_PLAN[key] === 'number') {
      const n = Number(raw);
      if (!Number.isFinite(n) || n < 0)
        throw new UsageError(`${argv[i - 1]}: got "${raw}", expected a non-negative number`);
      (o[key] as number) = n;
    } else {
      (o[key] as string) = raw;
    }
  }
  return o;
}

/** What --help says for each option of FLAGS (the value name and its meaning; defaults from DEFAULT_PLAN). */
const OPTION_HELP: Record<keyof PlanOptions, [value: string, description: string]> = {
  articles: ['N', 'articles in the corpus'],
  tokensPerArticle: ['N', 'Llama 2 tokens per article'],
  seqLen: ['N', 'training sequence length'],
  epochs: ['N', 'passes over the corpus'],
  maxTrainTokens: ['N', 'train on at most N tokens (0: all, times --epochs)'],
  testDocuments: ['N', 'test-split documents Evaluate scores with both models'],
  ingestInstanceType: ['TYPE', 'Ingest instance type'],
  ingestInstanceCount: ['N', 'Ingest instances'],
  dedupInstanceType: ['TYPE', 'Dedup instance type (one instance)'],
  tokenizeInstanceType: ['TYPE', 'Tokenize instance type'],
  tokenizeInstanceCount: ['N', 'Tokenize instances'],
  trainInstanceType: ['TYPE', 'Train instance type'],
  trainInstanceCount: ['N', 'Train instances'],
  evaluateInstanceType: ['TYPE', 'Evaluate instance type (one instance)'],
};

const options: CliOption[] = Object.entries(FLAGS).map(([flag, key]) => ({
  name: flag.slice(2),
  value: OPTION_HELP[key][0],
  description: OPTION_HELP[key][1],
  default: String(DEFAULT_PLAN[key]),
}));

export const command: CliCommand = {
  name: 'plan',
  summary: 'Estimate tokens, wall time and cost per step for a configuration',
  usage: `usage: medllama plan ${optionSynopsis(options, 'usage: medllama plan '.length)}

Defaults: the full PMC OA subset (${fmtNumber(CORPUS.articles.value)} articles × ${fmtNumber(CORPUS.tokensPerArticle.value)} tokens ≈ ${fmtNumber(
    CORPUS.articles.value * CORPUS.tokensPerArticle.value,
  )} tokens), ${DEFAULT_PLAN.ingestInstanceCount} × ${DEFAULT_PLAN.ingestInstanceType} for Ingest, 1 × ${DEFAULT_PLAN.trainInstanceType} for Train.`,
  options,
  async run(argv) {
    console.log(formatPlan(plan(parsePlanArgs(argv))));
    return 0;
  },
};
