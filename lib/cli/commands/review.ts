// `medllama review --run <run folder | qualitative.jsonl>`: blinded side-by-side expert review of base vs tuned
// answers (a local web app), plus `--export csv|json` and `--summary [--json]`. See docs/review.md.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ReviewDb } from '../../review/db.ts';
import { toCsv, toJson } from '../../review/export.ts';
import { findQualitative, readQualitative, resolveReviewPaths } from '../../review/import.ts';
import { startReviewServer } from '../../review/server.ts';
import { DEFAULT_REPS, DEFAULT_SEED } from '../../review/stats.ts';
import { computeSummary, formatSummary } from '../../review/summary.ts';
import { type CliCommand, UsageError } from '../command.ts';
import { parseOptions } from '../options.ts';

export const DEFAULT_PORT = 8377;

export interface ReviewArgs {
  run: string;
  port: number;
  db?: string;
  export?: 'csv' | 'json';
  out?: string;
  summary: boolean;
  json: boolean;
  reps: number;
  seed: number;
}

function intArg(flag: string, value: string | undefined, min: number, max: number): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < min || Number(value) > max)
    throw new UsageError(`${flag} needs a whole number from ${min} to ${max}, got ${value ?? 'nothing'}`);
  return Number(value);
}

const options = [
  { name: 'run', value: 'DIR|FILE', description: 'the run folder, or the path of a qualitative.jsonl (required)' },
  {
    name: 'port',
    value: 'N',
    description: 'port of the rating app; 0 picks a free port',
    default: String(DEFAULT_PORT),
  },
  { name: 'db', value: 'FILE', description: 'ratings database (default <run folder>/review/ratings.sqlite)' },
  {
    name: 'export',
    value: 'csv|json',
    description: 'write the ratings: one row per reviewer, item and model (stdout, or --out FILE)',
  },
  {
    name: 'summary',
    description:
      'per-axis means for base and tuned, the paired difference and the preference rate,\n' +
      'with percentile-bootstrap 95% CIs over items',
  },
  { name: 'json', description: 'the summary as JSON (the same numbers the report uses)' },
  { name: 'out', value: 'FILE', description: 'write the export or summary to FILE instead of stdout' },
  { name: 'reps', value: 'N', description: 'bootstrap resamples for --summary', default: String(DEFAULT_REPS) },
  { name: 'seed', value: 'N', description: 'bootstrap seed for --summary', default: String(DEFAULT_SEED) },
] as const;

export function parseReviewArgs(argv: string[]): ReviewArgs {
  const { values } = parseOptions(argv, options);
  if (!values.run) throw new UsageError('--run <run folder | path to qualitative.jsonl> is required');
  const exportAs = values.export;
  if (exportAs !== undefined && exportAs !== 'csv' && exportAs !== 'json')
    throw new UsageError(`--export takes csv or json, got ${exportAs}`);
  if (exportAs && values.summary) throw new UsageError('use either --export or --summary, not both');
  if (values.out && !exportAs && !values.summary) throw new UsageError('--out goes with --export or --summary');
  if (values.json && !values.summary)
    throw new UsageError('--json goes with --summary (use --export json for ratings)');
  return {
    run: values.run,
    port: intArg('--port', values.port, 0, 65535),
    summary: values.summary,
    json: values.json,
    reps: intArg('--reps', values.reps, 1, 1_000_000),
    seed: intArg('--seed', values.seed, 0, 2 ** 32 - 1),
    ...(values.db !== undefined ? { db: values.db } : {}),
    ...(exportAs !== undefined ? { export: exportAs } : {}),
    ...(values.out !== undefined ? { out: values.out } : {}),
  };
}

function openExisting(file: string, run: string): ReviewDb {
  if (!existsSync(file))
    throw new Error(`no ratings database at ${file}; run \`medllama review --run ${run}\` and rate some items first`);
  return ReviewDb.open(file, { readonly: true });
}

function emit(text: string, out: string | undefined): void {
  if (!out) {
    process.stdout.write(text);
    return;
  }
  mkdirSync(dirname(resolve(out)), { recursive: true });
  writeFileSync(resolve(out), text);
  console.error(`wrote ${resolve(out)}`);
}

/** Serves until SIGINT / SIGTERM (or `stop` resolves); resolves to the exit code. */
export async function serveReview(args: ReviewArgs, stop?: Promise<void>): Promise<number> {
  const paths = resolveReviewPaths(args.run);
  const source = findQualitative(paths);
  const items = readQualitative(source);
  const dbFile = resolve(args.db ?? paths.defaultDb);
  const db = ReviewDb.open(dbFile);
  try {
    const { added, unchanged } = db.importItems(items, source);
    console.log(`items: ${added} new, ${unchanged} already imported, from ${source}`);
    console.log(`ratings: ${dbFile}`);
    const server = await startReviewServer({ db, port: args.port, summary: { reps: args.reps, seed: args.seed } });
    console.log(`\nReview at ${server.url}  (listening on 127.0.0.1 only; Ctrl+C to stop)`);
    await new Promise<void>((done) => {
      const finish = () => {
        process.off('SIGINT', finish);
        process.off('SIGTERM', finish);
        done();
      };
      process.once('SIGINT', finish);
      process.once('SIGTERM', finish);
      stop?.then(finish);
    });
    await server.close();
    console.log('review server stopped; ratings are saved');
    return 0;
  } finally {
    db.close();
  }
}

export async function runReview(argv: string[], stop?: Promise<void>): Promise<number> {
  const args = parseReviewArgs(argv);
  if (!args.export && !args.summary) return serveReview(args, stop);
  const dbFile = resolve(args.db ?? resolveReviewPaths(args.run).defaultDb);
  const db = openExisting(dbFile, args.run);
  try {
    if (args.export) {
      const rows = db.exportRows();
      emit(args.export === 'csv' ? toCsv(rows) : toJson(rows), args.out);
      if (args.out) console.error(`${rows.length} row(s): one per reviewer, item and model`);
    } else {
      const summary = computeSummary(db, { reps: args.reps, seed: args.seed });
      emit(args.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary), args.out);
    }
    return 0;
  } finally {
    db.close();
  }
}

export const command: CliCommand = {
  name: 'review',
  summary: 'Blinded expert review of base vs tuned answers (local web app), export and summary',
  usage: `usage: medllama review --run <run folder | qualitative.jsonl> [--port N] [--db FILE]
       medllama review --run <...> --export csv|json [--out FILE] [--db FILE]
       medllama review --run <...> --summary [--json] [--out FILE] [--db FILE] [--reps N] [--seed N]

Serves a rating app on http://127.0.0.1:<port>/ for the Evaluate step's qualitative.jsonl: each reviewer rates
Answer A and Answer B (models hidden, order shuffled per reviewer and prompt) on six Med-PaLM axes (1–5, 5 =
best), picks the better answer and may comment. Ratings go to <run folder>/review/ratings.sqlite (or --db); a
returning reviewer continues where they stopped. See docs/review.md for running a session with clinicians.`,
  options,
  run: (argv) => runReview(argv),
};
