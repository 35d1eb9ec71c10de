// Issue #21, items 1, 2 and 4: the review app attacked from the same machine (every request to 127.0.0.1).
// Each test is one attack that worked against the app before tokens, the random seed and the closed study:
// the victim's data is set up through the database (as any earlier session would have left it), then the
// attacker tries over HTTP.
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Model, ReviewDb, Scores } from '../lib/review/db.ts';
import { checkName, nameKey } from '../lib/review/names.ts';
import type { ReviewServer } from '../lib/review/server.ts';
import { hashSecret, newSecret } from '../lib/review/tokens.ts';
import {
  all,
  answerA,
  call,
  closeAll,
  enrol,
  enrolCode,
  fixtureItems,
  MODEL_WORDS,
  rating,
  serve,
  tempDb,
} from './support/review.ts';

afterEach(closeAll);

const SECRET = 'Alice: the patient in item 1 is my neighbour';

/** Alice's earlier session: item def-01 rated with a private comment (and, with `finished`, every item). */
function aliceRated(db: ReviewDb, finished = false): void {
  const alice = db.ensureReviewer('Alice');
  for (const it of finished ? fixtureItems : fixtureItems.slice(0, 1)) {
    db.saveJudgement({
      reviewerId: alice.id,
      itemId: it.id,
      answerA: 'tuned',
      preference: 'tuned',
      comment: it.id === 'def-01' ? SECRET : '',
      scores: { base: all(2) as Scores, tuned: all(5) as Scores },
    });
  }
}

/** Alice signs in with a personal link from the coordinator (`medllama review --link Alice`). */
function aliceToken(db: ReviewDb): string {
  const token = newSecret();
  db.issueToken('Alice', hashSecret(token));
  return token;
}

const aliceJudgement = (db: ReviewDb) => db.judgements().find((j) => j.reviewer === 'Alice' && j.itemId === 'def-01');

describe('reviewer identity (#21.1): a typed name is not an identity', () => {
  it('GET /api/progress lists no reviewers, to nobody', async () => {
    const { db, server } = await serve(tempDb());
    aliceRated(db);
    const anonymous = await call(server, '/api/progress');
    expect(anonymous.status).toBe(401);
    expect(anonymous.text).not.toContain('Alice');
    const mallory = await enrol(server, 'Mallory');
    const own = await call(server, '/api/progress', { token: mallory });
    expect(own.json).toEqual({ reviewer: 'Mallory', total: 3, rated: 0, done: false, closed: false });
    expect(own.text).not.toContain('Alice');
  });

  it("GET /api/item?reviewer=alice does not return Alice's scores or private comment", async () => {
    const { db, server } = await serve(tempDb());
    aliceRated(db);
    const anonymous = await call(server, '/api/item?reviewer=alice&index=0');
    expect(anonymous.status).toBeGreaterThanOrEqual(400);
    expect(anonymous.text).not.toContain(SECRET);
    const mallory = await enrol(server, 'Mallory');
    const named = await call(server, '/api/item?reviewer=alice&index=0', { token: mallory });
    expect([named.status, named.json.error]).toEqual([400, expect.stringMatching(/comes from your sign-in/)]);
    const own = await call(server, '/api/item?index=0', { token: mallory });
    expect(own.json).toMatchObject({ reviewer: 'Mallory', rated: 0, item: { rating: null } });
    for (const r of [anonymous, named, own]) expect(r.text).not.toContain(SECRET);
    // Alice herself, signed in, gets her rating back
    const alice = await call(server, '/api/item?index=0', { token: aliceToken(db) });
    expect(alice.json).toMatchObject({ reviewer: 'Alice', item: { rating: { comment: SECRET } } });
  });

  it('posting as ALICE neither overwrites her rating nor erases her comment', async () => {
    const { db, server } = await serve(tempDb());
    aliceRated(db);
    const before = aliceJudgement(db);
    const forged = { reviewer: 'ALICE', ...rating('def-01', 1, 1, 'tie', '') };
    const anonymous = await call(server, '/api/ratings', { body: forged });
    expect(anonymous.status).toBe(401);
    const mallory = await enrol(server, 'Mallory');
    const asMallory = await call(server, '/api/ratings', { body: forged, token: mallory });
    expect([asMallory.status, asMallory.json.error]).toEqual([400, expect.stringMatching(/"reviewer"/)]);
    expect(aliceJudgement(db)).toEqual(before);
    expect(aliceJudgement(db)?.comment).toBe(SECRET);
  });

  it('nobody can enrol under a name that is taken, in any case or width', async () => {
    const { db, server } = await serve(tempDb());
    aliceRated(db);
    for (const name of ['Alice', 'ALICE', 'alice', ' alice ', 'Ａｌｉｃｅ', 'Al\u200bice', '\u202eecilA']) {
      const r = await call(server, '/api/enrol', { body: { code: enrolCode(server), name } });
      expect(r.status, JSON.stringify(name)).toBeOneOf([400, 409]);
      expect(r.json.token, JSON.stringify(name)).toBeUndefined();
    }
    expect(db.reviewers().map((r) => r.name)).toEqual(['Alice']);
  });

  it('a guessed, stale or malformed token is refused; a replaced link stops working', async () => {
    const { db, server } = await serve(tempDb());
    aliceRated(db);
    const first = aliceToken(db);
    expect((await call(server, '/api/progress', { token: first })).status).toBe(200);
    const second = aliceToken(db); // the coordinator re-issued her link
    expect((await call(server, '/api/progress', { token: first })).status).toBe(401);
    expect((await call(server, '/api/progress', { token: second })).status).toBe(200);
    for (const token of [newSecret(), hashSecret(second), 'Alice', `${second}=`, second.slice(1)]) {
      const r = await call(server, '/api/next', { token });
      expect(r.status, token).toBe(401);
      expect(r.text).not.toContain(SECRET);
    }
  });
});

