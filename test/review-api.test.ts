// The expert-review app: finding qualitative.jsonl, the SQLite store, the JSON API (enrolment, storing,
// resuming, blinding, validation), exports, the summary and the CLI. The attacks of issue #21 are in
// review-attacks.test.ts, two servers on one database in review-concurrency.test.ts.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseReviewArgs, runReview } from '../lib/cli/commands/review.ts';
import { Blinding } from '../lib/review/blind.ts';
import { ItemConflictError, ReviewDb } from '../lib/review/db.ts';
import { csvField, toCsv } from '../lib/review/export.ts';
import { findQualitative, parseQualitative, resolveReviewPaths } from '../lib/review/import.ts';
import { startReviewServer } from '../lib/review/server.ts';
import { reviewSummary } from '../lib/review/summary.ts';
import { hashSecret, newBlindingSeed, newSecret } from '../lib/review/tokens.ts';
import {
  all,
  answerA,
  call,
  clock,
  closeAll,
  enrol,
  FIXTURE,
  fixtureItems,
  MODEL_WORDS,
  makeRun,
  otherModel,
  rating,
  serve,
  tempDb,
  track,
} from './support/review.ts';

afterEach(closeAll);

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
    const db = track(ReviewDb.open(join(dir, 'r.sqlite')));
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
  it('A/B order is fixed for a seed, differs between seeds, and is balanced', () => {
    const a = new Blinding('11'.repeat(32));
    const b = new Blinding('22'.repeat(32));
    expect(a.answerA(1, 'def-01')).toBe(new Blinding('11'.repeat(32)).answerA(1, 'def-01'));
    let tunedFirst = 0;
    let differ = 0;
    for (let r = 1; r <= 40; r++)
      for (let i = 0; i < 10; i++) {
        if (a.answerA(r, `q${i}`) === 'tuned') tunedFirst++;
        if (a.answerA(r, `q${i}`) !== b.answerA(r, `q${i}`)) differ++;
      }
    expect(tunedFirst / 400).toBeGreaterThan(0.4);
    expect(tunedFirst / 400).toBeLessThan(0.6);
    expect(differ / 400).toBeGreaterThan(0.4); // another study's seed predicts nothing
    expect(() => new Blinding('not hex')).toThrow(/32 bytes of hex/);
    expect(newBlindingSeed()).toMatch(/^[0-9a-f]{64}$/);
  });

  it('the page and every API response a reviewer sees never name the models', async () => {
    const { db, server } = await serve(tempDb());
    const page = await call(server, '/');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Answer A');
    expect(page.text).not.toMatch(MODEL_WORDS);
    // self-contained: no external scripts, styles, images or fonts
    expect(page.text).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(page.text).not.toMatch(/@import|url\(/i);
    // only the page's own script may run (by hash), so injected markup could not run script
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+=*'/);
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    const seen: string[] = [page.text];
    const orders = new Set<string>();
    const names = ['Dr Ada', 'Dr Grace', 'Dr Barbara', 'Dr Frances', 'Dr Hedy', 'Dr Karen', 'Dr Radia', 'Dr Sophie'];
    for (const name of names) {
      const token = await enrol(server, name);
      for (let index = 0; index < 3; index++) {
        const r = await call(server, `/api/item?index=${index}`, { token });
        expect(r.status).toBe(200);
        seen.push(r.text);
        const item = r.json.item as { id: string; answers: { A: string; B: string } };
        const src = fixtureItems[index];
        expect(new Set([item.answers.A, item.answers.B])).toEqual(new Set([src.baseAnswer, src.tunedAnswer]));
        const aIsTuned = item.answers.A === src.tunedAnswer;
        expect(aIsTuned ? 'tuned' : 'base').toBe(answerA(db, name, src.id));
        orders.add(`${index}:${aIsTuned}`);
      }
      const posted = await call(server, '/api/ratings', { body: rating('def-01', 5, 1, 'A', 'fine'), token });
      expect(posted.status).toBe(200);
      seen.push(posted.text, (await call(server, '/api/next', { token })).text);
      seen.push((await call(server, '/api/item?index=0', { token })).text);
      seen.push((await call(server, '/api/progress', { token })).text);
      seen.push((await call(server, '/api/summary', { token })).text);
      seen.push((await call(server, '/api/ratings', { body: rating('def-01', 6, 1, 'A'), token })).text);
    }
    expect(orders.size).toBeGreaterThan(3); // both orders occur across reviewers
    for (const text of seen) expect(text).not.toMatch(MODEL_WORDS);
  });
});

