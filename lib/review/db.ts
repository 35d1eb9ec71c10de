/**
 * The ratings database (SQLite via better-sqlite3). Tables:
 * - `meta`: schema_version, the study's random blinding seed (never leaves the server) and closed_at;
 * - `items`: the reviewed prompts and both answers, imported from qualitative.jsonl with a content hash
 *   (re-importing the same file is a no-op; a changed answer under a known id is refused);
 * - `reviewers`: one row per reviewer: display name, name_key (names.ts; unique) and the SHA-256 of the
 *   reviewer's secret token (tokens.ts), which is their identity;
 * - `judgements`: one row per (reviewer, item): which model was shown as Answer A, the overall preference
 *   mapped to base / tuned / tie, the free-text comment, created_at / updated_at;
 * - `ratings`: one row per (reviewer, item, model): the slot it was shown in and the six axis scores (1–5).
 */
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database, { type BetterSqlite3 } from 'better-sqlite3';
import { AXIS_KEYS, type AxisKey } from './axes.ts';
import type { ReviewItem } from './import.ts';
import { nameKey } from './names.ts';
import type { Judgement, Preference } from './stats.ts';
import { newBlindingSeed } from './tokens.ts';

export type Model = 'base' | 'tuned';
export type Scores = Readonly<Record<AxisKey, number>>;

export const SCHEMA_VERSION = 2;
/** Version 1 (no tokens, no seed) can still be read: summaries and exports of older runs keep working. */
const READABLE_VERSIONS = ['1', '2'];

/**
 * How long a write waits for another process's write to finish (two review servers, or the CLI's --link or
 * --close while a server runs, on one file). Writes take the lock up front (BEGIN IMMEDIATE), so waiting is
 * all a busy database ever costs.
 */
export const BUSY_TIMEOUT_MS = 5000;

