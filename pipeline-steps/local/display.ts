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

/** Lines that look like progress (counts, rates, metrics) rather than noise. */
function isProgressLine(line: string): boolean {
  return /\d/.test(line) && !/^\s*(warnings?\.warn|File ")/i.test(line);
}

export class ConsoleReporter implements RunReporter {
  private timer: NodeJS.Timeout | undefined;
  private current: { name: string; started: number; last: string } | undefined;
  private runDir = '';

  constructor(
    private readonly write: (line: string) => void = (l) => console.log(l),
    private readonly intervalMs = 10_000,
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
    this.current = { name: record.name, started: Date.now(), last: '' };
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stepOutput(step: string, line: string): void {
    if (this.current?.name === step && line.trim() && isProgressLine(line)) this.current.last = line.trim();
  }

  private tick(): void {
    if (!this.current) return;
    const elapsed = formatSeconds((Date.now() - this.current.started) / 1000);
    const last = this.current.last.length > 100 ? `${this.current.last.slice(0, 97)}...` : this.current.last;
    this.write(`  … ${this.current.name} Executing ${elapsed}${last ? ` | ${last}` : ''}`);
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

export function tailLines(path: string, n: number): string[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.slice(-n);
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