describe('enrolment and sign-in', () => {
  it('enrolling needs the code of the enrolment link; the token is the identity and is stored only hashed', async () => {
    const file = tempDb();
    const { server } = await serve(file);
    const code = new URL(server.enrolUrl).hash.slice('#enrol='.length);
    expect(server.enrolUrl).toBe(`${server.url}#enrol=${code}`);
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const wrong = await call(server, '/api/enrol', { body: { code: 'x'.repeat(43), name: 'Dr Ada' } });
    expect([wrong.status, wrong.json.error]).toEqual([403, expect.stringMatching(/enrolment link is not valid/)]);
    const missing = await call(server, '/api/enrol', { body: { name: 'Dr Ada' } });
    expect([missing.status, missing.json.error]).toEqual([400, expect.stringMatching(/enrolment code is missing/)]);
    const ok = await call(server, '/api/enrol', { body: { code, name: '  Dr   Ada ' } });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ reviewer: 'Dr Ada', total: 3, rated: 0, done: false, closed: false });
    const token = ok.json.token as string;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await call(server, '/api/progress', { token })).json).toMatchObject({ reviewer: 'Dr Ada', rated: 0 });
    // the database holds the token's hash, not the token
    expect(readFileSync(file).toString('latin1')).not.toContain(token);
    for (const bad of ['', 'Bearer', `Basic ${token}`, `Bearer ${token}x`, `Bearer ${'A'.repeat(43)}`]) {
      const r = await call(server, '/api/progress', { headers: { Authorization: bad } });
      expect([r.status, r.headers.get('www-authenticate')], bad).toEqual([401, 'Bearer']);
    }
    const none = await call(server, '/api/next');
    expect([none.status, none.json.error]).toEqual([401, expect.stringMatching(/sign in first/)]);
  });
});

