// A second review server in its own process, on the database file given as argv[2] (review-concurrency.test.ts).
// Prints {"url", "enrolUrl"} as one JSON line once listening; stops when its stdin closes.
import { ReviewDb } from '../../lib/review/db.ts';
import { startReviewServer } from '../../lib/review/server.ts';

async function main(): Promise<void> {
  const db = ReviewDb.open(process.argv[2]);
  const server = await startReviewServer({ db, port: 0 });
  process.stdout.write(`${JSON.stringify({ url: server.url, enrolUrl: server.enrolUrl })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    server.close().finally(() => {
      db.close();
      process.exit(0);
    });
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
