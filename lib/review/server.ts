/**
 * The review web app's HTTP layer: node:http on 127.0.0.1 only, one HTML page and a small JSON API over
 * ReviewApp (app.ts). A reviewer is whoever holds a secret token, sent as `Authorization: Bearer <token>`;
 * the page keeps it in localStorage, which (unlike a cookie) is private to this origin, port included.
 *
 *   GET  /                  the page
 *   POST /api/enrol         {code, name} → {token, ...progress}: a new reviewer, with the enrolment link's code
 *   GET  /api/progress      the caller's own rated / total
 *   GET  /api/next          the caller's first unrated item (or done: true)
 *   GET  /api/item?index=I  item I (0-based), with the caller's earlier rating if any
 *   POST /api/ratings       {itemId, scores: {A: {axis: 1..5}, B: {...}}, preference, comment}
 *   GET  /api/summary       the summary statistics, once the study is closed
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReviewApp } from './app.ts';
import type { ReviewDb } from './db.ts';
import { MAX_BODY } from './limits.ts';
import { renderPage } from './page.ts';
import type { BootstrapOptions } from './stats.ts';
import { newSecret } from './tokens.ts';
import { HttpError } from './validate.ts';

export { HttpError } from './validate.ts';

export const HOST = '127.0.0.1';

export interface ReviewServer {
  readonly url: string;
  /** The link that lets a person enrol as a new reviewer (the code is in the fragment, never in a request line). */
  readonly enrolUrl: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

export interface ServerOptions {
  readonly db: ReviewDb;
  /** 0 picks a free port. */
  readonly port: number;
  readonly summary?: BootstrapOptions;
  /** The enrolment code; a fresh random one by default (so each start of the server has a new link). */
  readonly enrolCode?: string;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
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

/** The bearer token of a request, undefined when there is none (malformed ones are refused as invalid later). */
function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer (\S+)$/.exec(header);
  return match ? match[1] : '';
}

/** Query parameters each route accepts; anything else is refused, so a stale client's `?reviewer=` is not ignored. */
const QUERY: Record<string, readonly string[]> = { '/api/item': ['index'] };

function checkQuery(url: URL): void {
  const allowed = QUERY[url.pathname] ?? [];
  for (const key of url.searchParams.keys()) {
    if (allowed.includes(key)) continue;
    const hint = key === 'reviewer' ? '; the reviewer comes from your sign-in, not from the URL' : '';
    throw new HttpError(400, `unknown query parameter "${key}"${hint}`);
  }
}

const API_ROUTES = ['/api/enrol', '/api/progress', '/api/next', '/api/item', '/api/ratings', '/api/summary'];
const POST_ROUTES = ['/api/enrol', '/api/ratings'];

/** Starts the server on 127.0.0.1; rejects with a clear message when the port is taken. */
export async function startReviewServer(opts: ServerOptions): Promise<ReviewServer> {
  const enrolCode = opts.enrolCode ?? newSecret();
  const app = new ReviewApp(opts.db, enrolCode, opts.summary);
  const page = renderPage();
  let port = opts.port;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // DNS-rebinding guard: only our own host names; cross-origin requests refused.
    const host = req.headers.host;
    if (host !== `${HOST}:${port}` && host !== `localhost:${port}`)
      throw new HttpError(403, 'unexpected Host header; open the URL printed by the CLI');
    const origin = req.headers.origin;
    if (origin && origin !== `http://${HOST}:${port}` && origin !== `http://localhost:${port}`)
      throw new HttpError(403, 'cross-origin requests are not allowed');
    const url = new URL(req.url ?? '/', `http://${HOST}:${port}`);
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /' || route === 'GET /index.html') {
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        // Only the page's own script (by hash) runs: an injected <script> or handler attribute would not.
        'Content-Security-Policy':
          `default-src 'none'; style-src 'unsafe-inline'; script-src '${page.scriptHash}'; connect-src 'self'; ` +
          "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      });
      res.end(page.html);
      return;
    }
    if (url.pathname === '/' || url.pathname === '/index.html') {
      res.setHeader('Allow', 'GET');
      throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}`);
    }
    if (!API_ROUTES.includes(url.pathname)) throw new HttpError(404, `no such endpoint ${url.pathname}`);
    const wantsPost = POST_ROUTES.includes(url.pathname);
    if (req.method !== (wantsPost ? 'POST' : 'GET')) {
      res.setHeader('Allow', wantsPost ? 'POST' : 'GET');
      throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}`);
    }
    checkQuery(url);
    if (route === 'POST /api/enrol') return send(res, 200, app.enrol(await readBody(req)));
    const reviewer = app.authenticate(bearerToken(req));
    switch (url.pathname) {
      case '/api/progress':
        return send(res, 200, app.progress(reviewer));
      case '/api/next':
        return send(res, 200, app.next(reviewer));
      case '/api/item':
        return send(res, 200, app.item(reviewer, url.searchParams.get('index') ?? undefined));
      case '/api/ratings':
        return send(res, 200, app.rate(reviewer, await readBody(req)));
      default:
        return send(res, 200, app.summary(reviewer));
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError)
        return send(
          res,
          err.status,
          { error: err.message },
          err.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {},
        );
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
  const url = `http://${HOST}:${port}/`;
  return {
    url,
    enrolUrl: `${url}#enrol=${enrolCode}`,
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