describe('storing and resuming ratings', () => {
  it('stores un-blinded ratings, resumes at the first unrated item (also after a restart) and updates on re-submit', async () => {
    const file = tempDb();
    const now = clock();
    let { db, server } = await serve(file, 0, now);
    const name = 'Dr Ada Lovelace';
    const token = await enrol(server, name);
    let next = await call(server, '/api/next', { token });
    expect(next.json).toMatchObject({
      reviewer: name,
      total: 3,
      rated: 0,
      done: false,
      item: { index: 0, id: 'def-01', rating: null },
    });

    const saved = await call(server, '/api/ratings', { body: rating('def-01', 5, 2, 'A', 'A is accurate'), token });
    expect(saved.json).toMatchObject({ saved: 'created', rated: 1, total: 3, done: false, index: 0 });
    const aModel = answerA(db, name, 'def-01');
    const bModel = otherModel(aModel);
    let [j] = db.judgements();
    expect(j).toMatchObject({ reviewer: name, itemId: 'def-01', answerA: aModel, preference: aModel });
    expect(j.comment).toBe('A is accurate');
    expect(j.scores[aModel]).toEqual(all(5));
    expect(j.scores[bModel]).toEqual(all(2));

    next = await call(server, '/api/next', { token });
    expect(next.json).toMatchObject({ rated: 1, item: { index: 1, id: 'risk-02' } });
    expect((await call(server, '/api/progress', { token })).json).toEqual({
      reviewer: name,
      total: 3,
      rated: 1,
      done: false,
      closed: false,
    });

    // restart the server on the same database: the same token continues at item 2
    await server.close();
    db.close();
    ({ db, server } = await serve(file, 0, now));
    next = await call(server, '/api/next', { token });
    expect(next.json).toMatchObject({ rated: 1, item: { index: 1, id: 'risk-02' } });

    // re-submit item 1: one judgement, updated in place; the page gets the earlier rating back in A/B terms
    const again = await call(server, '/api/ratings', { body: rating('def-01', 3, 4, 'tie', 'changed my mind'), token });
    expect(again.json).toMatchObject({ saved: 'updated', rated: 1 });
    const judgements = db.judgements();
    expect(judgements).toHaveLength(1);
    j = judgements[0];
    expect(j.preference).toBe('tie');
    expect(j.scores[aModel]).toEqual(all(3));
    expect(j.updatedAt > j.createdAt).toBe(true);
    const item0 = await call(server, '/api/item?index=0', { token });
    expect(item0.json.item).toMatchObject({
      rating: { scores: { A: all(3), B: all(4) }, preference: 'tie', comment: 'changed my mind' },
    });
    // B preferred maps to B's model
    await call(server, '/api/ratings', { body: rating('risk-02', 2, 5, 'B'), token });
    expect(db.judgements().find((x) => x.itemId === 'risk-02')?.preference).toBe(
      otherModel(answerA(db, name, 'risk-02')),
    );
  });

  it('opens the summary in the app only once the study is closed, then refuses new ratings', async () => {
    const { db, server } = await serve(tempDb());
    const token = await enrol(server, 'Dr Ada');
    for (const it of fixtureItems) await call(server, '/api/ratings', { body: rating(it.id, 4, 4, 'tie'), token });
    const done = await call(server, '/api/next', { token });
    expect(done.json).toMatchObject({ done: true, rated: 3, item: null, closed: false });
    const early = await call(server, '/api/summary', { token });
    expect([early.status, early.json.error]).toEqual([409, expect.stringMatching(/closes the study/)]);

    db.closeStudy();
    expect((await call(server, '/api/progress', { token })).json).toMatchObject({ closed: true });
    const s = await call(server, '/api/summary', { token });
    expect(s.status).toBe(200);
    const summary = s.json.summary as { items: number; preference: { ties: number } };
    expect(summary.items).toBe(3);
    expect(summary.preference.ties).toBe(3);
    const table = s.json.table as { columns: string[]; rows: string[][]; notes: string[]; warning: string | null };
    expect(table.columns).toEqual(['Axis (1–5, 5 = best)', 'base', 'tuned', 'tuned − base']);
    expect(table.rows).toHaveLength(6);
    expect(table.rows[0]).toEqual([
      'Agreement with scientific consensus',
      '4.00 [4.00, 4.00]',
      '4.00 [4.00, 4.00]',
      '+0.00 [0.00, 0.00]',
    ]);
    // n is stated, and 3 items are too few for the intervals to mean anything
    expect(table.notes[0]).toBe('Based on 3 of 3 item(s) (n = 3), 3 judgement(s) by 1 reviewer(s).');
    expect(table.warning).toMatch(/^Only 3 item\(s\) rated: too few for the 95% intervals to mean anything/);

    const late = await call(server, '/api/ratings', { body: rating('def-01', 1, 5, 'B'), token });
    expect([late.status, late.json.error]).toEqual([409, expect.stringMatching(/study is closed/)]);
    expect(db.judgements().find((j) => j.itemId === 'def-01')?.preference).toBe('tie');
    const newcomer = await call(server, '/api/enrol', {
      body: { code: new URL(server.enrolUrl).hash.slice(7), name: 'Dr Late' },
    });
    expect([newcomer.status, newcomer.json.error]).toEqual([409, expect.stringMatching(/enrolment has ended/)]);
  });
});