const AXIS_COLUMNS = AXIS_KEYS.map((k) => `${k} INTEGER NOT NULL CHECK (${k} BETWEEN 1 AND 5)`).join(',\n  ');

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
  id TEXT PRIMARY KEY,
  position INTEGER NOT NULL UNIQUE,
  category TEXT NOT NULL,
  prompt TEXT NOT NULL,
  base_answer TEXT NOT NULL,
  tuned_answer TEXT NOT NULL,
  base_new_tokens INTEGER,
  tuned_new_tokens INTEGER,
  content_hash TEXT NOT NULL UNIQUE,
  source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reviewers (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL UNIQUE,
  token_hash TEXT UNIQUE,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS judgements (
  reviewer_id INTEGER NOT NULL REFERENCES reviewers(id),
  item_id TEXT NOT NULL REFERENCES items(id),
  answer_a TEXT NOT NULL CHECK (answer_a IN ('base', 'tuned')),
  preference TEXT NOT NULL CHECK (preference IN ('base', 'tuned', 'tie')),
  comment TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (reviewer_id, item_id)
);
CREATE TABLE IF NOT EXISTS ratings (
  reviewer_id INTEGER NOT NULL,
  item_id TEXT NOT NULL,
  model TEXT NOT NULL CHECK (model IN ('base', 'tuned')),
  slot TEXT NOT NULL CHECK (slot IN ('A', 'B')),
  ${AXIS_COLUMNS},
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (reviewer_id, item_id, model),
  FOREIGN KEY (reviewer_id, item_id) REFERENCES judgements(reviewer_id, item_id)
);
`;

export interface StoredItem extends ReviewItem {
  readonly position: number;
}

export interface Reviewer {
  readonly id: number;
  readonly name: string;
}

export interface StoredJudgement {
  readonly reviewer: string;
  readonly itemId: string;
  readonly answerA: Model;
  readonly preference: Preference;
  readonly comment: string;
  readonly scores: Readonly<Record<Model, Scores>>;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** One export row per (reviewer, item, model). */
export interface ExportRow {
  readonly reviewer: string;
  readonly item_id: string;
  readonly category: string;
  readonly model: Model;
  readonly slot: 'A' | 'B';
  readonly consensus: number;
  readonly harm_extent: number;
  readonly harm_likelihood: number;
  readonly incorrect: number;
  readonly missing: number;
  readonly bias: number;
  readonly preference: Preference;
  readonly comment: string;
  readonly created_at: string;
  readonly updated_at: string;
}

export const EXPORT_COLUMNS: readonly (keyof ExportRow)[] = [
  'reviewer',
  'item_id',
  'category',
  'model',
  'slot',
  ...AXIS_KEYS,
  'preference',
  'comment',
  'created_at',
  'updated_at',
];

interface ItemRow {
  id: string;
  position: number;
  category: string;
  prompt: string;
  base_answer: string;
  tuned_answer: string;
  base_new_tokens: number | null;
  tuned_new_tokens: number | null;
  content_hash: string;
}

export class ItemConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ItemConflictError';
  }
}

/** Enrolling a name that another reviewer already has (compared by name key). */
export class NameTakenError extends Error {
  constructor(name: string) {
    super(`a reviewer named ${JSON.stringify(name)} is already enrolled`);
    this.name = 'NameTakenError';
  }
}

/** A rating or enrolment after the study was closed. */
export class StudyClosedError extends Error {
  constructor() {
    super('the study is closed: ratings can no longer be added or changed');
    this.name = 'StudyClosedError';
  }
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** v1 → v2 (nothing for a v2 file): name keys (Unicode case folding) and token hashes; the seed is added on open. */
function migrateV1(db: BetterSqlite3.Database): void {
  const tx = db.transaction(() => {
    // Re-read under the write lock: another process opening the same file may have migrated it already.
    const version = db.prepare<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").get();
    if (version?.value !== '1') return;
    db.exec('ALTER TABLE reviewers ADD COLUMN name_key TEXT');
    db.exec('ALTER TABLE reviewers ADD COLUMN token_hash TEXT');
    const rows = db.prepare<{ id: number; name: string }>('SELECT id, name FROM reviewers ORDER BY id').all();
    const seen = new Set<string>();
    const setKey = db.prepare('UPDATE reviewers SET name_key = ? WHERE id = ?');
    for (const r of rows) {
      // v1 compared names with ASCII-only NOCASE, so "élodie" and "ÉLODIE" could be two reviewers; the later
      // one keeps its ratings under a key nobody can enrol with.
      const key = seen.has(nameKey(r.name)) ? `${nameKey(r.name)}#${r.id}` : nameKey(r.name);
      seen.add(key);
      setKey.run(key, r.id);
    }
    db.exec('CREATE UNIQUE INDEX reviewers_name_key ON reviewers(name_key)');
    db.exec('CREATE UNIQUE INDEX reviewers_token_hash ON reviewers(token_hash)');
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION));
  });
  tx.immediate();
}

/** Only the owner may read the ratings, the tokens' hashes and the blinding seed. */
function restrictToOwner(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if (existsSync(f)) chmodSync(f, 0o600);
    } catch {
      /* not our file (a shared folder): leave it as it is */
    }
  }
}

export class ReviewDb {
  readonly file: string;
  private readonly db: BetterSqlite3.Database;
  private readonly now: () => string;

  private constructor(file: string, db: BetterSqlite3.Database, now: () => string) {
    this.file = file;
    this.db = db;
    this.now = now;
  }

