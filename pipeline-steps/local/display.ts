/**
 * Progress display for `medllama local run`: one line when a step starts and ends, a status line for the
 * running step every few seconds (state, elapsed, the step's last output line), and a summary table.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunReporter } from './runner.ts';
import type { RunState, StepRecord } from './types.ts';

export function formatSeconds(s: number | undefined): string {
  if (s === undefined) return '-';
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  return m < 60
    ? `${m}m${String(rest).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/**
 * Environment for every job of a local run (and the tiny-model build): progress bars off. tqdm (used by
 * transformers, datasets and huggingface_hub) redraws its bar with carriage returns, and the runner splits job
 * output on them, so each redraw became a log line, a status line and, in a failure's log tail, summary text.
 * TQDM_DISABLE is tqdm's own switch; the HF libraries also read their variables. A value the user set wins.
 */
export function quietProgressEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const quiet: Record<string, string> = {};
  for (const name of ['TQDM_DISABLE', 'HF_HUB_DISABLE_PROGRESS_BARS', 'HF_DATASETS_DISABLE_PROGRESS_BARS']) {
    quiet[name] = env[name] ?? '1';
  }
  return quiet;
}

/** Terminal control sequences (colours, cursor moves) that tqdm and loggers may write: ESC [ … final byte. */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-?]*[ -/]*[@-~]`, 'g');

/**
 * A job's output line as the display shows it: control sequences removed, of a line redrawn with carriage returns
 * only its last state, and nothing at all for a progress-bar frame (tqdm's `NN%|███   | n/N [...]`).
 */
export function cleanLine(line: string): string {
  const states = line.split('\r').filter((part) => part.trim());
  const text = (states[states.length - 1] ?? '').replace(ANSI, '').trimEnd();
  return /\d+%\|/.test(text) || /[█▏▎▍▌▋▊▉]{3,}/.test(text) ? '' : text;
}

/** Lines that look like progress (counts, rates, metrics) rather than noise. */
function isProgressLine(line: string): boolean {
  return /\d/.test(line) && !/^\s*(warnings?\.warn|File ")/i.test(line);
}

export class ConsoleReporter implements RunReporter {
  private timer: NodeJS.Timeout | undefined;
  /** The running step, its latest progress line, when that came, and the line the last status showed. */
  private current: { name: string; started: number; last: string; lastAt: number; shown: string } | undefined;
  private runDir = '';

  constructor(
    private readonly write: (line: string) => void = (l) => console.log(l),
    private readonly intervalMs = 10_000,
    /** The clock (tests drive it). */
    private readonly now: () => number = Date.now,
  ) {}

  runStarted(state: RunState, runDir: string): void {
    this.runDir = runDir;
    this.write(`local run ${state.runId} → ${runDir}`);
    const params = Object.entries(state.parameters)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    if (params) this.write(`parameters: ${params}`);
  }

  stepStarted(record: StepRecord): void {
    this.write(`▶ ${record.name} (${record.type}) started — log: ${join(this.runDir, record.log ?? '')}`);
    const now = this.now();
    this.current = { name: record.name, started: now, last: '', lastAt: now, shown: '' };
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stepOutput(step: string, line: string): void {
    const text = cleanLine(line).trim();
    if (this.current?.name === step && text && isProgressLine(text)) {
      this.current.last = text;
      this.current.lastAt = this.now();
    }
  }

  /**
   * The status line of the running step: its latest progress line when there is a new one since the previous
   * status line; otherwise how long the step has been quiet (repeating an old line would read as fresh progress).
   */
  tick(): void {
    const cur = this.current;
    if (!cur) return;
    const now = this.now();
    const elapsed = formatSeconds((now - cur.started) / 1000);
    if (cur.last && cur.last !== cur.shown) {
      const last = cur.last.length > 100 ? `${cur.last.slice(0, 97)}...` : cur.last;
      cur.shown = cur.last;
      this.write(`  … ${cur.name} Executing ${elapsed} | ${last}`);
    } else {
      const quiet = cur.last ? `no new output for ${formatSeconds((now - cur.lastAt) / 1000)}` : 'no output yet';
      this.write(`  … ${cur.name} Executing ${elapsed} (${quiet})`);
    }
  }

  stepFinished(record: StepRecord): void {
    if (this.current?.name === record.name) {
      clearInterval(this.timer);
      this.current = undefined;
    }
    const mark = record.state === 'Succeeded' ? '✓' : record.state === 'Failed' ? '✗' : '■';
    const extra =
      record.reused === 'cache'
        ? ' (cache hit)'
        : record.reused === 'previous-run'
          ? ' (reused from the previous run)'
          : record.attempts > 1
            ? ` (${record.attempts} attempts)`
            : '';
    const outcome = record.outcome === undefined ? '' : ` → ${record.outcome ? 'IfSteps' : 'ElseSteps'}`;
    this.write(`${mark} ${record.name} ${record.state} in ${formatSeconds(record.elapsedSeconds)}${extra}${outcome}`);
    if (record.state !== 'Succeeded' && !record.reused) {
      this.write(`  reason: ${record.failureReason ?? 'unknown'}`);
      if (record.log) {
        const path = join(this.runDir, record.log);
        this.write(`  log: ${path}`);
        for (const line of tailLines(path, 15)) this.write(`  | ${line}`);
      }
    }
  }

  message(text: string): void {
    this.write(`  ${text}`);
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** The last `n` lines of a log worth showing: progress-bar frames and control sequences left out. */
export function tailLines(path: string, n: number): string[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n').map(cleanLine);
  return lines.filter((line) => line.trim() !== '').slice(-n);
}

/** The final summary: one row per step (state, time, cache/reuse, attempts, log). */
export function summaryTable(state: RunState, runDir: string): string {
  const rows = state.order.map((name) => {
    const r = state.steps[name]!;
    const note = r.reused === 'cache' ? 'cache hit' : r.reused === 'previous-run' ? 'reused' : '';
    return [r.name, r.type, r.state, formatSeconds(r.elapsedSeconds), note, String(r.attempts), r.log ?? ''];
  });
  const header = ['step', 'type', 'state', 'time', 'cache', 'tries', 'log'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const total = state.order.reduce((s, n) => s + (state.steps[n]!.elapsedSeconds ?? 0), 0);
  return [
    fmt(header),
    fmt(widths.map((w) => '-'.repeat(w))),
    ...rows.map(fmt),
    '',
    `run ${state.runId}: ${state.status} (${formatSeconds(total)} in steps) — ${runDir}`,
    ...(state.failureReason && state.status !== 'Succeeded' ? [`reason: ${state.failureReason}`] : []),
  ].join('\n');
}
