// `medllama review --run <run folder | qualitative.jsonl>`: blinded side-by-side expert review of base vs tuned
// answers (a local web app), plus `--link NAME` (a reviewer's personal link), `--close`, `--export csv|json` and
// `--summary [--json]`. See docs/review.md.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ReviewDb } from '../../review/db.ts';
import { toCsv, toJson } from '../../review/export.ts';
import { findQualitative, readQualitative, resolveReviewPaths } from '../../review/import.ts';
import { checkName } from '../../review/names.ts';
import { HOST, startReviewServer } from '../../review/server.ts';
import { DEFAULT_REPS, DEFAULT_SEED } from '../../review/stats.ts';
import { computeSummary, formatSummary } from '../../review/summary.ts';
import { hashSecret, newSecret } from '../../review/tokens.ts';
import { type CliCommand, UsageError } from '../command.ts';
import { parseOptions } from '../options.ts';

export const DEFAULT_PORT = 8377;

export interface ReviewArgs {
  run: string;
  port: number;
  db?: string;
  export?: 'csv' | 'json';
  out?: string;
  /** Issue a personal link for this reviewer name (enrolling it when new). */
  link?: string;
  close: boolean;
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
    name: 'link',
    value: 'NAME',
    description: 'print a personal link for reviewer NAME (enrolling NAME when new); it replaces their earlier link',
  },
  { name: 'close', description: 'close the study: ratings become final and reviewers can see the summary' },
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
  let link: string | undefined;
  if (values.link !== undefined) {
    const checked = checkName(values.link);
    if (!checked.ok) throw new UsageError(`--link: ${checked.reason}`);
    link = checked.name;
  }
  const chosen = [
    exportAs && '--export',
    values.summary && '--summary',
    link !== undefined && '--link',
    values.close && '--close',
  ].filter(Boolean);
  if (chosen.length > 1)
    throw new UsageError(`use one of --export, --summary, --link and --close, not ${chosen.join(' and ')}`);
  if (values.out && !exportAs && !values.summary) throw new UsageError('--out goes with --export or --summary');
  if (values.json && !values.summary)
    throw new UsageError('--json goes with --summary (use --export json for ratings)');
  return {
    run: values.run,
    port: intArg('--port', values.port, 0, 65535),
    summary: values.summary,
    json: values.json,
    close: values.close,
    reps: intArg('--reps', values.reps, 1, 1_000_000),
    seed: intArg('--seed', values.seed, 0, 2 ** 32 - 1),
    ...(values.db !== undefined ? { db: values.db } : {}),
    ...(exportAs !== undefined ? { export: exportAs } : {}),
    ...(values.out !== undefined ? { out: values.out } : {}),
    ...(link !== undefined ? { link } : {}),
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
    const closed = db.closedAt();
    console.log(`\nReview at ${server.url}  (listening on 127.0.0.1 only; Ctrl+C to stop)`);
    if (closed) console.log(`The study was closed at ${closed}: reviewers can read the summary; ratings are final.`);
    else {
      console.log(`Enrolment link (give it to the reviewers only; it changes at every start):\n  ${server.enrolUrl}`);
      console.log(
        `A reviewer's personal link, to continue in another browser: medllama review --run ${args.run} --link "<name>"`,
      );
    }
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

/**
 * `--link NAME`: a new secret token for the reviewer (enrolled when new); the old link stops working. The link
 * carries the token in its fragment, which the page keeps and removes from the address bar.
 */
function issueLink(args: ReviewArgs): number {
  const dbFile = resolve(args.db ?? resolveReviewPaths(args.run).defaultDb);
  const db = ReviewDb.open(dbFile);
  try {
    const token = newSecret();
    const { reviewer, created } = db.issueToken(args.link!, hashSecret(token));
    const port = args.port === 0 ? '<port>' : String(args.port);
    console.error(
      created
        ? `enrolled ${JSON.stringify(reviewer.name)}`
        : `new link for ${JSON.stringify(reviewer.name)}; their earlier link no longer works`,
    );
    console.error('Give this link to that reviewer only: whoever opens it rates as them.');
    process.stdout.write(`http://${HOST}:${port}/#login=${token}\n`);
    return 0;
  } finally {
    db.close();
  }
}

/** `--close`: ratings become final and the app shows the summary to reviewers. */
function closeStudy(args: ReviewArgs): number {
  const dbFile = resolve(args.db ?? resolveReviewPaths(args.run).defaultDb);
  const db = openExisting(dbFile, args.run);
  db.close();
  const rw = ReviewDb.open(dbFile);
  try {
    const closedAt = rw.closeStudy();
    console.log(`study closed at ${closedAt}: no more enrolments or ratings; reviewers can now see the summary`);
    return 0;
  } finally {
    rw.close();
  }
}

export async function runReview(argv: string[], stop?: Promise<void>): Promise<number> {
  const args = parseReviewArgs(argv);
  if (args.link) return issueLink(args);
  if (args.close) return closeStudy(args);
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
       medllama review --run <...> --link NAME [--port N] [--db FILE]
       medllama review --run <...> --close [--db FILE]
       medllama review --run <...> --export csv|json [--out FILE] [--db FILE]
       medllama review --run <...> --summary [--json] [--out FILE] [--db FILE] [--reps N] [--seed N]

Serves a rating app on http://127.0.0.1:<port>/ (default ${DEFAULT_PORT}; 0 picks a free port) for the
Evaluate step's qualitative.jsonl: each reviewer rates Answer A and Answer B (models hidden, order shuffled per
reviewer and prompt) on six Med-PaLM axes (1–5, 5 = best), picks the better answer and may comment.
Ratings go to <run folder>/review/ratings.sqlite (or --db); a returning reviewer continues where they stopped.
Reviewers enrol through the enrolment link the server prints; each gets a secret token kept by their browser.

See docs/review.md for running a session with clinicians.`,
  options,
  run: (argv) => runReview(argv),
};
