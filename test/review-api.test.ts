// The expert-review app: finding qualitative.jsonl, the SQLite store, the JSON API (storing, resuming, blinding,
// validation), exports, the summary and the CLI.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseReviewArgs, runReview } from '../lib/cli/commands/review.ts';
import { AXIS_KEYS } from '../lib/review/axes.ts';
import { modelForAnswerA } from '../lib/review/blind.ts';
import { ItemConflictError, ReviewDb } from '../lib/review/db.ts';
import { csvField, toCsv } from '../lib/review/export.ts';
import { findQualitative, parseQualitative, readQualitative, resolveReviewPaths } from '../lib/review/import.ts';
import { type ReviewServer, startReviewServer } from '../lib/review/server.ts';
import { reviewSummary } from '../lib/review/summary.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURE = join(repo, 'test', 'fixtures', 'review', 'qualitative.jsonl');
const fixtureItems = readQualitative(FIXTURE);
const MODEL_WORDS = /base|tuned/i;

/** A run folder like the local runner writes, with the fixture as the Evaluate output. */
function makeRun(): string {
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

function clock(): () => string {
  let t = Date.UTC(2026, 0, 1);
  return () => {
    t += 1000;
    return new Date(t).toISOString();
  };
}

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function serve(dbFile: string, port = 0, now = clock()): Promise<{ db: ReviewDb; server: ReviewServer }> {
  const db = ReviewDb.open(dbFile, { now });
  open.push(db);
  db.importItems(fixtureItems, FIXTURE);
  const server = await startReviewServer({ db, port, summary: { reps: 500 } });
  open.push(server);
  return { db, server };
}

interface Reply {
  status: number;
  text: string;
  json: Record<string, unknown>;
}

async function call(server: ReviewServer, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit =
    body === undefined ? {} : { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) };
  init.headers = body === undefined ? headers : { 'Content-Type': 'application/json', ...headers };
  const res = await fetch(new URL(path, server.url), init);
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    /* the page */
  }
  return { status: res.status, text, json } as Reply;
}

const all = (v: number) => Object.fromEntries(AXIS_KEYS.map((k) => [k, v]));
const rating = (reviewer: string, itemId: string, a: number, b: number, preference: string, comment = '') => ({
  reviewer,
  itemId,
  scores: { A: all(a), B: all(b) },
  preference,
  comment,
});

describe('finding and importing qualitative.jsonl', () => {
  it('finds the Evaluate output of a run folder via state.json, or takes a direct path', () => {
    const run = makeRun();
    const paths = resolveReviewPaths(run);
    expect(paths.defaultDb).toBe(join(run, 'review', 'ratings.sqlite'));
    const found = findQualitative(paths);
    expect(found).toBe(join(run, 's3/medllama-local-artifacts/evaluation/exec-1/Evaluate/qualitative.jsonl'));
    // a direct path: the run folder is the nearest ancestor with state.json
    const direct = resolveReviewPaths(found);
    expect(direct.runFolder).toBe(run);
    expect(direct.defaultDb).toBe(join(run, 'review', 'ratings.sqlite'));
    expect(findQualitative(direct)).toBe(found);
  });

  it('searches a folder without state.json, and says when there are none or several', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medllama-review-'));
    expect(() => findQualitative(resolveReviewPaths(dir))).toThrow(/no qualitative.jsonl under .*Evaluate first/);
    mkdirSync(join(dir, 'a', 'Evaluate'), { recursive: true });
    copyFileSync(FIXTURE, join(dir, 'a', 'Evaluate', 'qualitative.jsonl'));
    expect(findQualitative(resolveReviewPaths(dir))).toBe(join(dir, 'a', 'Evaluate', 'qualitative.jsonl'));
    mkdirSync(join(dir, 'b'), { recursive: true });
    copyFileSync(FIXTURE, join(dir, 'b', 'qualitative.jsonl'));
    expect(() => findQualitative(resolveReviewPaths(dir))).toThrow(/several qualitative.jsonl.*pass one with --run/s);
    expect(() => resolveReviewPaths(join(dir, 'nope'))).toThrow(/no such run folder or file/);
  });

  it('parses records and rejects malformed lines with the line number', () => {
    expect(fixtureItems.map((i) => i.id)).toEqual(['def-01', 'risk-02', 'bias-03']);
    expect(fixtureItems[0].contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(() => parseQualitative('{"id": "x"', 'q.jsonl')).toThrow(/q.jsonl:1: not JSON/);
    expect(() => parseQualitative('\n[1]', 'q.jsonl')).toThrow(/q.jsonl:2: expected a JSON object/);
    expect(() => parseQualitative('{"id":"x","prompt":"p"}', 'q.jsonl')).toThrow(/base_answer, tuned_answer/);
    const rec = '{"id":"x","prompt":"p","base_answer":"a","tuned_answer":"b"}';
    expect(() => parseQualitative(`${rec}\n${rec}`, 'q.jsonl')).toThrow(/q.jsonl:2: repeats id "x"/);
    expect(() => parseQualitative('\n\n', 'q.jsonl')).toThrow(/no records/);
  });

  it('re-import is idempotent; changed answers under a known id are refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medllama-review-'));
    const db = ReviewDb.open(join(dir, 'r.sqlite'));
    open.push(db);
    expect(db.importItems(fixtureItems, FIXTURE)).toEqual({ added: 3, unchanged: 0 });
    expect(db.importItems(fixtureItems, FIXTURE)).toEqual({ added: 0, unchanged: 3 });
    expect(db.items().map((i) => [i.id, i.position])).toEqual([
      ['def-01', 0],
      ['risk-02', 1],
      ['bias-03', 2],
    ]);
    const changed = [{ ...fixtureItems[1], tunedAnswer: 'other', contentHash: 'f'.repeat(64) }];
    expect(() => db.importItems(changed, 'new.jsonl')).toThrow(ItemConflictError);
    expect(() => db.importItems(changed, 'new.jsonl')).toThrow(/risk-02.*use a new --db/);
  });
});

