// lib/review/stats.ts against hand-computed cases (exact bootstrap distributions of tiny samples).
import { describe, expect, it } from 'vitest';
import {
  bootstrapMean,
  type Judgement,
  mean,
  mulberry32,
  pairedBootstrap,
  preferenceScore,
  quantileSorted,
  summarize,
} from '../lib/review/stats.ts';
import {
  formatDifference,
  formatEstimate,
  formatSummary,
  MIN_ITEMS_FOR_CI,
  smallSampleWarning,
} from '../lib/review/summary.ts';

describe('basic statistics', () => {
  it('mean and type-7 quantiles', () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(mean([])).toBeNaN();
    // h = (n - 1) p: p = .5 → h = 1.5 → 2.5; p = .025 → h = .075 → 1 + .075; p = .975 → h = 2.925 → 3.925
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 0.025)).toBeCloseTo(1.075, 12);
    expect(quantileSorted([1, 2, 3, 4], 0.975)).toBeCloseTo(3.925, 12);
    expect(quantileSorted([7], 0.3)).toBe(7);
    expect(quantileSorted([1, 2], 0)).toBe(1);
    expect(quantileSorted([1, 2], 1)).toBe(2);
    expect(quantileSorted([], 0.5)).toBeNaN();
  });

  it('mulberry32 is seeded, in [0, 1) and roughly uniform', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const c = mulberry32(43);
    const xs = Array.from({ length: 20000 }, () => a());
    expect(Array.from({ length: 20000 }, () => b())).toEqual(xs);
    expect(c()).not.toBe(xs[0]);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(Math.abs(mean(xs) - 0.5)).toBeLessThan(0.01);
    // each tenth of [0, 1) gets about 2000 draws
    const bins = new Array(10).fill(0);
    for (const x of xs) bins[Math.floor(x * 10)]++;
    for (const n of bins) expect(Math.abs(n - 2000)).toBeLessThan(200);
  });

  it('preference scores: tuned 1, tie ½, base 0', () => {
    expect([preferenceScore('tuned'), preferenceScore('tie'), preferenceScore('base')]).toEqual([1, 0.5, 0]);
  });
});

describe('bootstrap CIs', () => {
  it('a constant sample has a zero-width CI; an empty one has nulls', () => {
    expect(bootstrapMean([3, 3, 3])).toEqual({ mean: 3, lo: 3, hi: 3, n: 3 });
    expect(bootstrapMean([])).toEqual({ mean: null, lo: null, hi: null, n: 0 });
    expect(bootstrapMean([4.5])).toEqual({ mean: 4.5, lo: 4.5, hi: 4.5, n: 1 });
  });

  it('matches the exact bootstrap distribution of [1, 2, 3]', () => {
    // 27 equally likely resamples; P(mean = 1) = P(mean = 3) = 1/27 ≈ 3.7% > 2.5%, so the 95% CI is [1, 3].
    const e = bootstrapMean([1, 2, 3], { reps: 4000, seed: 7 });
    expect(e).toEqual({ mean: 2, lo: 1, hi: 3, n: 3 });
  });

  it('matches the exact bootstrap distribution of [0, 0, 0, 1]', () => {
    // resample mean = k/4, k ~ Binomial(4, 1/4): cumulative 81, 189, 243, 255, 256 (/256) = .316, .738, .949, .996, 1
    // → 2.5th percentile 0, 97.5th percentile 0.75 (the .949 < .975 ≤ .996 step).
    const e = bootstrapMean([0, 0, 0, 1], { reps: 4000, seed: 11 });
    expect(e).toEqual({ mean: 0.25, lo: 0, hi: 0.75, n: 4 });
  });

  it('90% level uses the 5th and 95th percentiles', () => {
    // [0, 1]: resample means 0, ½, 1 with probabilities ¼, ½, ¼ → 5th percentile 0, 95th 1.
    expect(bootstrapMean([0, 1], { reps: 2000, level: 0.9 })).toEqual({ mean: 0.5, lo: 0, hi: 1, n: 2 });
  });

  it('is paired: a constant per-item difference has a zero-width CI while the means vary', () => {
    const base = [1, 2, 3, 4, 5, 2, 3];
    const tuned = base.map((b) => b + 1);
    const diff = tuned.map((t, i) => t - base[i]);
    const [b, t, d] = pairedBootstrap([base, tuned, diff], { reps: 500 });
    expect(d).toEqual({ mean: 1, lo: 1, hi: 1, n: 7 });
    expect(b.hi! - b.lo!).toBeGreaterThan(0.5);
    // the same resamples for both columns: the tuned CI is the base CI shifted by exactly 1
    expect(t.lo! - b.lo!).toBeCloseTo(1, 12);
    expect(t.hi! - b.hi!).toBeCloseTo(1, 12);
  });

  it('is deterministic for a seed and changes with it', () => {
    const xs = [0.13, 1.7, 2.2, 5.9, 3.1, 4.4, 0.8];
    expect(bootstrapMean(xs, { seed: 5 })).toEqual(bootstrapMean(xs, { seed: 5 }));
    expect(bootstrapMean(xs, { seed: 5 })).not.toEqual(bootstrapMean(xs, { seed: 6 }));
    const e = bootstrapMean(xs);
    expect(e.lo!).toBeLessThan(e.mean!);
    expect(e.hi!).toBeGreaterThan(e.mean!);
  });

  it('rejects bad options and data', () => {
    expect(() => bootstrapMean([1], { reps: 0 })).toThrow(/reps/);
    expect(() => bootstrapMean([1], { level: 1 })).toThrow(/level/);
    expect(() => pairedBootstrap([[1, 2], [1]])).toThrow(/one value per item/);
    expect(() => bootstrapMean([1, Number.NaN])).toThrow(/non-finite/);
  });
});

