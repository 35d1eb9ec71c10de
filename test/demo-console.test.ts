// What `npm run demo` / `medllama local run` print: status lines that never repeat a stale line, no progress-bar
// frames anywhere, and closing lines with no second step table and a time bar only for a complete run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { demoCompleted, demoSummary } from '../lib/cli/demo-summary.ts';
import { ConsoleReporter, cleanLine, quietProgressEnv, tailLines } from '../pipeline-steps/local/display.ts';
import type { RunState, StepRecord } from '../pipeline-steps/local/types.ts';
import { venvPython } from './support/moto.ts';

const ESC = String.fromCharCode(27);
const BAR = 'Loading weights:  50%|█████     | 10/21 [00:00<00:00, 3434.87it/s]';

/** A reporter on a hand-driven clock; its timer never fires (the test calls tick). */
function reporter() {
  const lines: string[] = [];
  let now = 0;
  const r = new ConsoleReporter(
    (l) => lines.push(l),
    1e9,
    () => now,
  );
  return { r, lines, advance: (s: number) => (now += s * 1000) };
}

const record = (name: string, extra: Partial<StepRecord> = {}): StepRecord => ({
  name,
  type: 'Training',
  state: 'Executing',
  attempts: 1,
  log: `logs/${name}.log`,
  ...extra,
});

describe('the running step’s status line', () => {
  test('shows a progress line once; later ticks say how long the step has been quiet', () => {
    const { r, lines, advance } = reporter();
    r.runStarted({ runId: 'x', parameters: {} } as unknown as RunState, '/runs/x');
    r.stepStarted(record('Train'));
    r.stepOutput('Train', '2026-12-07 12:49:15,520 INFO medllama.train: model loaded, 21 tensors');
    advance(10);
    r.tick();
    advance(10);
    r.tick();
    advance(10);
    r.tick();
    r.stepOutput('Train', 'metric name=loss value=2.31 step=10');
    advance(10);
    r.tick();
    r.close();
    expect(lines.slice(-4)).toEqual([
      '  … Train Executing 10.0s | 2026-12-07 12:49:15,520 INFO medllama.train: model loaded, 21 tensors',
      '  … Train Executing 20.0s (no new output for 20.0s)',
      '  … Train Executing 30.0s (no new output for 30.0s)',
      '  … Train Executing 40.0s | metric name=loss value=2.31 step=10',
    ]);
  });

  test('progress-bar frames and colour codes never become the status line', () => {
    const { r, lines, advance } = reporter();
    r.stepStarted(record('Evaluate'));
    r.stepOutput('Evaluate', BAR);
    r.stepOutput('Evaluate', `\r${BAR}\r`);
    advance(10);
    r.tick();
    r.stepOutput('Evaluate', `${ESC}[32mbase test perplexity: 7076 tokens${ESC}[0m`);
    advance(10);
    r.tick();
    r.close();
    expect(lines.slice(-2)).toEqual([
      '  … Evaluate Executing 10.0s (no output yet)',
      '  … Evaluate Executing 20.0s | base test perplexity: 7076 tokens',
    ]);
  });
});

describe('progress bars out of what the display shows', () => {
  test('cleanLine: the last state of a redrawn line, no control sequences, nothing for a bar', () => {
    expect(cleanLine(BAR)).toBe('');
    expect(cleanLine(`step 1\rstep 2\r`)).toBe('step 2');
    expect(cleanLine(`${ESC}[1mbold${ESC}[0m 3`)).toBe('bold 3');
    expect(cleanLine('  File "train.py", line 3')).toBe('  File "train.py", line 3');
  });

  test('a failed step’s log tail leaves out bar frames', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medllama-display-'));
    writeFileSync(
      join(dir, 'Train.log'),
      [
        'starting',
        BAR,
        `\r${BAR}`,
        'Traceback (most recent call last):',
        '  File "x.py", line 1',
        'ValueError: bad',
        '',
      ].join('\n'),
    );
    expect(tailLines(join(dir, 'Train.log'), 15)).toEqual([
      'starting',
      'Traceback (most recent call last):',
      '  File "x.py", line 1',
      'ValueError: bad',
    ]);
    const lines: string[] = [];
    const r = new ConsoleReporter((l) => lines.push(l), 1e9);
    r.runStarted({ runId: 'x', parameters: {} } as unknown as RunState, dir);
    r.stepFinished(record('Train', { state: 'Failed', failureReason: 'AlgorithmError: exit 1', log: 'Train.log' }));
    expect(lines.join('\n')).not.toMatch(/%\||█/);
    expect(lines).toContain('  | ValueError: bad');
  });

  test('the jobs’ environment turns tqdm off (a value the user set wins)', () => {
    expect(quietProgressEnv({})).toEqual({
      TQDM_DISABLE: '1',
      HF_HUB_DISABLE_PROGRESS_BARS: '1',
      HF_DATASETS_DISABLE_PROGRESS_BARS: '1',
    });
    expect(quietProgressEnv({ TQDM_DISABLE: '0' }).TQDM_DISABLE).toBe('0');
    const script = 'from tqdm import tqdm\nfor _ in tqdm(range(3)): pass';
    const noisy = spawnSync(venvPython, ['-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    const quiet = spawnSync(venvPython, ['-c', script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', ...quietProgressEnv({}) },
    });
    expect(noisy.stderr).toMatch(/100%\|/);
    expect(quiet.stderr).toBe('');
  });
});

