/** Validation of what the browser sends; every failure is an HttpError with a sentence for the reviewer. */
import { AXES, AXIS_KEYS, type AxisKey, SCORE_MAX, SCORE_MIN } from './axes.ts';
import type { Scores } from './db.ts';
import { MAX_COMMENT } from './limits.ts';
import { checkName } from './names.ts';

export type Slot = 'A' | 'B';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

function requireObject(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HttpError(400, `${what} must be a JSON object`);
  return body as Record<string, unknown>;
}

function refuseExtraFields(b: Record<string, unknown>, allowed: readonly string[]): void {
  const extra = Object.keys(b).filter((k) => !allowed.includes(k));
  if (extra.length === 0) return;
  const hint = extra.includes('reviewer') ? '; the reviewer comes from your sign-in, not from the request' : '';
  throw new HttpError(400, `unknown field(s) ${extra.map((k) => `"${k}"`).join(', ')}${hint}`);
}

/** A display name for enrolment (names.ts); the message never names a model. */
export function validateName(raw: unknown): string {
  const checked = checkName(raw);
  if (!checked.ok) throw new HttpError(400, checked.reason);
  return checked.name;
}

function validateScores(raw: unknown, slot: Slot): Scores {
  const where = `Answer ${slot}`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new HttpError(400, `scores.${slot} must be an object of axis → 1..5`);
  const obj = raw as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => !(AXIS_KEYS as readonly string[]).includes(k));
  if (unknown.length) throw new HttpError(400, `${where}: unknown axis ${unknown.map((k) => `"${k}"`).join(', ')}`);
  const missing = AXES.filter((a) => obj[a.key] === undefined || obj[a.key] === null).map((a) => a.label);
  if (missing.length) throw new HttpError(400, `${where}: please rate ${missing.join(', ')}`);
  const scores = {} as Record<AxisKey, number>;
  for (const axis of AXES) {
    const v = obj[axis.key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < SCORE_MIN || v > SCORE_MAX)
      throw new HttpError(
        400,
        `${where}: ${axis.label} must be a whole number from ${SCORE_MIN} to ${SCORE_MAX}, got ${JSON.stringify(v)}`,
      );
    scores[axis.key] = v;
  }
  return scores;
}

export interface RatingInput {
  readonly itemId: string;
  readonly scores: Readonly<Record<Slot, Scores>>;
  readonly preference: Slot | 'tie';
  readonly comment: string;
}

/** Validates a POST /api/ratings body (slot terms; un-blinding happens after). */
export function validateRating(body: unknown): RatingInput {
  const b = requireObject(body, 'request body');
  refuseExtraFields(b, ['itemId', 'scores', 'preference', 'comment']);
  if (typeof b.itemId !== 'string' || !b.itemId) throw new HttpError(400, 'itemId is required');
  if (typeof b.scores !== 'object' || b.scores === null || Array.isArray(b.scores))
    throw new HttpError(400, 'scores must be {"A": {...}, "B": {...}}');
  const s = b.scores as Record<string, unknown>;
  const extraSlots = Object.keys(s).filter((k) => k !== 'A' && k !== 'B');
  if (extraSlots.length) throw new HttpError(400, `scores has unknown key(s) ${extraSlots.join(', ')}; use A and B`);
  const scores = { A: validateScores(s.A, 'A'), B: validateScores(s.B, 'B') };
  if (b.preference !== 'A' && b.preference !== 'B' && b.preference !== 'tie')
    throw new HttpError(400, 'preference must be "A", "B" or "tie"');
  const comment = b.comment ?? '';
  if (typeof comment !== 'string') throw new HttpError(400, 'comment must be a string');
  if (comment.length > MAX_COMMENT) throw new HttpError(400, `comment must be at most ${MAX_COMMENT} characters`);
  return { itemId: b.itemId, scores, preference: b.preference, comment: comment.trim() };
}

export interface EnrolInput {
  readonly code: string;
  readonly name: string;
}

/** Validates a POST /api/enrol body: the enrolment code from the coordinator's link and the reviewer's name. */
export function validateEnrol(body: unknown): EnrolInput {
  const b = requireObject(body, 'request body');
  refuseExtraFields(b, ['code', 'name']);
  if (typeof b.code !== 'string' || !b.code)
    throw new HttpError(400, 'enrolment code is missing: open the enrolment link printed by medllama review');
  return { code: b.code, name: validateName(b.name) };
}