/** The order the app used before #21: sha256 over a public seed and the name, first bit. */
function publicSeedGuess(name: string, itemId: string): Model {
  const digest = createHash('sha256').update(`medllama-review-v1\0${name.toLowerCase()}\0${itemId}`).digest();
  return (digest[0] & 1) === 1 ? 'tuned' : 'base';
}

async function views(server: ReviewServer, names: readonly string[]) {
  const out: Array<{ name: string; itemId: string; shownA: Model; text: string }> = [];
  for (const name of names) {
    const token = await enrol(server, name);
    for (let index = 0; index < fixtureItems.length; index++) {
      const r = await call(server, `/api/item?index=${index}`, { token });
      const src = fixtureItems[index];
      const item = r.json.item as { answers: { A: string } };
      out.push({ name, itemId: src.id, shownA: item.answers.A === src.tunedAnswer ? 'tuned' : 'base', text: r.text });
    }
  }
  return out;
}

describe('blinding (#21.2)', () => {
  const names = Array.from({ length: 10 }, (_, i) => `Dr Reviewer ${i + 1}`);

  it('the public-seed formula no longer predicts which answer is which', async () => {
    const { db, server } = await serve(tempDb());
    const seen = await views(server, names);
    // Before: 18 of 18 views predicted. With a secret random seed each guess is a coin flip; all 30 right
    // has probability 2^-30.
    const hits = seen.filter((v) => v.shownA === publicSeedGuess(v.name, v.itemId)).length;
    expect(hits).toBeLessThan(seen.length);
    // what the app shows is the keyed order of this study's own seed
    for (const v of seen) expect(v.shownA).toBe(answerA(db, v.name, v.itemId));
  });

  it('the seed is random per study, stored only in the database and never served', async () => {
    const a = await serve(tempDb());
    const b = await serve(tempDb());
    const seedA = a.db.blindingSeed();
    expect(seedA).toMatch(/^[0-9a-f]{64}$/);
    expect(b.db.blindingSeed()).not.toBe(seedA);
    const seen = await views(a.server, names.slice(0, 2));
    const token = await enrol(a.server, 'Dr Curious');
    const texts = [
      ...seen.map((v) => v.text),
      (await call(a.server, '/')).text,
      (await call(a.server, '/api/next', { token })).text,
      (await call(a.server, '/api/progress', { token })).text,
      (await call(a.server, '/api/summary', { token })).text,
    ];
    for (const text of texts) {
      expect(text).not.toContain(seedA);
      expect(text).not.toContain(Buffer.from(seedA, 'hex').toString('base64'));
    }
  });

  it('the unblinded summary goes to nobody while the study is open, not even a reviewer who finished', async () => {
    const { db, server } = await serve(tempDb());
    aliceRated(db, true);
    const byName = await call(server, '/api/summary?reviewer=Alice');
    expect(byName.status).toBeGreaterThanOrEqual(400);
    expect(byName.text).not.toMatch(MODEL_WORDS);
    const anonymous = await call(server, '/api/summary');
    expect(anonymous.status).toBe(401);
    const alice = await call(server, '/api/summary', { token: aliceToken(db) });
    expect([alice.status, alice.json.error]).toEqual([409, expect.stringMatching(/closes the study/)]);
    expect(alice.text).not.toMatch(MODEL_WORDS);
  });

  it('win counts cannot be compared before and after a throwaway rating', async () => {
    const { db, server } = await serve(tempDb());
    aliceRated(db, true);
    const mallory = await enrol(server, 'Mallory');
    for (const it of fixtureItems)
      await call(server, '/api/ratings', { body: rating(it.id, 3, 3, 'tie'), token: mallory });
    // finished, the study still open: no summary to take a "before" reading from
    expect((await call(server, '/api/summary', { token: mallory })).status).toBe(409);
    db.closeStudy();
    const before = await call(server, '/api/summary', { token: mallory });
    expect(before.status).toBe(200);
    // once the summary is out, ratings are final: the throwaway rating is refused and nothing moves
    const throwaway = await call(server, '/api/ratings', { body: rating('def-01', 5, 1, 'A'), token: mallory });
    expect([throwaway.status, throwaway.json.error]).toEqual([409, expect.stringMatching(/study is closed/)]);
    const after = await call(server, '/api/summary', { token: mallory });
    expect(after.json.summary).toEqual(before.json.summary);
  });
});

