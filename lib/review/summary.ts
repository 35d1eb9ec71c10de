/**
 * The review summary: per-axis means for base and tuned with bootstrap CIs over items, the paired difference
 * and the preference rate. `reviewSummary(runFolder)` is the entry point for the report (lib/report).
 */
import { existsSync } from 'node:fs';
import { AXES, AXIS_KEYS } from './axes.ts';
import { ReviewDb } from './db.ts';
import { resolveReviewPaths } from './import.ts';
import { type BootstrapOptions, type Estimate, type StatsSummary, summarize } from './stats.ts';

export interface ReviewSummary extends StatsSummary {
  readonly schema: 'medllama-review-summary/1';
  /** Items imported for review (rated or not). */
  readonly totalItems: number;
  /** Axis key → human label, in display order. */
  readonly axisLabels: Readonly<Record<string, string>>;
  readonly scale: { readonly min: 1; readonly max: 5; readonly best: 5 };
}

export function computeSummary(db: ReviewDb, opts: BootstrapOptions = {}): ReviewSummary {
  const stats = summarize(db.statsJudgements(), AXIS_KEYS, opts);
  return {
    schema: 'medllama-review-summary/1',
    totalItems: db.items().length,
    axisLabels: Object.fromEntries(AXES.map((a) => [a.key, a.label])),
    scale: { min: 1, max: 5, best: 5 },
    ...stats,
  };
}

/**
 * The summary of a run's expert review as JSON-ready data, or undefined when the run has no ratings database
 * (`<run folder>/review/ratings.sqlite`, or `opts.db`). `runFolder` may also be a path to a qualitative.jsonl.
 */
export function reviewSummary(
  runFolder: string,
  opts: BootstrapOptions & { db?: string } = {},
): ReviewSummary | undefined {
  const file = opts.db ?? resolveReviewPaths(runFolder).defaultDb;
  if (!existsSync(file)) return undefined;
  const db = ReviewDb.open(file, { readonly: true });
  try {
    return computeSummary(db, opts);
  } finally {
    db.close();
  }
}

/**
 * Below this many rated items the percentile-bootstrap interval is not worth reading: with n items there are
 * only n distinct values to resample, and the interval is far narrower than the uncertainty (one item gives the
 * zero-width "[1.00, 1.00]"). The summary then says so in words.
 */
export const MIN_ITEMS_FOR_CI = 10;

/** A plain warning when too few items were rated for the intervals to mean anything; undefined otherwise. */
export function smallSampleWarning(s: Pick<StatsSummary, 'items' | 'level'>): string | undefined {
  if (s.items === 0) return 'No item has been rated yet: there is nothing to summarise.';
  if (s.items >= MIN_ITEMS_FOR_CI) return undefined;
  return (
    `Only ${s.items} item(s) rated: too few for the ${Math.round(s.level * 100)}% intervals to mean anything ` +
    `(at least ${MIN_ITEMS_FOR_CI} are needed). Read these numbers as anecdotes, not as results.`
  );
}

const num = (v: number | null, digits = 2) => (v === null ? '–' : v.toFixed(digits));
/** "3.50 [3.00, 4.00]"; from a single item, "3.50 (1 item, no interval)": one value has no spread to show. */
export const formatEstimate = (e: Estimate, digits = 2): string => {
  if (e.mean === null) return '–';
  if (e.n < 2) return `${num(e.mean, digits)} (${e.n} item, no interval)`;
  return `${num(e.mean, digits)} [${num(e.lo, digits)}, ${num(e.hi, digits)}]`;
};
/** A paired difference with an explicit sign: "+0.50 [0.10, 0.90]". */
export const formatDifference = (e: Estimate, digits = 2): string =>
  e.mean === null ? '–' : `${e.mean >= 0 ? '+' : ''}${formatEstimate(e, digits)}`;
const pct = (v: number | null) => (v === null ? '–' : `${Math.round(v * 100)}%`);

/** Plain-text table for `medllama review --summary`. */
export function formatSummary(s: ReviewSummary): string {
  const level = Math.round(s.level * 100);
  const lines = [
    `Expert review: ${s.items} of ${s.totalItems} items rated by ${s.reviewers} reviewer(s), ${s.judgements} judgement(s).`,
    `Scale 1–5, 5 = best on every axis. Means over items (each item averaged over its reviewers) with ${level}% ` +
      `percentile-bootstrap CIs over items (${s.reps} replicates, seed ${s.seed}).`,
  ];
  const warning = smallSampleWarning(s);
  if (warning) lines.push(`WARNING: ${warning}`);
  lines.push('');
  const width = Math.max(...AXES.map((a) => a.label.length));
  const col = 26;
  lines.push(
    `${'axis'.padEnd(width)}  ${'base'.padEnd(col)}  ${'tuned'.padEnd(col)}  tuned − base (paired)`,
    `${'-'.repeat(width)}  ${'-'.repeat(col)}  ${'-'.repeat(col)}  ${'-'.repeat(col + 1)}`,
  );
  for (const a of s.axes) {
    const label = s.axisLabels[a.axis] ?? a.axis;
    const diff = formatDifference(a.difference);
    lines.push(
      `${label.padEnd(width)}  ${formatEstimate(a.base).padEnd(col)}  ${formatEstimate(a.tuned).padEnd(col)}  ${diff}`,
    );
  }
  const p = s.preference;
  lines.push(
    '',
    `Preference: tuned wins ${p.tunedWins} (${pct(p.tunedWinShare)}), ties ${p.ties} (${pct(p.tieShare)}), ` +
      `base wins ${p.baseWins} (${pct(p.baseWinShare)}) of ${p.judgements} judgement(s).`,
    `Tuned win rate (tie = ½): ${formatEstimate(p.winRate)}.`,
  );
  return `${lines.join('\n')}\n`;
}
