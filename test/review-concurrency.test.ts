// Issue #21, item 3: two review servers (two processes) on one ratings database lose no rating. Before,
// SQLite's deferred transactions failed with SQLITE_BUSY (HTTP 500) on about 1 post in 70.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReviewServer } from '../lib/review/server.ts';
import { call, closeAll, enrol, fixtureItems, rating, repo, serve, tempDb } from './support/review.ts';

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    child.stdin?.end();
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
  }
  await closeAll();
});

/** A review server in another process on `file` (only what the API helpers use: url and enrolUrl). */
async function serveInChild(file: string): Promise<ReviewServer> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(repo, 'test', 'support', 'review-server-child.ts'), file],
    {
      cwd: repo,
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  children.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += String(d);
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    child.once('exit', (code) => reject(new Error(`review server child exited with ${code}`)));
  });
  return JSON.parse(line) as ReviewServer;
}

describe('two review servers on one database (#21.3)', () => {
  it('parallel enrolments and posts through both processes all succeed and are all stored', async () => {
    const file = tempDb();
    const { db, server: a } = await serve(file);
    const b = await serveInChild(file);
    const servers = [a, b];
    const reviewers = 70;
    const tokens = await Promise.all(
      Array.from({ length: reviewers }, (_, i) => enrol(servers[i % 2], `Dr Parallel ${i}`)),
    );
    const posts = tokens.flatMap((token, r) =>
      fixtureItems.map((it, i) =>
        call(servers[(r + i) % 2], '/api/ratings', { body: rating(it.id, 1 + (r % 5), 5 - (r % 5), 'tie'), token }),
      ),
    );
    const replies = await Promise.all(posts);
    const failed = replies.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.text}`);
    expect(failed).toEqual([]);
    expect(replies).toHaveLength(210);
    expect(db.judgements()).toHaveLength(210);
    expect(db.reviewers()).toHaveLength(reviewers);
  });
});
