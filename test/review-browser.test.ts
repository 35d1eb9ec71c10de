// A full rating session in headless Chromium: enrolment link, keyboard rating, validation, mouse rating,
// resume, the summary once the study is closed.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Blinding } from '../lib/review/blind.ts';
import { ReviewDb } from '../lib/review/db.ts';
import { readQualitative } from '../lib/review/import.ts';
import { startReviewServer } from '../lib/review/server.ts';
import { CHROMIUM, hasChromium, launchChromium } from './support/chromium.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURE = join(repo, 'test', 'fixtures', 'review', 'qualitative.jsonl');

describe.skipIf(!hasChromium)(`review app in headless Chromium (needs ${CHROMIUM})`, () => {
  it('enrols, rates every item (one by keyboard), validates, resumes and shows the summary once closed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'medllama-review-browser-'));
    const db = ReviewDb.open(join(dir, 'ratings.sqlite'));
    db.importItems(readQualitative(FIXTURE), FIXTURE);
    const server = await startReviewServer({ db, port: 0, summary: { reps: 300 } });
    const shots = join(repo, 'test', '__screenshots__');
    mkdirSync(shots, { recursive: true });
    const browser = await launchChromium({ width: 1366, height: 800 });
    const name = 'Dr Ada';
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      const external: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(server.url)) external.push(r.url());
      });
      const bodyText = async () => (await page.locator('body').textContent()) ?? '';

      // Without a link: no counter, no name form, a hint where to get a link (#20: no "0 / 0" before sign-in).
      await page.goto(server.url);
      await page.waitForSelector('#signin-hint:not([hidden])');
      expect(await page.isVisible('#progress')).toBe(false);
      expect(await page.isVisible('#who')).toBe(false);
      expect(await page.isVisible('#start-form')).toBe(false);
      expect(await bodyText()).not.toMatch(/\d+ \/ \d+/);

      // The enrolment link: its code leaves the address bar at once.
      await page.goto(server.enrolUrl);
      await expect.poll(() => page.evaluate('document.activeElement && document.activeElement.id')).toBe('name');
      expect(page.url()).toBe(server.url);
      expect(await page.isVisible('#progress')).toBe(false);
      // an empty name is refused with a message
      await page.keyboard.press('Enter');
      await expect.poll(() => page.textContent('#start-error')).toBe('Please enter your name.');
      await page.keyboard.type(name);
      await page.keyboard.press('Enter');
      await page.waitForSelector('#review:not([hidden])');
      expect(await page.textContent('#who-name')).toBe(name);
      expect(await page.isVisible('#progress')).toBe(true);
      expect(await page.textContent('#progress-text')).toBe('0 / 3');
      expect(await page.textContent('#item-pos')).toBe('Item 1 of 3');

      // Item 1 by keyboard only: focus starts on Answer A's first row; 1–5 rate and move on.
      const focusedRow = () =>
        page.evaluate(`(() => {
          const fs = document.activeElement && document.activeElement.closest('fieldset');
          return fs ? (fs.getAttribute('data-slot') || '') + ':' + (fs.getAttribute('data-axis') || fs.id) : '';
        })()`);
      expect(await focusedRow()).toBe('A:consensus');
      // the focused option shows a visible focus ring
      const ring = await page.evaluate(`(() => {
        const label = document.activeElement && document.activeElement.closest('label');
        return label ? getComputedStyle(label).outlineStyle : 'none';
      })()`);
      expect(ring).toBe('solid');
      for (const key of ['5', '5', '4', '5', '4', '5']) await page.keyboard.press(key);
      expect(await focusedRow()).toBe('B:consensus');
      for (const key of ['2', '1', '2', '3', '2', '4']) await page.keyboard.press(key);
      expect(await focusedRow()).toBe(':fs-preference');
      await page.keyboard.press('Space'); // checks the focused option: "Answer A"
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('comment');
      await page.keyboard.type('A is accurate; B invents a benefit.');
      await page.keyboard.press('Control+Enter');
      await expect.poll(() => page.textContent('#item-pos')).toBe('Item 2 of 3');
      expect(await page.textContent('#progress-text')).toBe('1 / 3');
      const first = db.judgements()[0];
      const aModel = new Blinding(db.blindingSeed()).answerA(db.findReviewer(name)!.id, 'def-01');
      expect(first).toMatchObject({
        itemId: 'def-01',
        preference: aModel,
        comment: 'A is accurate; B invents a benefit.',
      });
      expect(first.scores[aModel]).toEqual({
        consensus: 5,
        harm_extent: 5,
        harm_likelihood: 4,
        incorrect: 5,
        missing: 4,
        bias: 5,
      });

      // Item 2: saving with nothing rated lists every missing row for both answers.
      await page.click('#save');
      const error = await page.textContent('#form-error');
      expect(error).toContain('Every axis for both answers is required before saving.');
      expect(error).toContain('Answer A: rate Agreement with scientific consensus, Extent of possible harm');
      expect(error).toContain('Answer B: rate');
      expect(error).toContain('Choose which answer is better overall');
      expect(await page.locator('fieldset.invalid').count()).toBe(13);
      expect(await focusedRow()).toBe('A:consensus');
      // rate with the mouse, all but one row, then screenshot the half-filled form for readability
      for (const slot of ['A', 'B']) {
        for (const axis of ['consensus', 'harm_extent', 'harm_likelihood', 'incorrect', 'missing']) {
          await page.click(`#fs-${slot}-${axis} label:nth-child(${slot === 'A' ? 3 : 4})`);
        }
      }
      expect(await page.locator('fieldset.invalid').count()).toBe(3);
      await page.click('#fs-preference label:nth-child(3)');
      await page.click('#save');
      expect(await page.textContent('#form-error')).toMatch(
        /Answer A: rate Possibility of bias\.\nAnswer B: rate Possibility of bias\./,
      );
      expect(await bodyText()).not.toMatch(/base|tuned/i);
      await page.evaluate('window.scrollTo(0, 0)');
      await page.screenshot({ path: join(shots, 'review.png') });
      await page.click('#fs-A-bias label:nth-child(5)');
      await page.click('#fs-B-bias label:nth-child(5)');
      await page.fill('#comment', 'Both acceptable. <img src=x onerror="document.title=1">');
      await page.click('#save');
      await expect.poll(() => page.textContent('#item-pos')).toBe('Item 3 of 3');
      expect(await page.textContent('#saved')).toBe('Saved (created).');

      // Resume: the browser keeps the reviewer's token, so a reload continues at item 3 with nothing typed;
      // Previous shows item 2 with its rating (the comment's markup stays text).
      await page.reload();
      await expect.poll(() => page.textContent('#item-pos')).toBe('Item 3 of 3');
      expect(await page.textContent('#who-name')).toBe(name);
      await page.click('#prev');
      await expect.poll(() => page.textContent('#item-pos')).toBe('Item 2 of 3');
      expect(await page.textContent('#item-status')).toContain('already rated');
      expect(await page.inputValue('#comment')).toBe('Both acceptable. <img src=x onerror="document.title=1">');
      expect(await page.title()).toBe('MedLlama expert review');
      expect(await page.locator('#rate-form input:checked').count()).toBe(13);
      await page.click('#skip');
      await expect.poll(() => page.textContent('#item-pos')).toBe('Item 3 of 3');
      expect(await bodyText()).not.toMatch(/base|tuned/i);

      // Item 3; the summary waits for the study to close.
      for (const slot of ['A', 'B']) {
        for (const axis of ['consensus', 'harm_extent', 'harm_likelihood', 'incorrect', 'missing', 'bias']) {
          await page.click(`#fs-${slot}-${axis} label:nth-child(${slot === 'A' ? 2 : 5})`);
        }
      }
      await page.click('#fs-preference label:nth-child(2)');
      await page.keyboard.press('Enter'); // Enter on a focused option saves
      await page.waitForSelector('#done:not([hidden])');
      expect(await page.textContent('#done-title')).toBe('All 3 items rated. Thank you!');
      expect(await page.textContent('#progress-text')).toBe('3 / 3');
      expect(await page.textContent('#summary')).toBe(
        'The summary of all ratings opens here once the study coordinator closes the study.',
      );
      expect(await page.locator('table.summary').count()).toBe(0);
      expect(await bodyText()).not.toMatch(/base|tuned/i);

      // The coordinator closes the study (medllama review --close): the summary, with n and a plain warning.
      db.closeStudy();
      await page.reload();
      await page.waitForSelector('table.summary');
      expect(await page.locator('table.summary tbody tr, table.summary tr').count()).toBeGreaterThanOrEqual(7);
      const summaryText = await page.textContent('#summary');
      expect(summaryText).toContain('Agreement with scientific consensus');
      expect(summaryText).toContain('Based on 3 of 3 item(s) (n = 3), 3 judgement(s) by 1 reviewer(s).');
      expect(await page.textContent('.warn')).toMatch(/^Only 3 item\(s\) rated: too few for the 95% intervals/);
      expect(summaryText).toMatch(/Preference over 3 judgement\(s\): tuned wins \d, ties 1, base wins \d/);

      expect(db.judgements()).toHaveLength(3);
      expect(errors).toEqual([]);
      expect(external).toEqual([]);
    } finally {
      await browser.close();
      await server.close();
      db.close();
    }
  });
});
