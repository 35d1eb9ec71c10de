/**
 * The review web app: node:http on 127.0.0.1 only, one HTML page and a small JSON API. The answers are sent as
 * "A" and "B"; which model is which stays on the server (blind.ts). The summary (which names the models) is only
 * served to a reviewer who has rated every item.
 *
 *   GET  /                              the page
 *   GET  /api/next?reviewer=NAME        the reviewer's first unrated item (or done: true)
 *   GET  /api/item?reviewer=NAME&index=I  item I (0-based), with the reviewer's earlier rating if any
 *   GET  /api/progress[?reviewer=NAME]  rated / total (per reviewer without a name)
 *   POST /api/ratings                   {reviewer, itemId, scores: {A: {axis: 1..5}, B: {...}}, preference, comment}
 *   GET  /api/summary?reviewer=NAME     the summary statistics, once NAME has rated every item
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AXES, AXIS_KEYS, type AxisKey, SCORE_MAX, SCORE_MIN } from './axes.ts';
import { modelForAnswerA } from './blind.ts';
import { canonicalName, type Model, type ReviewDb, type Scores, type StoredItem } from './db.ts';
import { MAX_BODY, MAX_COMMENT, MAX_NAME } from './limits.ts';
import { renderPage } from './page.ts';
import type { BootstrapOptions, Preference } from './stats.ts';
import { computeSummary, formatDifference, formatEstimate } from './summary.ts';

export const HOST = '127.0.0.1';

type Slot = 'A' | 'B';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface ReviewServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

export interface ServerOptions {
  readonly db: ReviewDb;
  /** 0 picks a free port. */
  readonly port: number;
  readonly summary?: BootstrapOptions;
}

