// Shared helpers of the review-app tests: the fixture run, a server per test, signed-in API calls.
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AXIS_KEYS } from '../../lib/review/axes.ts';
import { Blinding } from '../../lib/review/blind.ts';
import { type Model, ReviewDb } from '../../lib/review/db.ts';
import { readQualitative } from '../../lib/review/import.ts';
import { type ReviewServer, startReviewServer } from '../../lib/review/server.ts';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURE = join(repo, 'test', 'fixtures', 'review', 'qualitative.jsonl');
export const fixtureItems = readQualitative(FIXTURE);
export const MODEL_WORDS = /base|tuned/i;

/** A run folder like the local runner writes, with the fixture as the Evaluate output. */
export function makeRun(): string {
  const run = mkdtempSync(join(tmpdir(), 'medllama-review-'));
  const rel = 's3/medllama-local-artifacts/evaluation/exec-1/Evaluate';
  mkdirSync(join(run, rel), { recursive: true });
  copyFileSync(FIXTURE, join(run, rel, 'qualitative.jsonl'));
  writeFileSync(
    join(run, 'state.json'),
    JSON.stringify({ runId: 'r', steps: { Evaluate: { name: 'Evaluate', outputs: { evaluation: rel } } } }),
  );
  return run;
}

export const tempDb = () => join(mkdtempSync(join(tmpdir(), 'medllama-review-')), 'r.sqlite');

/** A clock that ticks one second per call, from 2026-01-01. */
export function clock(): () => string {
  let t = Date.UTC(2026, 0, 1);
  return () => {
    t += 1000;
    return new Date(t).toISOString();
  };
}

/** Things to close after each test (register with `track`, close with `closeAll` in afterEach). */
const open: Array<{ close(): unknown }> = [];
export const track = <T extends { close(): unknown }>(o: T): T => {
  open.push(o);
  return o;
};
export async function closeAll(): Promise<void> {
  for (const o of open.splice(0).reverse()) await o.close();
}

export async function serve(dbFile: string, port = 0, now = clock()): Promise<{ db: ReviewDb; server: ReviewServer }> {
  const db = track(ReviewDb.open(dbFile, { now }));
  db.importItems(fixtureItems, FIXTURE);
  const server = track(await startReviewServer({ db, port, summary: { reps: 500 } }));
  return { db, server };
}

export interface Reply {
  status: number;
  text: string;
  json: Record<string, unknown>;
  headers: Headers;
}

/** One request; a body makes it a JSON POST; `token` signs it in. */
export async function call(
  server: ReviewServer,
  path: string,
  opts: { body?: unknown; token?: string; headers?: Record<string, string>; method?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`;
  const init: RequestInit = {
    method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
    headers: { ...headers, ...opts.headers },
  };
  if (opts.body !== undefined) init.body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const res = await fetch(new URL(path, server.url), init);
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    /* the page */
  }
  return { status: res.status, text, json, headers: res.headers };
}

/** The enrolment code in the server's enrolment link. */
export const enrolCode = (server: ReviewServer) => new URL(server.enrolUrl).hash.replace(/^#enrol=/, '');

/** Enrols `name` through the app and returns the reviewer's token. */
export async function enrol(server: ReviewServer, name: string): Promise<string> {
  const r = await call(server, '/api/enrol', { body: { code: enrolCode(server), name } });
  if (r.status !== 200) throw new Error(`enrol ${name}: HTTP ${r.status} ${r.text}`);
  return r.json.token as string;
}

export const all = (v: number) => Object.fromEntries(AXIS_KEYS.map((k) => [k, v]));
export const rating = (itemId: string, a: number, b: number, preference: string, comment = '') => ({
  itemId,
  scores: { A: all(a), B: all(b) },
  preference,
  comment,
});

/** The model this reviewer is shown as Answer A (computed from the study's seed, as the server does). */
export function answerA(db: ReviewDb, name: string, itemId: string): Model {
  const reviewer = db.findReviewer(name);
  if (!reviewer) throw new Error(`no reviewer ${name}`);
  return new Blinding(db.blindingSeed()).answerA(reviewer.id, itemId);
}

export const otherModel = (m: Model): Model => (m === 'base' ? 'tuned' : 'base');
