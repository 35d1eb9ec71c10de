// `medllama plan`: it prices the definition `cdk deploy` creates, with the same parameters `start` takes.
import { describe, expect, it } from 'vitest';
import { createPlanCommand, DEFAULT_CORPUS, formatPlan, jobShapes, planExecution } from '../lib/cli/commands/plan.ts';
import { parseConfig } from '../lib/config.ts';
import { THROUGHPUTS } from '../lib/report/throughputs.ts';
import { definitionForConfig } from '../lib/stacks/pipeline-stack.ts';
import { INSTANCE_TYPES, instanceTypesFor } from '../pipeline-steps/instances.ts';
import { DEFAULT_TRAIN_TOKENS } from '../pipeline-steps/parameters.ts';

const config = parseConfig({});
const definition = definitionForConfig(config);
const defaults = Object.fromEntries(
  (definition.Parameters ?? []).filter((p) => p.DefaultValue !== undefined).map((p) => [p.Name, p.DefaultValue!]),
) as Record<string, string | number>;

async function plan(argv: string[], raw: unknown = {}) {
  const lines: string[] = [];
  const code = await createPlanCommand({ config: () => parseConfig(raw), log: (l) => lines.push(l) }).run(argv);
  return { code, out: lines.join('\n') };
}

describe('medllama plan', () => {
  it('prices MergeBack per merged candidate and Evaluate per candidate (items × choices × tokens)', async () => {
    const one = planExecution(definition, defaults);
    const two = planExecution(definition, { ...defaults, MergeCandidates: 'slerp:t=0.5 ties:weight=0.5' });
    const none = planExecution(definition, { ...defaults, MergeCandidates: '' });
    const row = (p: ReturnType<typeof planExecution>, name: string) => p.steps.find((s) => s.name === name)!;
    const per = THROUGHPUTS.mergeSecondsPerCandidate.value / 3600;
    expect(row(two, 'MergeBack').hours - row(one, 'MergeBack').hours).toBeCloseTo(per, 6);
    expect(row(none, 'MergeBack').hours).toBeCloseTo(THROUGHPUTS.mergeSetupSeconds.value / 3600, 6);
    expect(row(one, 'MergeBack').instanceType).toBe('ml.r5.2xlarge');
    // base + tuned + slerp = 3 models; each candidate adds one model's worth
    const evalOne = row(one, 'Evaluate').hours;
    expect(row(two, 'Evaluate').hours).toBeCloseTo((evalOne * 4) / 3, 6);
    expect(row(none, 'Evaluate').hours).toBeCloseTo((evalOne * 2) / 3, 6);
    expect(row(one, 'Evaluate').notes![0]).toMatch(
      /^Evaluate, per model \(the base and each candidate: tuned, slerp-t0\.5\): perplexity .* \+ the benchmark suite 5,872,815 tokens \(PubMedQA 500 × 1 × 400, MedQA-4 1,273 × 1 × 250, .*, HellaSwag 10,042 × 4 × 110, Winogrande 1,267 × 2 × 30\) = .* per candidate on ml\.g5\.2xlarge$/,
    );
    const { out } = await plan(['--param', 'MergeCandidates=slerp:t=0.5 linear:t=0.3']);
    expect(out).toContain('2 merged candidate(s) of 7B');
    expect(out).toContain('each candidate: tuned, slerp-t0.5, linear-t0.3');
    await expect(plan(['--param', 'MergeCandidates=slerp:t=3'])).rejects.toThrow(
      `MergeCandidates: got "slerp:t=3": candidate 'slerp:t=3': t=3, expected a number in [0, 1]`,
    );
  });

  it('with no flags prices exactly what start with no parameters runs: the definition’s own defaults', async () => {
    const { code, out } = await plan(['--json']);
    expect(code).toBe(0);
    const result = JSON.parse(out) as ReturnType<typeof planExecution>;
    const shapes = jobShapes(definition, defaults);
    expect(result.steps.map((s) => [s.name, s.instanceType, s.instanceCount, s.volumeGB, s.maxRuntimeHours])).toEqual(
      shapes.map((j) => [j.name, j.instanceType, j.instanceCount, j.volumeGB, j.maxRuntimeSeconds / 3600]),
    );
    expect(result.steps.map((s) => s.name)).toEqual(['Ingest', 'Dedup', 'Tokenize', 'Train', 'MergeBack', 'Evaluate']);
    const byName = Object.fromEntries(result.steps.map((s) => [s.name, s]));
    expect(byName.Ingest!.instanceType).toBe(config.instances.ingest.type);
    expect(byName.Dedup!.instanceType).toBe('ml.r5.4xlarge'); // the deployed Dedup type has a price
    expect(byName.Train!.instanceType).toBe('ml.g5.12xlarge');
    // Train prices the TrainTokens default at the assumed rate: 1B tokens on 4 A10G
    const rate = THROUGHPUTS.trainTokensPerGpuSecond['ml.g5.12xlarge']!.value;
    expect(byName.Train!.hours).toBeCloseTo(DEFAULT_TRAIN_TOKENS / (rate * 4) / 3600, 6);
    expect(byName.Train!.usd).toBeCloseTo(byName.Train!.hours * INSTANCE_TYPES['ml.g5.12xlarge']!.usdPerHour, 6);
    // the default Train fits its MaxRuntime at the documented throughput, with margin
    expect(byName.Train!.overMaxRuntime).toBe(false);
    expect(byName.Train!.hours).toBeLessThan(0.6 * byName.Train!.maxRuntimeHours);
    for (const s of result.steps) expect(s.overMaxRuntime, s.name).toBe(false);
  });

  it('--param changes what is priced, as start would run it, and flags a step past its MaxRuntime', async () => {
    const { out } = await plan(['--param', 'TrainTokens=40000000000', '--param', 'IngestInstanceCount=8', '--json']);
    const result = JSON.parse(out) as ReturnType<typeof planExecution>;
    const train = result.steps.find((s) => s.name === 'Train')!;
    expect(train.work).toContain('40,000,000,000 tokens');
    expect(train.overMaxRuntime).toBe(true);
    expect(result.steps.find((s) => s.name === 'Ingest')!.instanceCount).toBe(8);
    const text = formatPlan(result);
    expect(text).toMatch(/\(!\) Train: the estimate \([\d.]+ h\) is past its MaxRuntime \(120\.0 h\)/);
    expect(text).toMatch(/data prep \(Ingest\+Dedup\+Tokenize\): [\d.]+ (min|h), \$[\d.]+/);
    expect(text).toContain('ml.g5.12xlarge: $7.09/h');
  });

  it('refuses what start refuses, before pricing', async () => {
    await expect(plan(['--param', 'TrainInstanceType=ml.g5.huge'])).rejects.toThrow(/not a known instance type/);
    await expect(plan(['--param', 'Method=full'])).rejects.toThrow(/Method full on 1 × ml\.g5\.12xlarge/);
    await expect(plan(['--articles', '0'])).rejects.toThrow(/--articles: got "0", expected a whole number >= 1/);
  });

  it('every instance type the config or parameters accept has a price', () => {
    for (const kind of ['processing', 'training', 'endpoint'] as const) {
      for (const type of instanceTypesFor(kind)) expect(INSTANCE_TYPES[type]!.usdPerHour, type).toBeGreaterThan(0);
    }
    const small = planExecution(definition, { ...defaults, MaxArticles: 1000 }, DEFAULT_CORPUS);
    expect(small.corpus.articles).toBe(1000); // MaxArticles caps the corpus; 0 means no limit
    expect(planExecution(definition, defaults).corpus.articles).toBe(DEFAULT_CORPUS.articles);
  });
});