describe('reviewer names (#21.4)', () => {
  it('names are compared with Unicode case folding, width folding and normalisation', () => {
    const same: Array<[string, string]> = [
      ['élodie', 'ÉLODIE'],
      ['Straße', 'STRASSE'],
      ['ΣΟΦΙΑΣ', 'σοφιας'],
      ['Ａｌｉｃｅ', 'alice'],
      ['E\u0301lodie', 'Élodie'], // decomposed and precomposed
      ['Dr\u00a0Ada', 'dr ada'], // no-break space
    ];
    for (const [a, b] of same) expect(nameKey(a), `${a} / ${b}`).toBe(nameKey(b));
    expect(nameKey('Ada')).not.toBe(nameKey('Adam'));
  });

  it('the database keeps one reviewer per folded name', async () => {
    const { db } = await serve(tempDb());
    expect(db.ensureReviewer('ÉLODIE').id).toBe(db.ensureReviewer('élodie').id);
    expect(db.ensureReviewer('STRASSE').id).toBe(db.ensureReviewer('Straße').id);
    expect(db.reviewers()).toHaveLength(2);
  });

  it('invisible and text-direction characters are refused with the code point named', async () => {
    const { server } = await serve(tempDb());
    const cases: Array<[string, string]> = [
      ['Ada\u200b', 'U+200B'], // zero-width space
      ['A\u200dda', 'U+200D'], // zero-width joiner
      ['\u202eAda', 'U+202E'], // right-to-left override
      ['Ada\u2066x\u2069', 'U+2066'], // left-to-right isolate
      ['\u200fAda', 'U+200F'], // right-to-left mark
      ['Ad\u00ada', 'U+00AD'], // soft hyphen
      ['\ufeffAda', 'U+FEFF'], // byte order mark
      ['Ada\u3164', 'U+3164'], // Hangul filler (invisible, not a format character)
      ['Ada\u0000', 'U+0000'],
    ];
    for (const [name, code] of cases) {
      expect(checkName(name), code).toMatchObject({ ok: false });
      const r = await call(server, '/api/enrol', { body: { code: enrolCode(server), name } });
      expect([r.status, r.json.error], code).toEqual([400, expect.stringContaining(`(found ${code})`)]);
    }
    expect(checkName('Dr Ada Lovelace')).toEqual({ ok: true, name: 'Dr Ada Lovelace', key: 'dr ada lovelace' });
    expect(checkName('Dr 李 Ω-Øst')).toMatchObject({ ok: true });
  });
});
