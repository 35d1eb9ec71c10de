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

export function parseReviewArgs(argv: string[]): ReviewArgs {
  const args: Partial<ReviewArgs> = { port: DEFAULT_PORT, summary: false, json: false };
  const value = (i: number) => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${argv[i]} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--run') args.run = value(i++);
    else if (a === '--port') args.port = intArg('--port', value(i++), 0, 65535);
    else if (a === '--db') args.db = value(i++);
    else if (a === '--export') {
      const v = value(i++);
      if (v !== 'csv' && v !== 'json') throw new UsageError(`--export takes csv or json, got ${v}`);
      args.export = v;
    } else if (a === '--out') args.out = value(i++);
    else if (a === '--summary') args.summary = true;
    else if (a === '--json') args.json = true;
    else if (a === '--reps') args.reps = intArg('--reps', value(i++), 1, 1_000_000);
    else if (a === '--seed') args.seed = intArg('--seed', value(i++), 0, 2 ** 32 - 1);
    else throw new UsageError(`unknown option ${a}`);
  }
  if (!args.run) throw new UsageError('--run <run folder | path to qualitative.jsonl> is required');
  if (args.export && args.summary) throw new UsageError('use either --export or --summary, not both');
  if (args.out && !args.export && !args.summary) throw new UsageError('--out goes with --export or --summary');
  if (args.json && !args.summary) throw new UsageError('--json goes with --summary (use --export json for ratings)');
  return { reps: DEFAULT_REPS, seed: DEFAULT_SEED, ...args } as ReviewArgs;
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

Serves a rating app on http://127.0.0.1:<port>/ (default ${DEFAULT_PORT}; 0 picks a free port) for the
Evaluate step's qualitative.jsonl: each reviewer rates Answer A and Answer B (models hidden, order shuffled per
reviewer and prompt) on six Med-PaLM axes (1–5, 5 = best), picks the better answer and may comment.
Ratings go to <run folder>/review/ratings.sqlite (or --db); a returning reviewer continues where they stopped.

  --export csv|json  one row per reviewer, item and model (stdout, or --out FILE)
  --summary          per-axis means for base and tuned, the paired difference and the preference rate,
                     with percentile-bootstrap 95% CIs over items (--reps ${DEFAULT_REPS}, --seed ${DEFAULT_SEED})
  --json             the summary as JSON (the same numbers the report uses)

See docs/review.md for running a session with clinicians.`,
  run: (argv) => runReview(argv),
};
