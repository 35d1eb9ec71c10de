// Pure render functions of the report: axes, the gate as a person reads it, the funnel's verdicts, the training
// curves, the slides' examples, determinism. Each case failed on the report before #20 / #17 item 8 / #16 item 8.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { candidatePanels, candidatesTable, choiceSentence, readCandidates } from '../lib/report/candidates.ts';
import { collectRun, lastLoggedError } from '../lib/report/collect.ts';
import { comparisonChart } from '../lib/report/compare-chart.ts';
import { comparisons, metricRows } from '../lib/report/evaluation.ts';
import { articleLimit, inputVerdicts } from '../lib/report/funnel.ts';
import { gateSentence, gateTable, readGate } from '../lib/report/gate.ts';
import { renderHtml, renderMarkdown } from '../lib/report/render.ts';
import { examplesSlide, renderSlides } from '../lib/report/slides.ts';
import { lineChart } from '../lib/report/svg.ts';
import { niceAxis, tickLabel } from '../lib/report/ticks.ts';
import { replayMix, trainingCurves } from '../lib/report/training.ts';
import { syntheticRun, write } from './support/report-run.ts';

const labels = (lo: number, hi: number) => {
  const a = niceAxis(lo, hi);
  return a.ticks.map((t) => tickLabel(t, a.step, Math.max(...a.ticks.map(Math.abs))));
};

describe('axes', () => {
  it('tick labels on a narrow loss range read apart, and the scale starts and ends on a tick', () => {
    const a = niceAxis(10.2716, 10.3698);
    expect(a.ticks[0]).toBe(a.lo);
    expect(a.ticks.at(-1)).toBe(a.hi);
    expect(a.lo).toBeLessThanOrEqual(10.2716);
    expect(a.hi).toBeGreaterThanOrEqual(10.3698);
    const l = labels(10.2716, 10.3698);
    expect(new Set(l).size).toBe(l.length); // the old axis printed "10.3" five times
    expect(l).toEqual(['10.26', '10.28', '10.30', '10.32', '10.34', '10.36', '10.38']);
  });

  it('labels thousands, millions and small steps by magnitude', () => {
    expect(labels(1040, 1245)).toEqual(['1,000', '1,050', '1,100', '1,150', '1,200', '1,250']);
    expect(labels(28_790, 32_720)).toEqual(['28k', '29k', '30k', '31k', '32k', '33k']);
    expect(labels(0, 2.5e6)).toEqual(['0', '0.5M', '1.0M', '1.5M', '2.0M', '2.5M']);
    expect(labels(0.1219, 0.7531)).toEqual(['0', '0.2', '0.4', '0.6', '0.8']);
    expect(niceAxis(5, 5).ticks.length).toBeGreaterThan(1);
  });

  it('a line chart names both axes and lays its legend out above the plot, inside the figure', () => {
    const svg = lineChart(
      [
        {
          name: 'a very long series name that would have been clipped',
          points: [
            [1, 1],
            [2, 2],
          ],
        },
        {
          name: 'second',
          points: [
            [1, 2],
            [2, 1],
          ],
        },
      ],
      { title: 'T', xLabel: 'optimizer step', yLabel: 'tokens per second' },
    );
    expect(svg).toContain('>optimizer step</text>');
    expect(svg).toContain('>tokens per second</text>');
    expect(svg).toContain('stroke-dasharray'); // the second series is dashed: never hidden under the first
    const xs = [...svg.matchAll(/<text x="([\d.]+)" y="\d+" font-size="11">/g)].map((m) => Number(m[1]));
    for (const x of xs) expect(x).toBeLessThan(640 - 100);
  });
});

describe('training curves', () => {
  const pts = (v: number) => [1, 2, 3].map((step) => ({ step, value: v + step }));
  it('a per-GPU curve equal to the total is drawn once and said so; loss and throughput get their own charts', () => {
    const curves = trainingCurves({
      metrics: {
        train_loss: pts(1),
        eval_loss: pts(2),
        tokens_per_second: pts(10),
        tokens_per_second_per_gpu: pts(10),
      },
    });
    expect(curves.map((c) => c.chart)).toEqual(['loss', 'throughput']);
    expect(curves[0]!.series.map((s) => s.name)).toEqual(['training loss', 'validation loss']);
    expect(curves[1]!.series).toHaveLength(1);
    expect(curves[1]!.note).toMatch(/equals the total/);
    const two = trainingCurves({ metrics: { tokens_per_second: pts(20), tokens_per_second_per_gpu: pts(10) } });
    expect(two[0]!.series.map((s) => s.name)).toEqual(['all GPUs', 'per GPU']);
  });
});