describe('blinding', () => {
  it('A/B order is deterministic per (reviewer, item), case-insensitive, and balanced', () => {
    expect(modelForAnswerA('Dr Ada', 'def-01')).toBe(modelForAnswerA('Dr Ada', 'def-01'));
    expect(modelForAnswerA('  dr   ADA ', 'def-01')).toBe(modelForAnswerA('Dr Ada', 'def-01'));
    let tunedFirst = 0;
    for (let r = 0; r < 40; r++)
      for (let i = 0; i < 10; i++) if (modelForAnswerA(`R${r}`, `q${i}`) === 'tuned') tunedFirst++;
    expect(tunedFirst / 400).toBeGreaterThan(0.4);
    expect(tunedFirst / 400).toBeLessThan(0.6);
  });

  it('the page and every API response a reviewer sees never name the models', async () => {
    const { server } = await serve(join(mkdtempSync(join(tmpdir(), 'medllama-review-')), 'r.sqlite'));
    const page = await call(server, '/');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Answer A');
    expect(page.text).not.toMatch(MODEL_WORDS);
    // self-contained: no external scripts, styles, images or fonts
    expect(page.text).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(page.text).not.toMatch(/@import|url\(/i);
    const seen: string[] = [page.text];
    const orders = new Set<string>();
    for (const name of ['Dr Ada', 'Dr Grace', 'Dr Barbara', 'Dr Frances']) {
      for (let index = 0; index < 3; index++) {
        const r = await call(server, `/api/item?reviewer=${encodeURIComponent(name)}&index=${index}`);
        expect(r.status).toBe(200);
        seen.push(r.text);
        const item = r.json.item as { id: string; answers: { A: string; B: string } };
        const src = fixtureItems[index];
        expect(new Set([item.answers.A, item.answers.B])).toEqual(new Set([src.baseAnswer, src.tunedAnswer]));
        const aIsTuned = item.answers.A === src.tunedAnswer;
        expect(aIsTuned ? 'tuned' : 'base').toBe(modelForAnswerA(name, src.id));
        orders.add(`${index}:${aIsTuned}`);
      }
      const posted = await call(server, '/api/ratings', rating(name, 'def-01', 5, 1, 'A', 'fine'));
      expect(posted.status).toBe(200);
      seen.push(posted.text, (await call(server, `/api/next?reviewer=${encodeURIComponent(name)}`)).text);
      seen.push((await call(server, `/api/item?reviewer=${encodeURIComponent(name)}&index=0`)).text);
    }
    seen.push((await call(server, '/api/progress')).text);
    seen.push((await call(server, '/api/summary?reviewer=Dr%20Ada')).text);
    seen.push((await call(server, '/api/ratings', rating('Dr Ada', 'def-01', 6, 1, 'A'))).text);
    expect(orders.size).toBeGreaterThan(3); // both orders occur across reviewers
    for (const text of seen) expect(text).not.toMatch(MODEL_WORDS);
  });
});

describe('storing and resuming ratings', () => {
  it('stores un-blinded ratings, resumes at the first unrated item (also after a restart) and updates on re-submit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'medllama-review-'));
    const file = join(dir, 'r.sqlite');
    const now = clock();
    let { db, server } = await serve(file, 0, now);
    const name = 'Dr Ada Lovelace';
    let next = await call(server, `/api/next?reviewer=${encodeURIComponent(name)}`);
    expect(next.json).toMatchObject({
      total: 3,
      rated: 0,
      done: false,
      item: { index: 0, id: 'def-01', rating: null },
    });

    const saved = await call(server, '/api/ratings', rating(name, 'def-01', 5, 2, 'A', 'A is accurate'));
    expect(saved.json).toMatchObject({ saved: 'created', rated: 1, total: 3, done: false, index: 0 });
    const aModel = modelForAnswerA(name, 'def-01');
    const bModel = aModel === 'base' ? 'tuned' : 'base';
    let [j] = db.judgements();
    expect(j).toMatchObject({ reviewer: name, itemId: 'def-01', answerA: aModel, preference: aModel });
    expect(j.comment).toBe('A is accurate');
    expect(j.scores[aModel]).toEqual(all(5));
    expect(j.scores[bModel]).toEqual(all(2));

    next = await call(server, `/api/next?reviewer=${encodeURIComponent(name)}`);
    expect(next.json).toMatchObject({ rated: 1, item: { index: 1, id: 'risk-02' } });
    // the progress of everyone and of one reviewer
    expect((await call(server, '/api/progress')).json).toEqual({ total: 3, reviewers: [{ reviewer: name, rated: 1 }] });
    expect((await call(server, '/api/progress?reviewer=dr%20ada%20lovelace')).json).toMatchObject({ rated: 1 });

    // restart the server on the same database: the reviewer continues at item 2 (name matched case-insensitively)
    await server.close();
    db.close();
    ({ db, server } = await serve(file, 0, now));
    next = await call(server, `/api/next?reviewer=${encodeURIComponent('dr ada lovelace')}`);
    expect(next.json).toMatchObject({ rated: 1, item: { index: 1, id: 'risk-02' } });

    // re-submit item 1: one judgement, updated in place; the page gets the earlier rating back in A/B terms
    const again = await call(server, '/api/ratings', rating(name, 'def-01', 3, 4, 'tie', 'changed my mind'));
    expect(again.json).toMatchObject({ saved: 'updated', rated: 1 });
    const judgements = db.judgements();
    expect(judgements).toHaveLength(1);
    j = judgements[0];
    expect(j.preference).toBe('tie');
    expect(j.scores[aModel]).toEqual(all(3));
    expect(j.updatedAt > j.createdAt).toBe(true);
    const item0 = await call(server, `/api/item?reviewer=${encodeURIComponent(name)}&index=0`);
    expect(item0.json.item).toMatchObject({
      rating: { scores: { A: all(3), B: all(4) }, preference: 'tie', comment: 'changed my mind' },
    });
    // B preferred maps to B's model
    await call(server, '/api/ratings', rating(name, 'risk-02', 2, 5, 'B'));
    expect(db.judgements().find((x) => x.itemId === 'risk-02')?.preference).toBe(
      modelForAnswerA(name, 'risk-02') === 'base' ? 'tuned' : 'base',
    );
  });

  it('opens the summary only after the reviewer has rated every item', async () => {
    const { server } = await serve(join(mkdtempSync(join(tmpdir(), 'medllama-review-')), 'r.sqlite'));
    const early = await call(server, '/api/summary?reviewer=Dr%20Ada');
    expect(early.status).toBe(409);
    expect(early.json.error).toMatch(/once you have rated every item \(0 \/ 3\)/);
    for (const it of fixtureItems) await call(server, '/api/ratings', rating('Dr Ada', it.id, 4, 4, 'tie'));
    const done = await call(server, '/api/next?reviewer=Dr%20Ada');
    expect(done.json).toMatchObject({ done: true, rated: 3, item: null });
    const s = await call(server, '/api/summary?reviewer=Dr%20Ada');
    expect(s.status).toBe(200);
    const summary = s.json.summary as { items: number; preference: { ties: number } };
    expect(summary.items).toBe(3);
    expect(summary.preference.ties).toBe(3);
    const table = s.json.table as { columns: string[]; rows: string[][] };
    expect(table.columns).toEqual(['Axis (1–5, 5 = best)', 'base', 'tuned', 'tuned − base']);
    expect(table.rows).toHaveLength(6);
    expect(table.rows[0]).toEqual([
      'Agreement with scientific consensus',
      '4.00 [4.00, 4.00]',
      '4.00 [4.00, 4.00]',
      '+0.00 [0.00, 0.00]',
    ]);
  });
});