describe('input validation', () => {
  it('rejects bad input with 4xx and a message', async () => {
    const { server, db } = await serve(tempDb());
    const token = await enrol(server, 'Dr Ada');
    const ok = rating('def-01', 3, 3, 'A');
    const cases: Array<[unknown, number, RegExp]> = [
      ['{"itemId": ', 400, /not valid JSON/],
      ['', 400, /body is empty/],
      ['[1, 2]', 400, /must be a JSON object/],
      [{ ...ok, itemId: 'nope' }, 400, /unknown item "nope"/],
      [{ ...ok, itemId: undefined }, 400, /itemId is required/],
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
      [{ ...ok, reviewer: 'Dr Ada' }, 400, /unknown field\(s\) "reviewer"; the reviewer comes from your sign-in/],
      [JSON.stringify({ ...ok, comment: 'x'.repeat(70_000) }), 413, /over 65536 bytes/],
    ];
    for (const [body, status, message] of cases) {
      const r = await call(server, '/api/ratings', { body, token });
      expect([r.status, r.json.error], JSON.stringify(body).slice(0, 80)).toEqual([
        status,
        expect.stringMatching(message),
      ]);
      expect(r.text).not.toMatch(MODEL_WORDS);
    }
    expect(db.judgements()).toHaveLength(0);

    const wrongType = await call(server, '/api/ratings', {
      body: JSON.stringify(ok),
      token,
      headers: { 'Content-Type': 'text/plain' },
    });
    expect([wrongType.status, wrongType.json.error]).toEqual([415, 'send the body as application/json']);
    const enrolCases: Array<[unknown, number, RegExp]> = [
      [{ name: 'Dr X' }, 400, /enrolment code is missing/],
      [{ code: 'c', name: '   ' }, 400, /reviewer name is required/],
      [{ code: 'c', name: 'x'.repeat(81) }, 400, /at most 80 characters/],
      [{ code: 'c', name: 'a\u0007b' }, 400, /control, invisible or text-direction characters \(found U\+0007\)/],
      [{ code: 'c', name: 'Dr X', role: 'admin' }, 400, /unknown field\(s\) "role"/],
    ];
    for (const [body, status, message] of enrolCases) {
      const r = await call(server, '/api/enrol', { body });
      expect([r.status, r.json.error], JSON.stringify(body)).toEqual([status, expect.stringMatching(message)]);
    }
    const gets: Array<[string, number, RegExp]> = [
      ['/api/item?index=3', 400, /index must be a whole number from 0 to 2/],
      ['/api/item?index=-1', 400, /index must be/],
      ['/api/item', 400, /index must be/],
      ['/api/next?reviewer=Dr%20Ada', 400, /unknown query parameter "reviewer"; the reviewer comes from your sign-in/],
      ['/api/progress?all=1', 400, /unknown query parameter "all"/],
      ['/api/ratings', 405, /GET is not allowed/],
      ['/api/enrol', 405, /GET is not allowed/],
      ['/nope', 404, /no such endpoint/],
    ];
    for (const [path, status, message] of gets) {
      const r = await call(server, path, { token });
      expect([r.status, r.json.error], path).toEqual([status, expect.stringMatching(message)]);
    }
    const postPage = await call(server, '/', { body: {}, token });
    expect([postPage.status, postPage.headers.get('allow')]).toEqual([405, 'GET']);
    const cross = await call(server, '/api/ratings', { body: ok, token, headers: { Origin: 'http://evil.example' } });
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
    const { server } = await serve(tempDb());
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    expect(server.server.address()).toMatchObject({ address: '127.0.0.1' });
    await expect(serve(tempDb(), server.port)).rejects.toThrow(
      new RegExp(`port ${server.port} on 127.0.0.1 is already in use.*--port`),
    );
  });
});