describe('general replay in the training section (#24)', () => {
  it('states the requested share, the source and the share the steps really read', () => {
    const replay = { source: 's3://b/replay/general/', fraction: 0.01, blocks_read: 160, replay_blocks_read: 2 };
    expect(replayMix(replay)).toBe(
      'General replay: 1 % requested from s3://b/replay/general/; realized 1.25 % (2 of the 160 blocks the steps read)',
    );
    expect(replayMix({ ...replay, blocks_read: 20, replay_blocks_read: 0 })).toContain('realized 0 % (0 of the 20');
  });

  it('is stated in the report’s training section', () => {
    const md = renderMarkdown(collectRun(syntheticRun()));
    const trainingSection = md.slice(md.indexOf('## Training'), md.indexOf('## Evaluation'));
    expect(trainingSection).toMatch(/General replay: (none|[\d.]+ % requested)/);
  });

  it('says plainly when there was none', () => {
    for (const none of [undefined, { source: '', fraction: 0.01, blocks_read: 20, replay_blocks_read: 0 }]) {
      expect(replayMix(none)).toMatch(/^General replay: none \(trained on PMC text only/);
    }
  });
});

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('quality gate in the report', () => {
  it('names the candidate the checks are of when merge-back candidates were gated', () => {
    const evaluation = clone(collectRun(syntheticRun()).evaluation) as { gate: Record<string, unknown> };
    evaluation.gate.chosen = 'slerp-t0.5';
    evaluation.gate.candidate_order = ['tuned', 'slerp-t0.5'];
    const gate = readGate(evaluation as never)!;
    expect(gate.chosen).toBe('slerp-t0.5');
    expect(gateSentence(gate)).toMatch(
      /^failed: 2 of 3 checks computed for candidate slerp-t0\.5 \(the closest to passing of tuned, slerp-t0\.5\); /,
    );
    evaluation.gate.candidate_order = ['tuned'];
    expect(gateSentence(readGate(evaluation as never)!)).toMatch(/^failed: 2 of 3 checks computed; /);
  });

  it('names each check, its value with interval, the bound used, the bound required and pass / FAIL / not computed', () => {
    const data = collectRun(syntheticRun());
    const gate = readGate(data.evaluation)!;
    expect(gateTable(gate).rows).toEqual([
      [
        'Held-out PMC perplexity improvement (base − tuned) / base',
        '0.21 [0.15, 0.27]',
        'lower 0.15',
        '≥ 0.05 (MinPerplexityImprovement)',
        'pass',
      ],
      [
        'PubMedQA accuracy change (tuned − base)',
        '0.02 [-0.1, 0.14]',
        'lower -0.1',
        '≥ -0.04 (MinPubMedQADelta)',
        'FAIL',
      ],
      [
        'General-text perplexity regression (tuned − base) / base',
        'not computed',
        '–',
        '≤ 0.03 (MaxGeneralRegression)',
        'not computed: no --general_dir given',
      ],
    ]);
    const md = renderMarkdown(data);
    expect(md).not.toMatch(/GreaterThanOrEqualTo/);
    expect(md).toContain('| All gated metrics computed (gate.checks_computed = 1) | 0 = 1 | no |');
    expect(md).toContain(
      '| Held-out PMC perplexity improvement (base − tuned) / base: lower bound | 0.15 ≥ 0.05 | yes |',
    );
    expect(md).toContain('Not computed: general_perplexity (no --general_dir given).');
    expect(comparisons(data.evaluation!.metrics as never).map((c) => c.title)).toEqual(['Held-out PMC', 'PubMedQA']);
    expect(renderHtml(data)).toContain('aria-label="Base vs tuned (95% intervals)"');
  });

  it('the benchmark suite averages get a row each, counted in tasks', () => {
    const est = (value: number) => ({ value, ci95: [value - 0.1, value + 0.1] });
    const suite = {
      tasks: ['pubmedqa', 'medqa', 'medmcqa'],
      base: { accuracy: est(0.4) },
      tuned: { accuracy: est(0.45) },
      accuracy_delta: { ...est(0.05), p_value: 0.2 },
    };
    const rows = metricRows({ suites: { medical: suite } } as never);
    expect(rows).toHaveLength(1);
    expect(rows[0]![0]).toBe('Medical benchmark suite, mean accuracy (tasks weighted equally)');
    expect(rows[0]![5]).toBe('3 tasks');
  });

  it('the summary says what was trained on what and the result with its interval before the run status', () => {
    const md = renderMarkdown(collectRun(syntheticRun()));
    const summary = md.slice(md.indexOf('## Summary'), md.indexOf('## Data funnel'));
    expect(summary).toContain('**Quality gate failed**: 2 of 3 checks computed');
    expect(summary.indexOf('Base model')).toBeLessThan(summary.indexOf('**Result**'));
    expect(summary.indexOf('**Result**')).toBeLessThan(summary.indexOf('Run `synthetic-1`'));
    expect(summary).toContain(
      'PubMedQA accuracy change (tuned − base): 0.02 [-0.1, 0.14], lower bound required ≥ -0.04',
    );
    expect(md.indexOf('## Summary')).toBeLessThan(md.indexOf('## Data funnel'));
  });
});

describe('data funnel verdicts (#16 item 8)', () => {
  it('MaxArticles=0 reads as no limit; a limit names what it cut', () => {
    const data = collectRun(syntheticRun());
    expect(articleLimit({ ...data, state: { ...data.state, parameters: { MaxArticles: 0 } } })).toBe(
      'Article limit: MaxArticles = 0, which means no limit: every article of the input was read.',
    );
    const limited = { ...data, ingest: { ...data.ingest, groups_cut_by_max_articles: 7 } };
    expect(articleLimit({ ...limited, state: { ...data.state, parameters: { MaxArticles: 30 } } })).toBe(
      'Article limit: MaxArticles = 30: only the first 30 articles (by sorted key) were read; 7 more were left out.',
    );
  });

  it("shows Ingest's verdict from its report, and the error a failed Ingest or Dedup logged", () => {
    const dir = syntheticRun();
    try {
      write(join(dir, 's3/data/ingest/ingest-report-00001-of-00002.json'), {
        inputs: 0,
        documents: 0,
        verdict: 'no articles found in /in: looked for .xml/.nxml files (at any depth)',
      });
      const state = JSON.parse(JSON.stringify(collectRun(dir).state));
      state.steps.Dedup.state = 'Failed';
      state.steps.Dedup.failureReason = 'Dedup exited with code 1';
      write(join(dir, 'state.json'), state);
      write(
        join(dir, 'logs/Dedup.log'),
        '2026-01-01 00:00:00,000 INFO medllama.dedup: start\n' +
          '2026-01-01 00:00:01,000 ERROR medllama.dedup: --input_dir /x: Ingest kept none of the 3 articles (notice 3): nothing to train on\n',
      );
      const data = collectRun(dir);
      expect(inputVerdicts(data)).toEqual([
        '**Ingest stopped the run:** no articles found in /in: looked for .xml/.nxml files (at any depth).',
        '**Dedup stopped the run:** --input_dir /x: Ingest kept none of the 3 articles (notice 3): nothing to train on.',
      ]);
      const md = renderMarkdown(data);
      expect(md.indexOf('Dedup stopped the run')).toBeLessThan(md.indexOf('| stage | documents |'));
      expect(lastLoggedError('x\ny ERROR a.b: first\nz ERROR a: second\n')).toBe('second');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('slides and determinism', () => {
  it('the examples slide shows real prompts with both answers; a click advances the deck', () => {
    const data = collectRun(syntheticRun());
    const slide = examplesSlide(data.qualitative);
    expect(slide).toContain('What is &lt;HFpEF&gt;?');
    expect(slide).toContain('Heart failure with preserved EF.');
    expect(slide).toContain('the the the');
    expect(slide.match(/class="example"/g)).toHaveLength(2);
    const deck = renderSlides(data);
    expect(deck).toContain("addEventListener('click'");
    expect(deck).toContain(slide);
  });

  it('the same run folder gives the same bytes', () => {
    const dir = syntheticRun();
    expect(renderHtml(collectRun(dir))).toBe(renderHtml(collectRun(dir)));
    expect(renderSlides(collectRun(dir))).toBe(renderSlides(collectRun(dir)));
    expect(renderMarkdown(collectRun(dir))).toBe(renderMarkdown(collectRun(dir)));
  });
});

describe('merge-back candidates side by side (#24 item 6)', () => {
  const est = (value: number, lo: number, hi: number) => ({ value, ci95: [lo, hi] });
  const task = (suite: string, base: number, other: number, norm = false) => ({
    suite,
    items: 40,
    base: { accuracy: est(base, base - 0.1, base + 0.1) },
    tuned: { accuracy: est(other, other - 0.1, other + 0.1) },
    accuracy_delta: est(
      Math.round((other - base) * 100) / 100,
      Math.round((other - base) * 100 - 5) / 100,
      Math.round((other - base) * 100 + 5) / 100,
    ),
    ...(norm
      ? {
          acc_norm: {
            base: { accuracy: est(base + 0.01, 0, 1) },
            tuned: { accuracy: est(other + 0.02, 0, 1) },
            accuracy_delta: est(0.01, -0.1, 0.12),
          },
        }
      : {}),
  });
  const metrics = (ppl: number, medqa: number) => ({
    test_perplexity: {
      base: { perplexity: est(20, 19, 21) },
      tuned: { perplexity: est(ppl, ppl - 1, ppl + 1) },
      improvement: est((20 - ppl) / 20, 0.01, 0.2),
    },
    hellaswag: task('general', 0.4, 0.38, true),
    medqa: task('medical', 0.3, medqa),
    mmlu_anatomy: task('medical', 0.5, 0.5),
    pubmedqa: { ...task('medical', 0.5, 0.5), suite: undefined, macro_f1_delta: est(0, 0, 0) },
    suites: {
      medical: {
        tasks: ['medqa'],
        base: { accuracy: est(0.3, 0.2, 0.4) },
        tuned: { accuracy: est(medqa, 0.2, 0.5) },
        accuracy_delta: est(medqa - 0.3, -0.1, 0.2),
      },
    },
  });
  const evaluation = {
    metrics: metrics(18, 0.35),
    candidates: {
      tuned: { metrics: metrics(18, 0.35) },
      'slerp-t0.5': { metrics: metrics(18.5, 0.4) },
    },
    gate: {
      checks: {},
      passed: true,
      chosen: 'slerp-t0.5',
      rule: 'the largest lower bound among those that pass',
      candidate_order: ['tuned', 'slerp-t0.5'],
      candidates: { tuned: { passed: false }, 'slerp-t0.5': { passed: true } },
    },
  };

  it('one row per metric and task (medical before general, acc_norm beside acc), each model with its change', () => {
    const c = readCandidates(evaluation as never)!;
    expect(c.order).toEqual(['tuned', 'slerp-t0.5']);
    const table = candidatesTable(c);
    expect(table.head).toEqual(['metric', 'base', 'tuned', 'slerp-t0.5 (chosen)']);
    expect(table.rows.map((r) => r[0])).toEqual([
      'Held-out PMC perplexity ↓',
      'PubMedQA, accuracy',
      'MedQA-USMLE (4 options), accuracy',
      'MMLU anatomy, accuracy',
      'HellaSwag, accuracy',
      'HellaSwag, acc_norm',
      'Medical suite, mean accuracy',
      'Quality gate',
    ]);
    expect(table.rows[2]).toEqual([
      'MedQA-USMLE (4 options), accuracy',
      '0.3',
      '0.35; Δ +0.05 [0, 0.1]',
      '0.4; Δ +0.1 [0.05, 0.15]',
    ]);
    expect(table.rows.at(-1)).toEqual(['Quality gate', '–', 'FAIL', 'pass']);
  });

  it('the chart has base and every candidate per panel, and the section names the choice and its rule', () => {
    const panels = candidatePanels(readCandidates(evaluation as never)!);
    expect(panels.map((p) => p.title)).toEqual(['Held-out PMC', 'Medical suite']);
    expect(panels[0]!.models.map((m) => m.name)).toEqual(['base', 'tuned', 'slerp-t0.5']);
    const svg = comparisonChart(panels, 'x');
    for (const name of ['base', 'tuned', 'slerp-t0.5']) expect(svg).toContain(`>${name}</text>`);
    expect(choiceSentence(readCandidates(evaluation as never)!)).toBe(
      'Registered: **slerp-t0.5**, chosen among tuned, slerp-t0.5. The rule: the largest lower bound among those that pass.',
    );
    const none = { ...evaluation, gate: { ...evaluation.gate, passed: false } };
    expect(choiceSentence(readCandidates(none as never)!)).toMatch(
      /^No candidate passed the quality gate \(tuned, slerp-t0.5\); nothing is registered/,
    );
  });

  it('a file from before candidates has none; a tuned-only file gives a one-model table and no choice sentence', () => {
    expect(readCandidates({ metrics: {} } as never)).toBeUndefined();
    const only = {
      ...evaluation,
      candidates: { tuned: evaluation.candidates.tuned },
      gate: { ...evaluation.gate, candidate_order: ['tuned'] },
    };
    const c = readCandidates(only as never)!;
    expect(candidatesTable(c).head).toEqual(['metric', 'base', 'tuned']);
  });
});
