// A synthetic run folder shaped like one the local runner writes (hand-picked numbers), and a review of it, for the
// report tests.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AXIS_KEYS } from '../../lib/review/axes.ts';
import { ReviewDb, type Scores } from '../../lib/review/db.ts';
import { readQualitative, resolveReviewPaths } from '../../lib/review/import.ts';
import type { RunState } from '../../pipeline-steps/local/types.ts';

export function write(path: string, content: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
}

/** A run folder shaped like one the local runner writes, with hand-picked numbers. */
export function syntheticRun(opts: { evaluation?: boolean } = {}): string {
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
    outcome: false,
    properties: {
      Outcome: false,
      Conditions: [
        { type: 'Equals', left: 0, right: 1, result: false },
        { type: 'GreaterThanOrEqualTo', left: 0.15, right: 0.05, result: true },
      ],
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
      schema_version: '2.0.0',
      metrics: {
        test_perplexity: {
          documents: 2,
          base: { perplexity: { value: 12.5, ci95: [11.9, 13.1] } },
          tuned: { perplexity: { value: 9.9, ci95: [9.4, 10.4] } },
          improvement: { value: 0.21, ci95: [0.15, 0.27], p_value: 0.0002 },
          documents_improved: { count: 2, sign_test_p: 0.5 },
        },
        pubmedqa: {
          items: 500,
          base: { accuracy: { value: 0.55, ci95: [0.51, 0.59] } },
          tuned: { accuracy: { value: 0.57, ci95: [0.53, 0.61] } },
          accuracy_delta: { value: 0.02, ci95: [-0.1, 0.14], p_value: 0.62 },
        },
      },
      not_computed: { 'metrics.general_perplexity': 'no --general_dir given' },
      gate: {
        checks_computed: 0,
        perplexity_improvement_lower: 0.15,
        pubmedqa_delta_lower: -0.1,
        general_regression_upper: null,
        passed: false,
        checks: {
          perplexity_improvement: {
            value: 0.21,
            ci95: [0.15, 0.27],
            bound_side: 'lower',
            bound: 0.15,
            comparison: '>=',
            threshold: 0.05,
            parameter: 'MinPerplexityImprovement',
            computed: true,
            passed: true,
          },
          pubmedqa_delta: {
            value: 0.02,
            ci95: [-0.1, 0.14],
            bound_side: 'lower',
            bound: -0.1,
            comparison: '>=',
            threshold: -0.04,
            parameter: 'MinPubMedQADelta',
            computed: true,
            passed: false,
          },
          general_regression: {
            value: null,
            ci95: null,
            bound_side: 'upper',
            bound: null,
            comparison: '<=',
            threshold: 0.03,
            parameter: 'MaxGeneralRegression',
            computed: false,
            passed: false,
            reason: 'no --general_dir given',
          },
        },
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

/**
 * Rates the run's two qualitative items through lib/review's own API (import, reviewers, judgements).
 * Per item over reviewers: q1 base 2 / tuned 4 (diff 2), q2 base 3 / tuned 4 (diff 1) on every axis.
 */
export function addReview(dir: string): void {
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