describe('summarize', () => {
  const j = (
    itemId: string,
    reviewer: string,
    base: number,
    tuned: number,
    preference: Judgement['preference'],
  ): Judgement => ({
    itemId,
    reviewer,
    base: { consensus: base, bias: 5 },
    tuned: { consensus: tuned, bias: 4 },
    preference,
  });

  it('averages per item over reviewers, then over items, with paired CIs and the preference rate', () => {
    const s = summarize(
      [j('X', 'r1', 2, 4, 'tuned'), j('X', 'r2', 4, 4, 'tie'), j('Y', 'r1', 3, 5, 'base')],
      ['consensus', 'bias'],
      { reps: 4000 },
    );
    expect(s.items).toBe(2);
    expect(s.reviewers).toBe(2);
    expect(s.judgements).toBe(3);
    const [consensus, bias] = s.axes;
    // item X: base (2 + 4) / 2 = 3, tuned 4, diff 1; item Y: base 3, tuned 5, diff 2.
    // Two items → resample means are x1, (x1 + x2)/2, x2 with probabilities ¼, ½, ¼: CI = [min, max].
    expect(consensus).toEqual({
      axis: 'consensus',
      base: { mean: 3, lo: 3, hi: 3, n: 2 },
      tuned: { mean: 4.5, lo: 4, hi: 5, n: 2 },
      difference: { mean: 1.5, lo: 1, hi: 2, n: 2 },
    });
    expect(bias.difference).toEqual({ mean: -1, lo: -1, hi: -1, n: 2 });
    // preference: one each; item X scores (1 + ½) / 2 = .75, item Y 0 → win rate .375, CI [0, .75]
    expect(s.preference).toEqual({
      tunedWins: 1,
      ties: 1,
      baseWins: 1,
      judgements: 3,
      tunedWinShare: 1 / 3,
      tieShare: 1 / 3,
      baseWinShare: 1 / 3,
      winRate: { mean: 0.375, lo: 0, hi: 0.75, n: 2 },
    });
  });

  it('handles no judgements and refuses a judgement that lacks an axis', () => {
    const s = summarize([], ['consensus']);
    expect(s.items).toBe(0);
    expect(s.axes[0].base.mean).toBeNull();
    expect(s.preference.winRate.mean).toBeNull();
    expect(s.preference.tunedWinShare).toBeNull();
    expect(() => summarize([j('X', 'r1', 2, 4, 'tie')], ['missing'])).toThrow(/lacks axis missing/);
  });
});

describe('small samples (issue #20: "tuned preferred 100 %, CI [1.00, 1.00]" after one rating)', () => {
  it('an estimate from one item has no interval, and says so', () => {
    expect(formatEstimate({ mean: 1, lo: 1, hi: 1, n: 1 })).toBe('1.00 (1 item, no interval)');
    expect(formatDifference({ mean: 0.5, lo: 0.5, hi: 0.5, n: 1 })).toBe('+0.50 (1 item, no interval)');
    expect(formatEstimate({ mean: 0.5, lo: 0, hi: 1, n: 2 })).toBe('0.50 [0.00, 1.00]');
    expect(formatEstimate({ mean: null, lo: null, hi: null, n: 0 })).toBe('–');
  });

  it('the summary states n and warns plainly below the minimum number of items', () => {
    expect(smallSampleWarning({ items: 0, level: 0.95 })).toBe(
      'No item has been rated yet: there is nothing to summarise.',
    );
    expect(smallSampleWarning({ items: 1, level: 0.95 })).toBe(
      'Only 1 item(s) rated: too few for the 95% intervals to mean anything (at least 10 are needed). ' +
        'Read these numbers as anecdotes, not as results.',
    );
    expect(smallSampleWarning({ items: MIN_ITEMS_FOR_CI - 1, level: 0.9 })).toMatch(/^Only 9 item\(s\).*90% intervals/);
    expect(smallSampleWarning({ items: MIN_ITEMS_FOR_CI, level: 0.95 })).toBeUndefined();
  });

  it('the CLI summary of one rating carries the warning and no zero-width interval', () => {
    const s = summarize(
      [{ itemId: 'X', reviewer: 'r', base: { consensus: 2 }, tuned: { consensus: 5 }, preference: 'tuned' }],
      ['consensus'],
    );
    const text = formatSummary({
      ...s,
      schema: 'medllama-review-summary/1',
      totalItems: 40,
      axisLabels: { consensus: 'Agreement with scientific consensus' },
      scale: { min: 1, max: 5, best: 5 },
    });
    expect(text).toContain('Expert review: 1 of 40 items rated by 1 reviewer(s), 1 judgement(s).');
    expect(text).toContain('WARNING: Only 1 item(s) rated: too few for the 95% intervals to mean anything');
    expect(text).toContain('Tuned win rate (tie = ½): 1.00 (1 item, no interval).');
    expect(text).not.toContain('[1.00, 1.00]');
  });
});