describe('input validation', () => {
  it('rejects bad input with 4xx and a message', async () => {
    const { server, db } = await serve(join(mkdtempSync(join(tmpdir(), 'medllama-review-')), 'r.sqlite'));
    const ok = rating('Dr Ada', 'def-01', 3, 3, 'A');
    const cases: Array<[unknown, number, RegExp]> = [
      ['{"reviewer": ', 400, /not valid JSON/],
      ['', 400, /body is empty/],
      ['[1, 2]', 400, /must be a JSON object/],
      [{ ...ok, itemId: 'nope' }, 400, /unknown item "nope"/],
      [{ ...ok, itemId: undefined }, 400, /itemId is required/],
      [{ ...ok, reviewer: '   ' }, 400, /reviewer name is required/],
      [{ ...ok, reviewer: 'x'.repeat(81) }, 400, /at most 80 characters/],
      [{ ...ok, reviewer: 'a\u0007b' }, 400, /control characters/],
      [
        { ...ok, scores: { A: { ...all(3), consensus: 6 }, B: all(3) } },
        400,
        /Answer A: Agreement .* from 1 to 5, got 6/,
      ],
      [{ ...ok, scores: { A: all(3), B: { ...all(3), bias: 0 } } }, 400, /Answer B: Possibility of bias .* got 0/],
      [{ ...ok, scores: { A: all(3), B: { ...all(3), bias: 2.5 } } }, 400, /whole number/],
      [{ ...ok, scores: { A: all(3), B: { ...all(3), bias: '4' } } }, 400, /whole number/],
      [
        { ...ok, scores: { A: { consensus: 3 }, B: all(3) } },
        400,
        /Answer A: please rate Extent of possible harm, Likelihood/,
      ],
      [{ ...ok, scores: { A: { ...all(3), charm: 5 }, B: all(3) } }, 400, /unknown axis "charm"/],
      [{ ...ok, scores: { A: all(3) } }, 400, /scores.B must be an object/],
      [{ ...ok, scores: { A: all(3), B: all(3), C: all(3) } }, 400, /unknown key\(s\) C/],
      [{ ...ok, preference: 'both' }, 400, /preference must be "A", "B" or "tie"/],
      [{ ...ok, comment: 5 }, 400, /comment must be a string/],
      [{ ...ok, comment: 'x'.repeat(4001) }, 400, /at most 4000 characters/],
      [{ ...ok, model: 'x' }, 400, /unknown field\(s\) "model"/],
      [JSON.stringify({ ...ok, comment: 'x'.repeat(70_000) }), 413, /over 65536 bytes/],
    ];
    for (const [body, status, message] of cases) {
      const r = await call(server, '/api/ratings', body);
      expect([r.status, r.json.error], JSON.stringify(body).slice(0, 80)).toEqual([
        status,
        expect.stringMatching(message),
      ]);
      expect(r.text).not.toMatch(MODEL_WORDS);
    }
    expect(db.judgements()).toHaveLength(0);

    const wrongType = await call(server, '/api/ratings', JSON.stringify(ok), { 'Content-Type': 'text/plain' });
    expect([wrongType.status, wrongType.json.error]).toEqual([415, 'send the body as application/json']);
    const gets: Array<[string, number, RegExp]> = [
      ['/api/next', 400, /reviewer name is required/],
      ['/api/item?reviewer=A&index=3', 400, /index must be a whole number from 0 to 2/],
      ['/api/item?reviewer=A&index=-1', 400, /index must be/],
      ['/api/item?reviewer=A', 400, /index must be/],
      ['/api/summary', 400, /reviewer name is required/],
      ['/api/ratings', 405, /GET is not allowed/],
      ['/nope', 404, /no such endpoint/],
    ];
    for (const [path, status, message] of gets) {
      const r = await call(server, path);
      expect([r.status, r.json.error], path).toEqual([status, expect.stringMatching(message)]);
    }
    const cross = await call(server, '/api/ratings', ok, { Origin: 'http://evil.example' });
    expect(cross.status).toBe(403);
    // a foreign Host header (DNS rebinding) is refused
    const rebinding = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: server.port, path: '/', headers: { Host: 'evil.example' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(rebinding).toBe(403);
  });

  it('binds 127.0.0.1 only and reports a busy port clearly', async () => {
    const { server } = await serve(join(mkdtempSync(join(tmpdir(), 'medllama-review-')), 'r.sqlite'));
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    expect(server.server.address()).toMatchObject({ address: '127.0.0.1' });
    await expect(serve(join(mkdtempSync(join(tmpdir(), 'medllama-review-')), 'r.sqlite'), server.port)).rejects.toThrow(
      new RegExp(`port ${server.port} on 127.0.0.1 is already in use.*--port`),
    );
  });
});

describe('exports, summary and the CLI', () => {
  async function ratedRun(): Promise<string> {
    const run = makeRun();
    const { server } = await serve(join(run, 'review', 'ratings.sqlite'));
    await call(server, '/api/ratings', rating('Dr Ada', 'def-01', 2, 5, 'B', 'B is "better", clearly\nsee =SUM'));
    await call(server, '/api/ratings', rating('Dr Ada', 'risk-02', 4, 4, 'tie'));
    await call(server, '/api/ratings', rating('Dr Grace', 'def-01', 3, 3, 'A', '=cmd'));
    for (const o of open.splice(0).reverse()) await o.close();
    return run;
  }

  it('CSV and JSON exports have one row per reviewer, item and model, un-blinded', async () => {
    const run = await ratedRun();
    await runReview(['--run', run, '--export', 'csv', '--out', join(run, 'out.csv')]);
    await runReview(['--run', run, '--export', 'json', '--out', join(run, 'out.json')]);
    const rows = JSON.parse(readFileSync(join(run, 'out.json'), 'utf8')) as Array<Record<string, string | number>>;
    expect(rows).toHaveLength(6);
    expect(rows.map((r) => `${r.reviewer}/${r.item_id}/${r.model}`)).toEqual([
      'Dr Ada/def-01/base',
      'Dr Ada/def-01/tuned',
      'Dr Ada/risk-02/base',
      'Dr Ada/risk-02/tuned',
      'Dr Grace/def-01/base',
      'Dr Grace/def-01/tuned',
    ]);
    const adaB = modelForAnswerA('Dr Ada', 'def-01') === 'base' ? 'tuned' : 'base';
    const adaDef = rows.filter((r) => r.reviewer === 'Dr Ada' && r.item_id === 'def-01');
    for (const r of adaDef) {
      expect(r.preference).toBe(adaB);
      expect(r.consensus).toBe(r.model === adaB ? 5 : 2);
      expect(r.slot).toBe(r.model === adaB ? 'B' : 'A');
      expect(r.category).toBe('definition');
      expect(r.created_at).toMatch(/^2026-01-01T/);
    }
    const csv = readFileSync(join(run, 'out.csv'), 'utf8');
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe(
      'reviewer,item_id,category,model,slot,consensus,harm_extent,harm_likelihood,incorrect,missing,bias,' +
        'preference,comment,created_at,updated_at',
    );
    expect(csv).toContain('"B is ""better"", clearly\nsee =SUM"');
    expect(csv).toContain(",'=cmd,");
    expect(lines.filter((l) => l.startsWith('Dr '))).toHaveLength(6);
    expect(toCsv([])).toBe(`${lines[0]}\r\n`);
    expect([csvField('a,b'), csvField('+1'), csvField(3), csvField('plain')]).toEqual(['"a,b"', "'+1", '3', 'plain']);
  });

  it('--summary [--json] and reviewSummary(runFolder) give the same numbers', async () => {
    const run = await ratedRun();
    expect(reviewSummary(makeRun())).toBeUndefined(); // no ratings yet → nothing for the report
    const fromFn = reviewSummary(run)!;
    expect(fromFn.items).toBe(2);
    expect(fromFn.totalItems).toBe(3);
    expect(fromFn.reviewers).toBe(2);
    expect(fromFn.judgements).toBe(3);
    expect(fromFn.preference).toMatchObject({ ties: 1, judgements: 3 });
    // def-01: Ada rated B's model 5 and A's 2; Grace 3 and 3; risk-02: 4 and 4.
    const adaA = modelForAnswerA('Dr Ada', 'def-01');
    const def01Tuned = ((adaA === 'tuned' ? 2 : 5) + 3) / 2;
    const def01Base = ((adaA === 'base' ? 2 : 5) + 3) / 2;
    expect(fromFn.axes[0].tuned.mean).toBeCloseTo((def01Tuned + 4) / 2, 12);
    expect(fromFn.axes[0].base.mean).toBeCloseTo((def01Base + 4) / 2, 12);
    expect(fromFn.axes[0].difference.mean).toBeCloseTo((def01Tuned - def01Base) / 2, 12);

    await runReview(['--run', run, '--summary', '--json', '--out', join(run, 's.json')]);
    expect(JSON.parse(readFileSync(join(run, 's.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(fromFn)));
    // a direct path to qualitative.jsonl finds the same run folder and database
    const direct = join(run, 's3/medllama-local-artifacts/evaluation/exec-1/Evaluate/qualitative.jsonl');
    expect(reviewSummary(direct)).toEqual(fromFn);
    await runReview(['--run', run, '--summary', '--out', join(run, 's.txt')]);
    const text = readFileSync(join(run, 's.txt'), 'utf8');
    expect(text).toContain('Expert review: 2 of 3 items rated by 2 reviewer(s), 3 judgement(s).');
    expect(text).toMatch(/Agreement with scientific consensus\s+\d\.\d\d \[/);
    expect(text).toContain('Preference: tuned wins');
    expect(text).toContain('Tuned win rate (tie = ½)');
  });

  it('parses options and reports a missing database', async () => {
    expect(parseReviewArgs(['--run', 'x'])).toMatchObject({ run: 'x', port: 8377, summary: false, reps: 1000 });
    expect(parseReviewArgs(['--run', 'x', '--port', '0', '--db', 'f.sqlite'])).toMatchObject({
      port: 0,
      db: 'f.sqlite',
    });
    expect(() => parseReviewArgs([])).toThrow(/--run .* is required/);
    expect(() => parseReviewArgs(['--run', 'x', '--port', '70000'])).toThrow(/--port needs a whole number/);
    expect(() => parseReviewArgs(['--run', 'x', '--export', 'xml'])).toThrow(/csv or json/);
    expect(() => parseReviewArgs(['--run', 'x', '--export', 'csv', '--summary'])).toThrow(
      /either --export or --summary/,
    );
    expect(() => parseReviewArgs(['--run', 'x', '--json'])).toThrow(/--json goes with --summary/);
    expect(() => parseReviewArgs(['--run'])).toThrow(/--run needs a value/);
    expect(() => parseReviewArgs(['--run', 'x', '--bogus'])).toThrow(/unknown option --bogus/);
    const run = makeRun();
    await expect(runReview(['--run', run, '--summary'])).rejects.toThrow(
      /no ratings database at .*rate some items first/,
    );
  });

  it('`medllama review --run` imports, serves until stopped and keeps the ratings', async () => {
    const run = makeRun();
    const logs: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void logs.push(a.join(' ')));
    let stop!: () => void;
    const done = runReview(['--run', run, '--port', '0'], new Promise<void>((r) => (stop = r)));
    try {
      await vi.waitFor(() => expect(logs.join('\n')).toMatch(/Review at http:\/\/127\.0\.0\.1:\d+\//), {
        timeout: 5000,
      });
      expect(logs[0]).toMatch(/items: 3 new, 0 already imported/);
      const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(logs.join('\n'))![1];
      const res = await fetch(new URL('/api/ratings', url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(rating('Dr Ada', 'bias-03', 1, 5, 'B')),
      });
      expect(res.status).toBe(200);
      stop();
      expect(await done).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(reviewSummary(run)?.judgements).toBe(1);
  });
});
