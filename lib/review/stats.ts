/**
 * Pure statistics for the expert review: means, seeded non-parametric bootstrap CIs over items (paired, so
 * base, tuned and their difference are resampled with the same item indices), and preference rates.
 * No I/O; every function is deterministic for a given seed.
 */

/** Mulberry32: a small, fast, seeded 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Arithmetic mean; NaN for an empty list. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/**
 * The p-quantile of an ascending-sorted list with linear interpolation between order statistics
 * (Hyndman & Fan type 7, the default of R and NumPy): h = (n - 1) p.
 */
export function quantileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (p <= 0) return sorted[0];
  if (p >= 1) return sorted[sorted.length - 1];
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export interface BootstrapOptions {
  /** Bootstrap replicates (Med-PaLM used 1,000). */
  readonly reps?: number;
  readonly seed?: number;
  /** Two-sided level; 0.95 gives the 2.5th and 97.5th percentiles. */
  readonly level?: number;
}

export const DEFAULT_REPS = 1000;
export const DEFAULT_SEED = 20230712;

/** A point estimate with a percentile-bootstrap confidence interval; all null when there is no data. */
export interface Estimate {
  readonly mean: number | null;
  readonly lo: number | null;
  readonly hi: number | null;
  readonly n: number;
}

/**
 * Paired percentile bootstrap of the mean of several equally long columns (one value per item per column):
 * each replicate draws n item indices with replacement and averages every column over the same indices.
 */
export function pairedBootstrap(columns: readonly (readonly number[])[], opts: BootstrapOptions = {}): Estimate[] {
  const reps = opts.reps ?? DEFAULT_REPS;
  const level = opts.level ?? 0.95;
  if (!Number.isInteger(reps) || reps < 1) throw new RangeError(`reps must be a positive integer, got ${reps}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`level must be in (0, 1), got ${level}`);
  const n = columns[0]?.length ?? 0;
  for (const c of columns) {
    if (c.length !== n) throw new RangeError('pairedBootstrap: every column needs one value per item');
    for (const v of c) if (!Number.isFinite(v)) throw new RangeError(`pairedBootstrap: non-finite value ${v}`);
  }
  if (n === 0) return columns.map(() => ({ mean: null, lo: null, hi: null, n: 0 }));
  const rand = mulberry32(opts.seed ?? DEFAULT_SEED);
  const draws: number[][] = columns.map(() => new Array<number>(reps));
  for (let r = 0; r < reps; r++) {
    const sums = new Array<number>(columns.length).fill(0);
    for (let k = 0; k < n; k++) {
      const i = Math.floor(rand() * n);
      for (let c = 0; c < columns.length; c++) sums[c] += columns[c][i];
    }
    for (let c = 0; c < columns.length; c++) draws[c][r] = sums[c] / n;
  }
  const tail = (1 - level) / 2;
  return columns.map((col, c) => {
    const sorted = draws[c].sort((a, b) => a - b);
    return { mean: mean(col), lo: quantileSorted(sorted, tail), hi: quantileSorted(sorted, 1 - tail), n };
  });
}

/** Bootstrap CI of one column's mean. */
export function bootstrapMean(values: readonly number[], opts: BootstrapOptions = {}): Estimate {
  return pairedBootstrap([values], opts)[0];
}

export type Preference = 'base' | 'tuned' | 'tie';

/** Score of one judgement for the win rate: tuned win 1, tie ½, base win 0. */
export function preferenceScore(p: Preference): number {
  return p === 'tuned' ? 1 : p === 'tie' ? 0.5 : 0;
}

/** One reviewer's ratings of one item, already un-blinded (server-side only). */
export interface Judgement {
  readonly itemId: string;
  readonly reviewer: string;
  readonly base: Readonly<Record<string, number>>;
  readonly tuned: Readonly<Record<string, number>>;
  readonly preference: Preference;
}

export interface AxisSummary {
  readonly axis: string;
  readonly base: Estimate;
  readonly tuned: Estimate;
  /** tuned − base, paired by item (positive = tuned rated better, since 5 is best on every axis). */
  readonly difference: Estimate;
}

export interface PreferenceSummary {
  /** Counts over all judgements. */
  readonly tunedWins: number;
  readonly ties: number;
  readonly baseWins: number;
  readonly judgements: number;
  /** Shares of all judgements. */
  readonly tunedWinShare: number | null;
  readonly tieShare: number | null;
  readonly baseWinShare: number | null;
  /** Mean over items of the item's mean score (tuned 1, tie ½, base 0), with its bootstrap CI over items. */
  readonly winRate: Estimate;
}

export interface StatsSummary {
  readonly items: number;
  readonly reviewers: number;
  readonly judgements: number;
  readonly reps: number;
  readonly seed: number;
  readonly level: number;
  readonly axes: AxisSummary[];
  readonly preference: PreferenceSummary;
}

/**
 * Per-axis means for base and tuned and their paired difference, and the preference rate. Ratings are first
 * averaged per item over its reviewers, so every item weighs the same; the bootstrap resamples items.
 */
export function summarize(
  judgements: readonly Judgement[],
  axes: readonly string[],
  opts: BootstrapOptions = {},
): StatsSummary {
  const byItem = new Map<string, Judgement[]>();
  for (const j of judgements) {
    for (const axis of axes) {
      for (const v of [j.base[axis], j.tuned[axis]]) {
        if (!Number.isFinite(v)) throw new RangeError(`judgement ${j.reviewer}/${j.itemId} lacks axis ${axis}`);
      }
    }
    const list = byItem.get(j.itemId) ?? [];
    list.push(j);
    byItem.set(j.itemId, list);
  }
  const itemIds = [...byItem.keys()].sort();
  const groups = itemIds.map((id) => byItem.get(id)!);
  const seed = opts.seed ?? DEFAULT_SEED;
  const reps = opts.reps ?? DEFAULT_REPS;
  const level = opts.level ?? 0.95;
  const boot = { seed, reps, level };

  const axisSummaries = axes.map((axis) => {
    const base = groups.map((g) => mean(g.map((j) => j.base[axis])));
    const tuned = groups.map((g) => mean(g.map((j) => j.tuned[axis])));
    const diff = base.map((b, i) => tuned[i] - b);
    const [b, t, d] = pairedBootstrap([base, tuned, diff], boot);
    return { axis, base: b, tuned: t, difference: d };
  });

  const count = (p: Preference) => judgements.filter((j) => j.preference === p).length;
  const total = judgements.length;
  const share = (k: number) => (total === 0 ? null : k / total);
  const itemScores = groups.map((g) => mean(g.map((j) => preferenceScore(j.preference))));
  const tunedWins = count('tuned');
  const ties = count('tie');
  const baseWins = count('base');
  return {
    items: groups.length,
    reviewers: new Set(judgements.map((j) => j.reviewer)).size,
    judgements: total,
    reps,
    seed,
    level,
    axes: axisSummaries,
    preference: {
      tunedWins,
      ties,
      baseWins,
      judgements: total,
      tunedWinShare: share(tunedWins),
      tieShare: share(ties),
      baseWinShare: share(baseWins),
      winRate: bootstrapMean(itemScores, boot),
    },
  };
}
