// `medllama plan`: the full PMC OA example and option handling.
import { describe, expect, it } from 'vitest';
import { DEFAULT_PLAN, formatPlan, parsePlanArgs, plan } from '../lib/cli/commands/plan.ts';
import { PRICES, THROUGHPUTS } from '../lib/report/throughputs.ts';

describe('medllama plan', () => {
  it('estimates every step of the full PMC OA example from the throughput and price table', () => {
    const rows = plan(DEFAULT_PLAN);
    expect(rows.map((r) => r.step)).toEqual(['Ingest', 'Dedup', 'Tokenize', 'Train', 'Evaluate']);
    const ingest = rows[0]!;
    // 5.6M articles over 8 × 16 vCPUs at the derived per-core rate; cost = instances × hours × price.
    expect(ingest.seconds).toBeCloseTo(5_600_000 / (THROUGHPUTS.ingestArticlesPerCoreSecond.value * 128), 6);
    expect(ingest.usd).toBeCloseTo((8 * ingest.seconds * PRICES['ml.c5.4xlarge']!.usdPerHour) / 3600, 6);
    const train = rows[3]!;
    expect(train.work).toContain('48,160,000,000 tokens');
    expect(train.seconds).toBeCloseTo(48_160_000_000 / (3500 * 8), 3);
    const text = formatPlan(rows);
    expect(text).toMatch(/data prep \(Ingest\+Dedup\+Tokenize\): [\d.]+ (min|h), \$[\d.]+/);
    expect(text).toContain('ml.p4d.24xlarge: $37.69/h (2023-09');
  });

  it('parses options and rejects unknown instance types and bad numbers', () => {
    const o = parsePlanArgs([
      '--articles',
      '1000',
      '--train-instance-type',
      'ml.g5.12xlarge',
      '--max-train-tokens',
      '5e6',
    ]);
    expect(o).toMatchObject({ articles: 1000, trainInstanceType: 'ml.g5.12xlarge', maxTrainTokens: 5e6 });
    expect(plan(o)[3]!.work).toContain('5,000,000 tokens');
    expect(() => parsePlanArgs(['--articles', '-3'])).toThrow(/non-negative number/);
    expect(() => parsePlanArgs(['--nope', '1'])).toThrow(/unknown option --nope/);
    expect(() => plan({ ...DEFAULT_PLAN, trainInstanceType: 'ml.c5.4xlarge' })).toThrow(/no GPU/);
    expect(() => plan({ ...DEFAULT_PLAN, ingestInstanceType: 'ml.x.huge' })).toThrow(/no price for ml.x.huge/);
  });
});
