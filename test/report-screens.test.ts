// Screenshots of the report, the slides and the review app in headless Chromium at 1400 and 1024 px (#20): nothing
// scrolls sideways, the key sections are there, the deck advances on a click. PNGs go to the test's temp folder.
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeReport } from '../lib/cli/commands/report.ts';
import { ReviewDb } from '../lib/review/db.ts';
import { readQualitative } from '../lib/review/import.ts';
import { startReviewServer } from '../lib/review/server.ts';
import { CHROMIUM, hasChromium, launchChromium } from './support/chromium.ts';
import { syntheticRun } from './support/report-run.ts';

const WIDTHS = [1400, 1024];
const SECTIONS = ['summary', 'data', 'training', 'evaluation', 'examples', 'review', 'cost', 'limitations'];
const shots = mkdtempSync(join(tmpdir(), 'medllama-screens-'));
const overflow = 'document.scrollingElement.scrollWidth - innerWidth';

/** A run whose answers hold a 300-character word and a long line, as a random model writes them. */
function runWithLongAnswers(): string {
  const dir = syntheticRun();
  const long = {
    id: 'q3',
    prompt: 'Sepsis is defined as',
    base_answer: 'x'.repeat(300),
    tuned_answer: 'word '.repeat(200),
  };
  appendFileSync(join(dir, 's3/art/eval/qualitative.jsonl'), `${JSON.stringify(long)}\n`);
  return dir;
}

describe.skipIf(!hasChromium)(`report, slides and review app at ${WIDTHS.join(' and ')} px (needs ${CHROMIUM})`, () => {
  afterAll(() => console.log(`screenshots: ${shots}`));

  it.each(WIDTHS)(
    'report.html and slides.html at %i px: no sideways scroll, every section, clicks advance',
    async (width) => {
      const files = writeReport(runWithLongAnswers());
      const browser = await launchChromium({ width, height: 900 });
      try {
        const page = await browser.newPage();
        await page.goto(`file://${files.html}`);
        expect(await page.evaluate(overflow)).toBeLessThanOrEqual(0);
        for (const id of SECTIONS) expect(await page.locator(`section#${id} h2`).count(), id).toBe(1);
        expect(await page.locator('#evaluation svg[aria-label="Base vs tuned (95% intervals)"]').count()).toBe(1);
        await page.screenshot({ path: join(shots, `report-${width}.png`), fullPage: true });

        await page.goto(`file://${files.slides}`);
        const total = await page.locator('.slide').count();
        for (let i = 0; i < total; i++) {
          expect(await page.evaluate(overflow), `slide ${i + 1}`).toBeLessThanOrEqual(0);
          const active = page.locator('.slide.active');
          const box = (await active.boundingBox())!;
          for (const svg of await active.locator('figure svg').all()) {
            const b = (await svg.boundingBox())!;
            // a chart uses the slide: at least half its height or nearly all its width
            expect(b.height > box.height / 2 || b.width > box.width * 0.85, `slide ${i + 1} chart`).toBe(true);
          }
          await page.screenshot({ path: join(shots, `slide-${width}-${i + 1}.png`) });
          await page.mouse.click(width / 2, 450);
        }
        expect(await page.evaluate('document.title')).toContain(`(${total}/${total})`);
        await page.mouse.click(10, 450);
        expect(await page.evaluate('document.title')).toContain(`(${total - 1}/${total})`);
        const examples = page.locator('.slide .example');
        expect(await examples.count()).toBe(3);
      } finally {
        await browser.close();
      }
    },
  );

  it.each(WIDTHS)('review app at %i px: no sideways scroll before and after sign-in', async (width) => {
    const dir = runWithLongAnswers();
    const db = ReviewDb.open(join(dir, 'ratings.sqlite'));
    db.importItems(readQualitative(join(dir, 's3/art/eval/qualitative.jsonl')), 'qualitative.jsonl');
    const server = await startReviewServer({ db, port: 0, summary: { reps: 200 } });
    const browser = await launchChromium({ width, height: 900 });
    try {
      const page = await browser.newPage();
      await page.goto(server.url);
      await page.waitForSelector('#signin-hint:not([hidden])');
      expect(await page.evaluate(overflow)).toBeLessThanOrEqual(0);
      await page.screenshot({ path: join(shots, `review-${width}-start.png`), fullPage: true });
      await page.goto(server.enrolUrl);
      await page.fill('#name', 'Dr Screens');
      await page.keyboard.press('Enter');
      await page.waitForSelector('#review:not([hidden])');
      expect(await page.evaluate(overflow)).toBeLessThanOrEqual(0);
      await page.screenshot({ path: join(shots, `review-${width}-item.png`), fullPage: true });
      expect(readFileSync(join(shots, `review-${width}-item.png`)).length).toBeGreaterThan(1000);
    } finally {
      await browser.close();
      await server.close();
      db.close();
    }
  });
});
