/**
 * The quality gate as a person reads it: evaluation.json's `gate.checks` (containers/medllama/evaluate/gate.py)
 * turned into named rows (measured value with its interval, the bound compared, the threshold, the verdict, or why
 * it was not computed), and the pipeline's ConditionStep trace labelled with the same names.
 */
import type { Json } from '../../pipeline-steps/local/types.ts';
import { type Cell, type Estimate, estimate, fmtEstimate, fmtNumber, isObj, num, type Table } from './section.ts';

/** Human names of the gate's checks, in the order of the QualityGate's conditions. */
export const CHECK_NAMES: Readonly<Record<string, string>> = {
  perplexity_improvement: 'Held-out PMC perplexity improvement (base − tuned) / base',
  pubmedqa_delta: 'PubMedQA accuracy change (tuned − base)',
  general_regression: 'General-text perplexity regression (tuned − base) / base',
};

export interface GateCheck {
  readonly key: string;
  readonly name: string;
  readonly measured?: Estimate;
  readonly side?: 'lower' | 'upper';
  readonly bound?: number;
  readonly comparison?: string;
  readonly threshold?: number;
  readonly parameter?: string;
  readonly computed: boolean;
  readonly passed: boolean;
  readonly reason?: string;
}

export interface Gate {
  readonly checks: GateCheck[];
  /** Evaluate's verdict with the thresholds it was given (the ConditionStep decides; they use the same values). */
  readonly passed?: boolean;
  /** The candidate these checks are of (`gate.chosen`), and every candidate gated, when merge-back candidates ran. */
  readonly chosen?: string;
  readonly candidates?: readonly string[];
}

const SYMBOL: Readonly<Record<string, string>> = {
  '>=': '≥',
  '<=': '≤',
  GreaterThanOrEqualTo: '≥',
  LessThanOrEqualTo: '≤',
  GreaterThan: '>',
  LessThan: '<',
  Equals: '=',
};

/** The gate of an evaluation.json (schema 2: `gate.checks`), or undefined for a file without one. */
export function readGate(evaluation: Json | undefined): Gate | undefined {
  const gate = isObj(evaluation) ? evaluation.gate : undefined;
  if (!isObj(gate) || !isObj(gate.checks)) return undefined;
  const checks = Object.entries(gate.checks)
    .filter((e): e is [string, Record<string, Json>] => isObj(e[1]))
    .map(([key, c]): GateCheck => {
      const measured = estimate({ value: c.value ?? null, ci95: c.ci95 ?? null });
      const side = c.bound_side === 'lower' || c.bound_side === 'upper' ? c.bound_side : undefined;
      const bound = num(c.bound);
      const threshold = num(c.threshold);
      return {
        key,
        name: CHECK_NAMES[key] ?? key.replace(/_/g, ' '),
        ...(measured ? { measured } : {}),
        ...(side ? { side } : {}),
        ...(bound !== undefined ? { bound } : {}),
        ...(typeof c.comparison === 'string' ? { comparison: c.comparison } : {}),
        ...(threshold !== undefined ? { threshold } : {}),
        ...(typeof c.parameter === 'string' ? { parameter: c.parameter } : {}),
        computed: c.computed === true && bound !== undefined,
        passed: c.passed === true,
        ...(typeof c.reason === 'string' ? { reason: c.reason } : {}),
      };
    })
    .sort((a, b) => order(a.key) - order(b.key) || a.key.localeCompare(b.key));
  const gated = Array.isArray(gate.candidate_order) ? gate.candidate_order.filter((n) => typeof n === 'string') : [];
  return {
    checks,
    ...(typeof gate.passed === 'boolean' ? { passed: gate.passed } : {}),
    ...(typeof gate.chosen === 'string' ? { chosen: gate.chosen } : {}),
    ...(gated.length ? { candidates: gated as string[] } : {}),
  };
}

const order = (key: string) => {
  const i = Object.keys(CHECK_NAMES).indexOf(key);
  return i < 0 ? Number.MAX_SAFE_INTEGER : i;
};

/** `≥ 0.05 (MinPerplexityImprovement)` */
export function requirement(c: GateCheck): string {
  if (c.threshold === undefined) return 'not recorded';
  const op = SYMBOL[c.comparison ?? ''] ?? c.comparison ?? '';
  return `${op} ${fmtNumber(c.threshold)}${c.parameter ? ` (${c.parameter})` : ''}`;
}

export function verdict(c: GateCheck): string {
  if (!c.computed) return `not computed: ${c.reason ?? 'no value'}`;
  return c.passed ? 'pass' : 'FAIL';
}

export function gateTable(gate: Gate): Table {
  return {
    head: ['check', 'measured [95% CI]', 'bound used', 'bound required', 'result'],
    rows: gate.checks.map((c): Cell[] => [
      c.name,
      c.measured ? fmtEstimate(c.measured) : 'not computed',
      c.bound === undefined ? '–' : `${c.side ?? ''} ${fmtNumber(c.bound)}`.trim(),
      requirement(c),
      verdict(c),
    ]),
  };
}

const passedWord = (gate: Gate) => (gate.passed ? 'chosen' : 'the closest to passing');

/**
 * One sentence for the summary and the slides: passed or failed, and which checks decided it; with merge-back
 * candidates, which candidate the checks are of (docs/evaluation.md "The gate").
 */
export function gateSentence(gate: Gate): string {
  const computed = gate.checks.filter((c) => c.computed).length;
  const failed = gate.checks.filter((c) => c.computed && !c.passed);
  const missing = gate.checks.filter((c) => !c.computed);
  const passed = gate.passed ?? (missing.length === 0 && failed.length === 0);
  const of =
    gate.chosen && (gate.candidates?.length ?? 0) > 1
      ? ` for candidate ${gate.chosen} (${passedWord(gate)} of ${gate.candidates!.join(', ')})`
      : '';
  const head = `${computed} of ${gate.checks.length} checks computed${of}`;
  if (passed) return `passed: ${head}, every conservative bound clears its threshold`;
  const why = [
    ...failed.map((c) => `${c.name}: ${c.side} bound ${fmtNumber(c.bound!)}, required ${requirement(c)}`),
    ...missing.map((c) => `${c.name}: not computed (${c.reason ?? 'no value'})`),
  ];
  return `failed: ${head}; ${why.join('; ')}`;
}

/** A ConditionStep trace entry `{type, left, right, result}` as the local runner records it. */
function conditionLabel(c: Record<string, Json>, gate: Gate | undefined): string {
  if (c.type === 'Equals' && c.right === 1) return 'All gated metrics computed (gate.checks_computed = 1)';
  const match = gate?.checks.find(
    (g) => g.bound !== undefined && g.bound === num(c.left) && g.threshold === num(c.right),
  );
  return match ? `${match.name}: ${match.side} bound` : 'condition';
}

const show = (v: Json | undefined) => (typeof v === 'number' ? fmtNumber(v) : v === null ? 'null' : String(v ?? '–'));

/** The QualityGate step's own comparisons (the decision), each named after the check it compared. */
export function conditionTable(conditions: Json | undefined, gate: Gate | undefined): Table | undefined {
  if (!Array.isArray(conditions)) return undefined;
  return {
    head: ['QualityGate condition', 'compared', 'holds'],
    rows: conditions
      .filter(isObj)
      .map((c) => [
        conditionLabel(c, gate),
        `${show(c.left)} ${SYMBOL[String(c.type)] ?? String(c.type)} ${show(c.right)}`,
        c.result === true ? 'yes' : typeof c.note === 'string' ? `no (${c.note})` : 'no',
      ]),
  };
}