describe('the ratings database', () => {
  it('is readable by its owner only', async () => {
    const file = tempDb();
    track(ReviewDb.open(file));
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('migrates a version-1 database: name keys, a blinding seed, and the A/B order already shown is kept', async () => {
    const file = tempDb();
    writeV1Database(file);
    // a v1 database can be summarised read-only without migrating it (older runs' reports keep working)
    const ro = ReviewDb.open(file, { readonly: true });
    expect(ro.judgements()).toHaveLength(2);
    ro.close();
    const db = track(ReviewDb.open(file));
    expect(db.blindingSeed()).toMatch(/^[0-9a-f]{64}$/);
    // "élodie" and "ÉLODIE" were two reviewers under ASCII-only NOCASE: both keep their ratings (and the A/B
    // order stored with them), and the name now belongs to the first
    expect(db.findReviewer('Élodie')?.name).toBe('élodie');
    expect(db.judgements().map((j) => [j.reviewer, j.answerA])).toEqual([
      ['ÉLODIE', 'base'],
      ['élodie', 'tuned'],
    ]);
    expect(() => db.enrolReviewer('ÉLODIE', 'h'.repeat(64))).toThrow(/already enrolled/);
    // signed in after the upgrade, she sees the item in the order she rated it (tuned as A), whatever the seed
    const token = newSecret();
    db.issueToken('Élodie', hashSecret(token));
    const server = track(await startReviewServer({ db, port: 0 }));
    const r = await call(server, '/api/item?index=0', { token });
    expect(r.json.item).toMatchObject({ answers: { A: 't', B: 'b' }, rating: { preference: 'tie' } });
  });
});

describe('exports, summary and the CLI', () => {
  async function ratedRun(): Promise<string> {
    const run = makeRun();
    const { server } = await serve(join(run, 'review', 'ratings.sqlite'));
    const ada = await enrol(server, 'Dr Ada');
    const grace = await enrol(server, 'Dr Grace');
    const post = (token: string, body: unknown) => call(server, '/api/ratings', { body, token });
    await post(ada, rating('def-01', 2, 5, 'B', 'B is "better", clearly\nsee =SUM'));
    await post(ada, rating('risk-02', 4, 4, 'tie'));
    await post(grace, rating('def-01', 3, 3, 'A', '=cmd'));
    await closeAll();
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
    const db = track(ReviewDb.open(join(run, 'review', 'ratings.sqlite'), { readonly: true }));
    const adaB = otherModel(db.judgements().find((j) => j.reviewer === 'Dr Ada' && j.itemId === 'def-01')!.answerA);
    const adaDef = rows.filter((r) => r.reviewer === 'Dr Ada' && r.item_id === 'def-01');
    for (const r of adaDef) {
      expect(r.preference).toBe(adaB);
      expect(r.consensus).toBe(r.model === adaB ? 5 : 2);
      expect(r.slot).toBe(r.model === adaB ? 'B' : 'A');
      expect(r.category).toBe('definition');
      expect(r.created_at).toMatch(/^20\d\d-/);
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

  it('--summary [--json] and reviewSummary(runFolder) give the same numbers, with n and a small-sample warning', async () => {
    const run = await ratedRun();
    expect(reviewSummary(makeRun())).toBeUndefined(); // no ratings yet → nothing for the report
    const fromFn = reviewSummary(run)!;
    expect(fromFn.items).toBe(2);
    expect(fromFn.totalItems).toBe(3);
    expect(fromFn.reviewers).toBe(2);
    expect(fromFn.judgements).toBe(3);
    expect(fromFn.preference).toMatchObject({ ties: 1, judgements: 3 });
    // def-01: Ada rated B's model 5 and A's 2; Grace 3 and 3; risk-02: 4 and 4.
    const db = track(ReviewDb.open(join(run, 'review', 'ratings.sqlite'), { readonly: true }));
    const adaA = db.judgements().find((j) => j.reviewer === 'Dr Ada' && j.itemId === 'def-01')!.answerA;
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
    expect(text).toContain('WARNING: Only 2 item(s) rated: too few for the 95% intervals to mean anything');
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
    expect(parseReviewArgs(['--run', 'x', '--link', '  Dr   Ada '])).toMatchObject({ link: 'Dr Ada' });
    expect(parseReviewArgs(['--run', 'x', '--close'])).toMatchObject({ close: true });
    expect(() => parseReviewArgs([])).toThrow(/--run .* is required/);
    expect(() => parseReviewArgs(['--run', 'x', '--port', '70000'])).toThrow(/--port needs a whole number/);
    expect(() => parseReviewArgs(['--run', 'x', '--export', 'xml'])).toThrow(/csv or json/);
    expect(() => parseReviewArgs(['--run', 'x', '--export', 'csv', '--summary'])).toThrow(
      /use one of --export, --summary, --link and --close, not --export and --summary/,
    );
    expect(() => parseReviewArgs(['--run', 'x', '--link', 'A', '--close'])).toThrow(/not --link and --close/);
    expect(() => parseReviewArgs(['--run', 'x', '--link', 'A\u202eB'])).toThrow(/--link: .*text-direction/);
    expect(() => parseReviewArgs(['--run', 'x', '--json'])).toThrow(/--json goes with --summary/);
    expect(() => parseReviewArgs(['--run'])).toThrow(/--run needs a value/);
    expect(() => parseReviewArgs(['--run', 'x', '--bogus'])).toThrow(/unknown option --bogus/);
    const run = makeRun();
    await expect(runReview(['--run', run, '--summary'])).rejects.toThrow(
      /no ratings database at .*rate some items first/,
    );
    await expect(runReview(['--run', run, '--close'])).rejects.toThrow(/no ratings database at/);
  });

  it('`medllama review --run` serves with an enrolment link; --link signs a reviewer in; --close closes', async () => {
    const run = makeRun();
    const logs: string[] = [];
    const out: string[] = [];
    const spies = [
      vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void logs.push(a.join(' '))),
      vi.spyOn(console, 'error').mockImplementation(() => {}),
      vi.spyOn(process.stdout, 'write').mockImplementation((s) => out.push(String(s)) > 0),
    ];
    let stop!: () => void;
    const done = runReview(['--run', run, '--port', '0'], new Promise<void>((r) => (stop = r)));
    try {
      await vi.waitFor(() => expect(logs.join('\n')).toMatch(/Review at http:\/\/127\.0\.0\.1:\d+\//), {
        timeout: 5000,
      });
      expect(logs[0]).toMatch(/items: 3 new, 0 already imported/);
      const text = logs.join('\n');
      const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(text)![1];
      expect(text).toContain(
        `Enrolment link (give it to the reviewers only; it changes at every start):\n  ${url}#enrol=`,
      );
      // the coordinator's personal link works against the running server (another process could do the same)
      await runReview(['--run', run, '--link', 'Dr Ada', '--port', new URL(url).port]);
      const link = out.join('').trim();
      expect(link).toMatch(new RegExp(`^${url}#login=[A-Za-z0-9_-]{43}$`));
      const token = link.split('#login=')[1];
      const res = await fetch(new URL('/api/ratings', url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify(rating('bias-03', 1, 5, 'B')),
      });
      expect(res.status).toBe(200);
      // a second link replaces the first
      out.length = 0;
      await runReview(['--run', run, '--link', 'dr ada']);
      expect(out.join('')).toMatch(/^http:\/\/127\.0\.0\.1:8377\/#login=/);
      const old = await fetch(new URL('/api/progress', url), { headers: { Authorization: `Bearer ${token}` } });
      expect(old.status).toBe(401);
      expect(await runReview(['--run', run, '--close'])).toBe(0);
      expect(logs.join('\n')).toMatch(/study closed at .*: no more enrolments or ratings/);
      stop();
      expect(await done).toBe(0);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(reviewSummary(run)?.judgements).toBe(1);
  });
});

/** A ratings database as schema version 1 wrote it (no name keys, no tokens, no seed). */
function writeV1Database(file: string): void {
  const axes = ['consensus', 'harm_extent', 'harm_likelihood', 'incorrect', 'missing', 'bias'];
  const cols = axes.map((k) => `${k} INTEGER NOT NULL`).join(', ');
  const raw = new Database(file);
  raw.exec(`
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta VALUES ('schema_version', '1');
    CREATE TABLE items (id TEXT PRIMARY KEY, position INTEGER NOT NULL UNIQUE, category TEXT NOT NULL,
      prompt TEXT NOT NULL, base_answer TEXT NOT NULL, tuned_answer TEXT NOT NULL, base_new_tokens INTEGER,
      tuned_new_tokens INTEGER, content_hash TEXT NOT NULL UNIQUE, source TEXT NOT NULL);
    CREATE TABLE reviewers (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, created_at TEXT NOT NULL);
    CREATE TABLE judgements (reviewer_id INTEGER NOT NULL, item_id TEXT NOT NULL, answer_a TEXT NOT NULL,
      preference TEXT NOT NULL, comment TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
      PRIMARY KEY (reviewer_id, item_id));
    CREATE TABLE ratings (reviewer_id INTEGER NOT NULL, item_id TEXT NOT NULL, model TEXT NOT NULL, slot TEXT NOT NULL,
      ${cols}, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (reviewer_id, item_id, model));
    INSERT INTO items VALUES ('def-01', 0, 'definition', 'p', 'b', 't', NULL, NULL, 'h1', 'q.jsonl');
    INSERT INTO reviewers VALUES (1, 'élodie', '2025-01-01'), (2, 'ÉLODIE', '2025-01-01');
  `);
  for (const [id, a] of [
    [1, 'tuned'],
    [2, 'base'],
  ] as const) {
    raw.prepare("INSERT INTO judgements VALUES (?, 'def-01', ?, 'tie', '', '2025-01-01', '2025-01-01')").run(id, a);
    for (const model of ['base', 'tuned'])
      raw
        .prepare(`INSERT INTO ratings VALUES (?, 'def-01', ?, ?, ${axes.map(() => '3').join(', ')}, 'x', 'x')`)
        .run(id, model, model === a ? 'A' : 'B');
  }
  raw.close();
}
