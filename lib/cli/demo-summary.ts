/**
 * The closing lines of `npm run demo` (scripts/demo.mjs): the outcome, the wall time and the time bar, the gate's
 * comparisons, and where the model, registry entry, report and slides are. The per-step table is not repeated:
 * `medllama local run` has just printed it (display.ts `summaryTable`).
 */
import { join } from 'node:path';
import type { Json, RunState } from '../../pipeline-steps/local/types.ts';
import { conditionTable, readGate } from '../report/gate.ts';

/** The tiny model's promise: the whole pipeline plus the report within 5 minutes after set-up on 2 cores. */
export const DEMO_TIME_BAR_SECONDS = 300;

/** Which base model the demo trained, and the time bar stated for it (SmolLM2's is 10 minutes). */
export interface DemoModelInfo {
  readonly id: string;
  readonly label: string;
  readonly timeBarSeconds: number;
}

export interface DemoOutcome {
  readonly state: RunState;
  readonly runDir: string;
  /** Wall time of `medllama local run`. */
  readonly runSeconds: number;
  /** Wall time of everything after set-up (the local run and the report). */
  readonly totalSeconds: number;
  /** Exit code of `medllama report`. */
  readonly reportCode: number;
  /** CPU cores of this machine (the bar is stated for 2). */
  readonly cores: number;
  /** The base model; without it, the tiny model's 5-minute bar. */
  readonly model?: DemoModelInfo;
  /** Evaluate's evaluation.json, when it wrote one: names the gate's comparisons. */
  readonly evaluation?: Json;
}

export function minutes(s: number): string {
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

/**
 * Whether the demo did what it promises: every step ran (the Fail step of a failed gate aside), the quality gate
 * gave a verdict either way, and the report was written. Its exit code is 0 exactly then.
 */
export function demoCompleted(outcome: DemoOutcome): boolean {
  const steps = Object.values(outcome.state.steps);
  const gate = outcome.state.steps.QualityGate;
  const gateRan = gate?.state === 'Succeeded' && typeof gate.outcome === 'boolean';
  return gateRan && steps.every((s) => s.state === 'Succeeded' || s.type === 'Fail') && outcome.reportCode === 0;
}

export function demoSummary(outcome: DemoOutcome): string[] {
  const { state, runDir, runSeconds, totalSeconds, reportCode, cores } = outcome;
  const bar = outcome.model?.timeBarSeconds ?? DEMO_TIME_BAR_SECONDS;
  const steps = state.steps;
  const gate = steps.QualityGate;
  const gateRan = gate?.state === 'Succeeded' && typeof gate.outcome === 'boolean';
  const failed = Object.values(steps).filter((s) => s.state !== 'Succeeded' && s.type !== 'Fail');
  const lines = [
    ...(outcome.model ? [`[demo] base model: ${outcome.model.label}`] : []),
    `[demo] pipeline ${state.status}; wall time after set-up ${minutes(totalSeconds)}`,
    `[demo]   local run ${runSeconds.toFixed(1)} s + report ${(totalSeconds - runSeconds).toFixed(1)} s`,
  ];
  // The bar is about a complete demo; a run that stopped early says nothing about it.
  if (demoCompleted(outcome)) {
    const met = totalSeconds <= bar;
    const whose = outcome.model ? `${outcome.model.id} demo, ` : '';
    lines.push(
      `[demo]   time bar (${whose}≤ ${bar / 60} min after set-up on 2 cores): ${met ? 'met' : 'NOT met'}, ` +
        `${minutes(totalSeconds)} on this machine (${cores} core${cores === 1 ? '' : 's'})`,
    );
  }
  // The QualityGate's own comparisons, named after the checks of evaluation.json (as the report's gate table).
  const conditions = gateRan
    ? conditionTable(gate.properties?.Conditions as Json, readGate(outcome.evaluation))
    : undefined;
  for (const [label, compared, holds] of conditions?.rows ?? []) {
    const verdict = holds === 'yes' ? 'holds' : String(holds).replace(/^no/, 'does not hold');
    lines.push(`[demo]   gate: ${label}: ${compared} (${verdict})`);
  }
  lines.push(`[demo] run folder: ${runDir}`);
  const model = steps.Train?.outputs?.model;
  lines.push(
    model && steps.Train?.state === 'Succeeded'
      ? `[demo] model:      ${join(runDir, model)}`
      : '[demo] model:      none (Train did not succeed)',
  );
  const registry = steps.Register?.properties?.RegistryEntry;
  if (typeof registry === 'string') lines.push(`[demo] registry:   ${join(runDir, registry)} (quality gate passed)`);
  else if (gateRan && gate.outcome === false) {
    lines.push(`[demo] registry:   none: ${steps.QualityGateFailed?.failureReason ?? state.failureReason}`);
  }
  if (reportCode === 0) {
    lines.push(`[demo] report:     ${join(runDir, 'report.html')} (and report.md)`);
    lines.push(`[demo] slides:     ${join(runDir, 'slides.html')}`);
  } else lines.push(`[demo] report:     not written (medllama report exited ${reportCode})`);
  if (failed.length) lines.push(`[demo] stopped at: ${state.failureReason ?? failed[0]!.name}`);
  return lines;
}