/** Validates a reviewer name; the message never names a model. */
export function validateName(raw: unknown): string {
  if (typeof raw !== 'string' || !raw.trim()) throw new HttpError(400, 'reviewer name is required');
  const name = canonicalName(raw);
  if ([...name].length > MAX_NAME) throw new HttpError(400, `reviewer name must be at most ${MAX_NAME} characters`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new HttpError(400, 'reviewer name must not contain control characters');
  return name;
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
  readonly reviewer: string;
  readonly itemId: string;
  readonly scores: Readonly<Record<Slot, Scores>>;
  readonly preference: Slot | 'tie';
  readonly comment: string;
}

/** Validates a POST /api/ratings body (slot terms; un-blinding happens after). */
export function validateRating(body: unknown): RatingInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HttpError(400, 'request body must be a JSON object');
  const b = body as Record<string, unknown>;
  const allowed = ['reviewer', 'itemId', 'scores', 'preference', 'comment'];
  const extra = Object.keys(b).filter((k) => !allowed.includes(k));
  if (extra.length) throw new HttpError(400, `unknown field(s) ${extra.map((k) => `"${k}"`).join(', ')}`);
  const reviewer = validateName(b.reviewer);
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
  return { reviewer, itemId: b.itemId, scores, preference: b.preference, comment: comment.trim() };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, 'send the body as application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) throw new HttpError(400, 'request body is empty; expected JSON');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** The review logic behind the HTTP layer (also used directly by tests). */
export class ReviewApp {
  private readonly items: StoredItem[];
  private readonly index: Map<string, number>;

  constructor(
    private readonly db: ReviewDb,
    private readonly summaryOptions: BootstrapOptions = {},
  ) {
    this.items = db.items();
    this.index = new Map(this.items.map((it, i) => [it.id, i]));
    if (this.items.length === 0) throw new Error(`${db.file}: no items to review`);
  }

  private progress(name: string) {
    const reviewer = this.db.findReviewer(name);
    const rated = reviewer ? this.db.ratedItemIds(reviewer.id) : new Set<string>();
    const ratedCount = this.items.filter((it) => rated.has(it.id)).length;
    return { reviewer: name, total: this.items.length, rated: ratedCount, done: ratedCount === this.items.length };
  }

  /** An item as the browser sees it: A/B answers, earlier rating in A/B terms, no model names. */
  private view(name: string, position: number) {
    const item = this.items[position];
    const aModel = modelForAnswerA(name, item.id);
    const slotOf = (m: Model): Slot => (m === aModel ? 'A' : 'B');
    const answer = (m: Model) => (m === 'base' ? item.baseAnswer : item.tunedAnswer);
    const other: Model = aModel === 'base' ? 'tuned' : 'base';
    const reviewer = this.db.findReviewer(name);
    const earlier = reviewer ? this.db.judgements(reviewer.id).find((j) => j.itemId === item.id) : undefined;
    return {
      index: position,
      id: item.id,
      category: item.category,
      prompt: item.prompt,
      answers: { A: answer(aModel), B: answer(other) },
      rating: earlier
        ? {
            scores: { A: earlier.scores[aModel], B: earlier.scores[other] },
            preference: earlier.preference === 'tie' ? 'tie' : slotOf(earlier.preference),
            comment: earlier.comment,
          }
        : null,
    };
  }

  next(rawName: unknown) {
    const name = validateName(rawName);
    const reviewer = this.db.findReviewer(name);
    const rated = reviewer ? this.db.ratedItemIds(reviewer.id) : new Set<string>();
    const position = this.items.findIndex((it) => !rated.has(it.id));
    return { ...this.progress(name), item: position < 0 ? null : this.view(name, position) };
  }

  item(rawName: unknown, rawIndex: unknown) {
    const name = validateName(rawName);
    const index = typeof rawIndex === 'string' && /^\d+$/.test(rawIndex) ? Number(rawIndex) : Number.NaN;
    if (!Number.isInteger(index) || index < 0 || index >= this.items.length)
      throw new HttpError(400, `index must be a whole number from 0 to ${this.items.length - 1}`);
    return { ...this.progress(name), item: this.view(name, index) };
  }

  progressOf(rawName: unknown) {
    if (rawName === undefined || rawName === null) {
      const reviewers = this.db.reviewers().map((r) => ({ reviewer: r.name, rated: this.db.ratedItemIds(r.id).size }));
      return { total: this.items.length, reviewers };
    }
    return this.progress(validateName(rawName));
  }

  rate(body: unknown) {
    const input = validateRating(body);
    const position = this.index.get(input.itemId);
    if (position === undefined) throw new HttpError(400, `unknown item ${JSON.stringify(input.itemId)}`);
    const reviewer = this.db.ensureReviewer(input.reviewer);
    const aModel = modelForAnswerA(reviewer.name, input.itemId);
    const bModel: Model = aModel === 'base' ? 'tuned' : 'base';
    const preference: Preference = input.preference === 'tie' ? 'tie' : input.preference === 'A' ? aModel : bModel;
    const { created } = this.db.saveJudgement({
      reviewerId: reviewer.id,
      itemId: input.itemId,
      answerA: aModel,
      preference,
      comment: input.comment,
      scores: { [aModel]: input.scores.A, [bModel]: input.scores.B } as Record<Model, Scores>,
    });
    return { saved: created ? 'created' : 'updated', index: position, ...this.progress(reviewer.name) };
  }

  summary(rawName: unknown) {
    const progress = this.progress(validateName(rawName));
    if (!progress.done)
      throw new HttpError(
        409,
        `the summary opens once you have rated every item (${progress.rated} / ${progress.total}), so it cannot unblind you`,
      );
    const summary = computeSummary(this.db, this.summaryOptions);
    // A display table, so the page's own code stays free of model names.
    const table = {
      columns: ['Axis (1–5, 5 = best)', 'base', 'tuned', 'tuned − base'],
      rows: summary.axes.map((a) => [
        summary.axisLabels[a.axis],
        formatEstimate(a.base),
        formatEstimate(a.tuned),
        formatDifference(a.difference),
      ]),
      notes: [
        `Preference over ${summary.preference.judgements} judgement(s): tuned wins ${summary.preference.tunedWins}, ` +
          `ties ${summary.preference.ties}, base wins ${summary.preference.baseWins}; ` +
          `tuned win rate (tie = ½) ${formatEstimate(summary.preference.winRate)}.`,
        `${summary.items} item(s), ${summary.reviewers} reviewer(s); ${Math.round(summary.level * 100)}% ` +
          `bootstrap CIs over items (${summary.reps} replicates, seed ${summary.seed}).`,
      ],
    };
    return { summary, table };
  }
}

function allowedHost(req: IncomingMessage, port: number): boolean {
  const host = req.headers.host;
  return host === `${HOST}:${port}` || host === `localhost:${port}`;
}

/** Starts the server on 127.0.0.1; rejects with a clear message when the port is taken. */
export async function startReviewServer(opts: ServerOptions): Promise<ReviewServer> {
  const app = new ReviewApp(opts.db, opts.summary);
  const page = renderPage();
  let port = opts.port;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // DNS-rebinding guard: only our own host names; cross-origin writes refused.
    if (!allowedHost(req, port)) throw new HttpError(403, 'unexpected Host header; open the URL printed by the CLI');
    const origin = req.headers.origin;
    if (origin && origin !== `http://${HOST}:${port}` && origin !== `http://localhost:${port}`)
      throw new HttpError(403, 'cross-origin requests are not allowed');
    const url = new URL(req.url ?? '/', `http://${HOST}:${port}`);
    const q = (k: string) => url.searchParams.get(k) ?? undefined;
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /':
      case 'GET /index.html':
        res.writeHead(200, {
          'Content-Type': 'text/html; charset=utf-8',
          'Cache-Control': 'no-store',
          'X-Content-Type-Options': 'nosniff',
          'Content-Security-Policy':
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; " +
            "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        });
        res.end(page);
        return;
      case 'GET /api/next':
        return send(res, 200, app.next(q('reviewer')));
      case 'GET /api/item':
        return send(res, 200, app.item(q('reviewer'), q('index')));
      case 'GET /api/progress':
        return send(res, 200, app.progressOf(q('reviewer')));
      case 'GET /api/summary':
        return send(res, 200, app.summary(q('reviewer')));
      case 'POST /api/ratings':
        return send(res, 200, app.rate(await readBody(req)));
      default: {
        const known = ['/', '/index.html', '/api/next', '/api/item', '/api/progress', '/api/summary', '/api/ratings'];
        if (known.includes(url.pathname)) {
          res.setHeader('Allow', url.pathname === '/api/ratings' ? 'POST' : 'GET');
          throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}`);
        }
        throw new HttpError(404, `no such endpoint ${url.pathname}`);
      }
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) return send(res, err.status, { error: err.message });
      console.error(`review server: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      send(res, 500, { error: 'internal error; see the terminal running medllama review' });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE')
        reject(
          new Error(
            `port ${opts.port} on ${HOST} is already in use; stop the other server or pass --port <free port> ` +
              '(--port 0 picks one)',
          ),
        );
      else if (err.code === 'EACCES')
        reject(new Error(`no permission to listen on ${HOST}:${opts.port}; pass --port above 1023`));
      else reject(err);
    });
    server.listen(opts.port, HOST, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${HOST}:${port}/`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