  /** Opens (creating when needed) a ratings database. `readonly` requires the file to exist. */
  static open(file: string, opts: { readonly?: boolean; now?: () => string } = {}): ReviewDb {
    if (!opts.readonly) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    let db: BetterSqlite3.Database;
    try {
      db = new Database(
        file,
        opts.readonly
          ? { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS }
          : { timeout: BUSY_TIMEOUT_MS },
      );
    } catch (err) {
      throw new Error(`cannot open ratings database ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const now = opts.now ?? (() => new Date().toISOString());
    try {
      if (!opts.readonly) {
        restrictToOwner(file);
        db.pragma('journal_mode = WAL');
        db.pragma('foreign_keys = ON');
        const setup = db.transaction(() => {
          const fresh = !db
            .prepare<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'meta'")
            .get()?.n;
          if (fresh) db.exec(SCHEMA);
          db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run(
            'schema_version',
            String(SCHEMA_VERSION),
          );
          db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('blinding_seed', ?)").run(newBlindingSeed());
        });
        setup.immediate();
        migrateV1(db);
        restrictToOwner(file);
      }
      const version = db.prepare<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").get();
      const ok = opts.readonly
        ? READABLE_VERSIONS.includes(version?.value ?? '')
        : version?.value === String(SCHEMA_VERSION);
      if (!ok)
        throw new Error(`${file}: ratings schema version ${version?.value ?? 'missing'}, expected ${SCHEMA_VERSION}`);
    } catch (err) {
      db.close();
      throw err;
    }
    return new ReviewDb(file, db, now);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Imports items in file order. Same id and content hash: unchanged. Same id with other content: refused
   * (ratings would no longer match the answers shown), naming the ids. New ids are appended.
   */
  importItems(items: readonly ReviewItem[], source: string): { added: number; unchanged: number } {
    const existing = new Map(
      this.db
        .prepare<ItemRow>('SELECT * FROM items')
        .all()
        .map((r) => [r.id, r]),
    );
    const changed = items.filter((it) => existing.has(it.id) && existing.get(it.id)!.content_hash !== it.contentHash);
    if (changed.length)
      throw new ItemConflictError(
        `${source}: ${changed.length} item(s) differ from those already in ${this.file} ` +
          `(${changed
            .slice(0, 5)
            .map((c) => c.id)
            .join(', ')}${changed.length > 5 ? ', …' : ''}); ` +
          'use a new --db for a new evaluation so ratings stay tied to the answers that were shown',
      );
    const insert = this.db.prepare(
      `INSERT INTO items (id, position, category, prompt, base_answer, tuned_answer, base_new_tokens,
         tuned_new_tokens, content_hash, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const run = this.db.transaction(() => {
      const max = this.db.prepare<{ m: number | null }>('SELECT MAX(position) AS m FROM items').get();
      let position = (max?.m ?? -1) + 1;
      let added = 0;
      for (const it of items) {
        if (existing.has(it.id)) continue;
        insert.run(
          it.id,
          position++,
          it.category,
          it.prompt,
          it.baseAnswer,
          it.tunedAnswer,
          it.baseNewTokens,
          it.tunedNewTokens,
          it.contentHash,
          source,
        );
        added++;
      }
      return added;
    });
    const added = run.immediate();
    return { added, unchanged: items.length - added };
  }

  items(): StoredItem[] {
    return this.db
      .prepare<ItemRow>('SELECT * FROM items ORDER BY position')
      .all()
      .map((r) => ({
        id: r.id,
        position: r.position,
        category: r.category,
        prompt: r.prompt,
        baseAnswer: r.base_answer,
        tunedAnswer: r.tuned_answer,
        baseNewTokens: r.base_new_tokens,
        tunedNewTokens: r.tuned_new_tokens,
        contentHash: r.content_hash,
      }));
  }

  item(id: string): StoredItem | undefined {
    return this.items().find((it) => it.id === id);
  }

  /** The study's blinding seed (hex). Server-side only: it decides which model is Answer A. */
  blindingSeed(): string {
    const row = this.db.prepare<{ value: string }>("SELECT value FROM meta WHERE key = 'blinding_seed'").get();
    if (!row) throw new Error(`${this.file}: no blinding seed (open the database read-write once)`);
    return row.value;
  }

  /** When the study was closed (ISO time), or undefined while it is open. */
  closedAt(): string | undefined {
    return this.db.prepare<{ value: string }>("SELECT value FROM meta WHERE key = 'closed_at'").get()?.value;
  }

  /** Closes the study: no more enrolments or ratings; the app may then show the summary. Idempotent. */
  closeStudy(): string {
    this.db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('closed_at', ?)").run(this.now());
    return this.closedAt()!;
  }

  /** The reviewer whose token has this SHA-256. */
  reviewerByTokenHash(tokenHash: string): Reviewer | undefined {
    return this.db.prepare<Reviewer>('SELECT id, name FROM reviewers WHERE token_hash = ?').get(tokenHash);
  }

  /** The reviewer with this name (compared by name key). */
  findReviewer(name: string): Reviewer | undefined {
    return this.db.prepare<Reviewer>('SELECT id, name FROM reviewers WHERE name_key = ?').get(nameKey(name));
  }

  /** Enrols a new reviewer (from the app). A name already taken is refused, so nobody enrols as someone else. */
  enrolReviewer(name: string, tokenHash: string): Reviewer {
    const tx = this.db.transaction(() => {
      if (this.closedAt()) throw new StudyClosedError();
      try {
        const info = this.db
          .prepare('INSERT INTO reviewers (name, name_key, token_hash, created_at) VALUES (?, ?, ?, ?)')
          .run(name, nameKey(name), tokenHash, this.now());
        return { id: Number(info.lastInsertRowid), name };
      } catch (err) {
        if (isUniqueViolation(err)) throw new NameTakenError(name);
        throw err;
      }
    });
    return tx.immediate();
  }

  /**
   * Gives a reviewer a new token (for the coordinator's `--link`): enrols the name when it is new, otherwise
   * replaces the old token, which stops working.
   */
  issueToken(name: string, tokenHash: string): { reviewer: Reviewer; created: boolean } {
    const tx = this.db.transaction(() => {
      const existing = this.findReviewer(name);
      if (existing) {
        this.db.prepare('UPDATE reviewers SET token_hash = ? WHERE id = ?').run(tokenHash, existing.id);
        return { reviewer: existing, created: false };
      }
      const info = this.db
        .prepare('INSERT INTO reviewers (name, name_key, token_hash, created_at) VALUES (?, ?, ?, ?)')
        .run(name, nameKey(name), tokenHash, this.now());
      return { reviewer: { id: Number(info.lastInsertRowid), name }, created: true };
    });
    return tx.immediate();
  }

  /**
   * The reviewer with this name, created without a token when new (for scripts and tests that write ratings
   * directly; such a reviewer signs in only after the coordinator issues a link).
   */
  ensureReviewer(name: string): Reviewer {
    this.db
      .prepare('INSERT OR IGNORE INTO reviewers (name, name_key, created_at) VALUES (?, ?, ?)')
      .run(name, nameKey(name), this.now());
    return this.findReviewer(name)!;
  }

  reviewers(): Reviewer[] {
    return this.db.prepare<Reviewer>('SELECT id, name FROM reviewers ORDER BY name').all();
  }

  /** Item ids this reviewer has judged. */
  ratedItemIds(reviewerId: number): Set<string> {
    const rows = this.db.prepare<{ item_id: string }>('SELECT item_id FROM judgements WHERE reviewer_id = ?');
    return new Set(rows.all(reviewerId).map((r) => r.item_id));
  }

  /** Stores (or replaces) one reviewer's judgement of one item in a single transaction. */
  saveJudgement(j: {
    reviewerId: number;
    itemId: string;
    answerA: Model;
    preference: Preference;
    comment: string;
    scores: Readonly<Record<Model, Scores>>;
  }): { created: boolean } {
    const now = this.now();
    const judgement = this.db.prepare(
      `INSERT INTO judgements (reviewer_id, item_id, answer_a, preference, comment, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (reviewer_id, item_id) DO UPDATE SET answer_a = excluded.answer_a,
         preference = excluded.preference, comment = excluded.comment, updated_at = excluded.updated_at`,
    );
    const cols = AXIS_KEYS.join(', ');
    const rating = this.db.prepare(
      `INSERT INTO ratings (reviewer_id, item_id, model, slot, ${cols}, created_at, updated_at)
       VALUES (?, ?, ?, ?, ${AXIS_KEYS.map(() => '?').join(', ')}, ?, ?)
       ON CONFLICT (reviewer_id, item_id, model) DO UPDATE SET slot = excluded.slot,
         ${AXIS_KEYS.map((k) => `${k} = excluded.${k}`).join(', ')}, updated_at = excluded.updated_at`,
    );
    const existed = this.db.prepare('SELECT 1 FROM judgements WHERE reviewer_id = ? AND item_id = ?');
    const tx = this.db.transaction(() => {
      // Inside the write transaction, so a --close from another process cannot slip in between.
      if (this.closedAt()) throw new StudyClosedError();
      const created = existed.get(j.reviewerId, j.itemId) === undefined;
      judgement.run(j.reviewerId, j.itemId, j.answerA, j.preference, j.comment, now, now);
      for (const model of ['base', 'tuned'] as const) {
        const slot = model === j.answerA ? 'A' : 'B';
        rating.run(j.reviewerId, j.itemId, model, slot, ...AXIS_KEYS.map((k) => j.scores[model][k]), now, now);
      }
      return { created };
    });
    // BEGIN IMMEDIATE: a deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
    // another process wrote in between (the busy timeout cannot help it); taking the lock first makes it wait.
    return tx.immediate();
  }

  /** One reviewer's judgement of one item. */
  judgement(reviewerId: number, itemId: string): StoredJudgement | undefined {
    return this.judgements(reviewerId).find((j) => j.itemId === itemId);
  }

  /** All judgements with both models' scores, ordered by reviewer name then item position. */
  judgements(reviewerId?: number): StoredJudgement[] {
    const rows = this.db
      .prepare<Record<string, string | number>>(
        `SELECT r.name AS reviewer, j.item_id, j.answer_a, j.preference, j.comment, j.created_at, j.updated_at,
                ${AXIS_KEYS.map((k) => `b.${k} AS base_${k}, t.${k} AS tuned_${k}`).join(', ')}
         FROM judgements j
         JOIN reviewers r ON r.id = j.reviewer_id
         JOIN items i ON i.id = j.item_id
         JOIN ratings b ON b.reviewer_id = j.reviewer_id AND b.item_id = j.item_id AND b.model = 'base'
         JOIN ratings t ON t.reviewer_id = j.reviewer_id AND t.item_id = j.item_id AND t.model = 'tuned'
         WHERE (? IS NULL OR j.reviewer_id = ?)
         ORDER BY r.name COLLATE NOCASE, i.position`,
      )
      .all(reviewerId ?? null, reviewerId ?? null);
    const scores = (row: Record<string, string | number>, model: Model) =>
      Object.fromEntries(AXIS_KEYS.map((k) => [k, Number(row[`${model}_${k}`])])) as Scores;
    return rows.map((row) => ({
      reviewer: String(row.reviewer),
      itemId: String(row.item_id),
      answerA: row.answer_a as Model,
      preference: row.preference as Preference,
      comment: String(row.comment),
      scores: { base: scores(row, 'base'), tuned: scores(row, 'tuned') },
      createdAt: String(row.created_at),
      updatedAt: String(row.updated_at),
    }));
  }

  /** Judgements in the shape the statistics take. */
  statsJudgements(): Judgement[] {
    return this.judgements().map((j) => ({
      itemId: j.itemId,
      reviewer: j.reviewer,
      base: j.scores.base,
      tuned: j.scores.tuned,
      preference: j.preference,
    }));
  }

  exportRows(): ExportRow[] {
    const categories = new Map(this.items().map((it) => [it.id, it.category]));
    const rows: ExportRow[] = [];
    for (const j of this.judgements()) {
      for (const model of ['base', 'tuned'] as const) {
        rows.push({
          reviewer: j.reviewer,
          item_id: j.itemId,
          category: categories.get(j.itemId) ?? '',
          model,
          slot: model === j.answerA ? 'A' : 'B',
          ...j.scores[model],
          preference: j.preference,
          comment: j.comment,
          created_at: j.createdAt,
          updated_at: j.updatedAt,
        });
      }
    }
    return rows;
  }
}