describe('the demo’s closing lines', () => {
  const step = (name: string, type: string, extra: Partial<StepRecord> = {}): StepRecord => ({
    name,
    type,
    state: 'Succeeded',
    attempts: 1,
    elapsedSeconds: 1,
    ...extra,
  });
  const gate = (passed: boolean) =>
    step('QualityGate', 'Condition', {
      outcome: passed,
      properties: { Conditions: [{ left: 0.1, type: 'GreaterThanOrEqualTo', right: 0.05, result: passed }] },
    });
  const run = (steps: StepRecord[], status: RunState['status'], failureReason?: string): RunState => ({
    schemaVersion: 1,
    runId: 'demo-1',
    pipelineName: 'MedLlama',
    status,
    startedAt: '2026-01-01T00:00:00Z',
    parameters: {},
    steps: Object.fromEntries(steps.map((s) => [s.name, s])),
    order: steps.map((s) => s.name),
    ...(failureReason ? { failureReason } : {}),
  });
  const common = [
    step('Ingest', 'Processing'),
    step('Train', 'Training', { outputs: { model: 's3/art/model' } }),
    step('Evaluate', 'Processing'),
  ];
  const base = { runDir: '/runs/demo-1', runSeconds: 200, reportCode: 0, cores: 2 };

  test('a complete run: the measured time against the bar, and no second step table', () => {
    const state = run(
      [
        ...common,
        gate(true),
        step('Register', 'RegisterModel', { properties: { RegistryEntry: 'registry/g/1.json' } }),
      ],
      'Succeeded',
    );
    const lines = demoSummary({ ...base, state, totalSeconds: 204.4 });
    expect(demoCompleted({ ...base, state, totalSeconds: 204.4 })).toBe(true);
    expect(lines).toContain('[demo] pipeline Succeeded; wall time after set-up 3 min 24 s');
    expect(lines).toContain(
      '[demo]   time bar (≤ 5 min after set-up on 2 cores): met, 3 min 24 s on this machine (2 cores)',
    );
    expect(lines.filter((l) => /^\[demo\]\s+(Ingest|Train|Evaluate|Register)\b/.test(l))).toEqual([]);
    expect(lines).toContain('[demo] registry:   /runs/demo-1/registry/g/1.json (quality gate passed)');
    expect(demoSummary({ ...base, state, totalSeconds: 412 })).toContain(
      '[demo]   time bar (≤ 5 min after set-up on 2 cores): NOT met, 6 min 52 s on this machine (2 cores)',
    );
  });

  test("the bar is the model's: SmolLM2's 10 minutes, named with the base model", () => {
    const state = run([...common, gate(true)], 'Succeeded');
    const model = { id: 'smollm2', label: 'SmolLM2-135M-Instruct (pretrained, Apache-2.0)', timeBarSeconds: 600 };
    const lines = demoSummary({ ...base, state, totalSeconds: 540, model });
    expect(lines[0]).toBe('[demo] base model: SmolLM2-135M-Instruct (pretrained, Apache-2.0)');
    expect(lines).toContain(
      '[demo]   time bar (smollm2 demo, ≤ 10 min after set-up on 2 cores): met, 9 min 0 s on this machine (2 cores)',
    );
    expect(demoSummary({ ...base, state, totalSeconds: 601, model })).toContain(
      '[demo]   time bar (smollm2 demo, ≤ 10 min after set-up on 2 cores): NOT met, 10 min 1 s on this machine (2 cores)',
    );
  });

  test("the gate's comparisons are named after evaluation.json's checks, with symbols, not operator names", () => {
    const state = run([...common, gate(true)], 'Succeeded');
    const evaluation = {
      gate: {
        checks: {
          perplexity_improvement: { value: 0.12, ci95: [0.1, 0.14], bound_side: 'lower', bound: 0.1, threshold: 0.05 },
        },
      },
    };
    const lines = demoSummary({ ...base, state, totalSeconds: 100, evaluation });
    expect(lines).toContain(
      '[demo]   gate: Held-out PMC perplexity improvement (base − tuned) / base: lower bound: 0.1 ≥ 0.05 (holds)',
    );
    expect(lines.join('\n')).not.toMatch(/GreaterThanOrEqualTo|→ true/);
    // without evaluation.json the comparison is still printed, unnamed
    expect(demoSummary({ ...base, state, totalSeconds: 100 })).toContain(
      '[demo]   gate: condition: 0.1 ≥ 0.05 (holds)',
    );
  });

  test('a failed gate is still a complete demo: the bar, and why nothing was registered', () => {
    const failedGate = step('QualityGateFailed', 'Fail', { state: 'Failed', failureReason: 'Quality gate failed: x' });
    const state = run([...common, gate(false), failedGate], 'Failed', 'QualityGateFailed: Quality gate failed: x');
    const lines = demoSummary({ ...base, state, totalSeconds: 210 });
    expect(lines.some((l) => l.includes('time bar'))).toBe(true);
    expect(lines).toContain('[demo] registry:   none: Quality gate failed: x');
  });

  test('a run that failed prints no time bar at all', () => {
    const state = run(
      [step('Ingest', 'Processing'), step('Train', 'Training', { state: 'Failed' })],
      'Failed',
      'Train: AlgorithmError: exit 1',
    );
    const lines = demoSummary({ ...base, state, totalSeconds: 30 });
    expect(demoCompleted({ ...base, state, totalSeconds: 30 })).toBe(false);
    expect(lines.join('\n')).not.toMatch(/time bar|met/);
    expect(lines).toContain('[demo] model:      none (Train did not succeed)');
    expect(lines).toContain('[demo] stopped at: Train: AlgorithmError: exit 1');
  });
});
