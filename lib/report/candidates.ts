/**
 * Base and every model compared with it, side by side (evaluation.json `candidates`, docs/evaluation.md "The gate"):
 * the tuned model and each merge-back candidate, per task and per suite average, each with its change from the base
 * and that change's 95% paired interval; the gate's verdict per candidate and which one was chosen, and why.
 */
import type { Json, JsonObject } from '../../pipeline-steps/local/types.ts';
import type { Comparison } from './compare-chart.ts';
import { type Cell, type Estimate, estimate, fmtEstimate, fmtNumber, isObj, sectionOf, type Table } from './section.ts';

/** One metric of the side-by-side table: where it is under `metrics`, what each model's value is, its change. */
interface Row {
  /** A key under `metrics`, or a dotted path (`suites.medical`). */
  readonly path: string;
  readonly label: string;
  readonly per: string;
  readonly change: string;
  /** Panel title and axis when the metric is charted. */
  readonly chart?: { readonly title: string; readonly axis: string };
}

const PERPLEXITY_ROWS: readonly Row[] = [
  {
    path: 'test_perplexity',
    label: 'Held-out PMC perplexity ↓',
    per: 'perplexity',
    change: 'improvement',
    chart: { title: 'Held-out PMC', axis: 'perplexity (lower is better)' },
  },
  {
    path: 'general_perplexity',
    label: 'General-text perplexity ↓',
    per: 'perplexity',
    change: 'regression',
    chart: { title: 'General text', axis: 'perplexity (lower is better)' },
  },
];

const SUITE_ROWS: readonly Row[] = [
  {
    path: 'suites.medical',
    label: 'Medical suite, mean accuracy',
    per: 'accuracy',
    change: 'accuracy_delta',
    chart: { title: 'Medical suite', axis: 'mean accuracy (tasks equal)' },
  },
  {
    path: 'suites.general',
    label: 'General suite (forgetting), mean accuracy',
    per: 'accuracy',
    change: 'accuracy_delta',
    chart: { title: 'General suite', axis: 'mean accuracy (tasks equal)' },
  },
];

/** Names people know the tasks by (evaluation.json keys: medllama/evaluate/suite.py). */
const TASK_LABELS: Readonly<Record<string, string>> = {
  pubmedqa: 'PubMedQA',
  medqa: 'MedQA-USMLE (4 options)',
  medmcqa: 'MedMCQA',
  mmlu_general: 'MMLU, non-medical subset',
  arc_challenge: 'ARC-Challenge',
  hellaswag: 'HellaSwag',
  winogrande: 'Winogrande',
};

export function taskLabel(key: string): string {
  return TASK_LABELS[key] ?? (key.startsWith('mmlu_') ? `MMLU ${key.slice(5).replace(/_/g, ' ')}` : key);
}

/** The suite's order (medllama/evaluate/suite.py MEDICAL_TASKS, then GENERAL_TASKS); other tasks follow. */
const TASK_ORDER = [
  'pubmedqa',
  'medqa',
  'medmcqa',
  'mmlu_',
  'mmlu_general',
  'arc_challenge',
  'hellaswag',
  'winogrande',
];
const rank = (key: string) => {
  const exact = TASK_ORDER.indexOf(key);
  if (exact >= 0) return exact;
  return key.startsWith('mmlu_') ? TASK_ORDER.indexOf('mmlu_') : TASK_ORDER.length;
};

/** The benchmark tasks of a metrics object in the suite's order (medical, then general). */
function taskRows(metrics: JsonObject): Row[] {
  const tasks = Object.entries(metrics).filter(
    ([, m]) => isObj(m) && isObj(m.accuracy_delta) && (typeof m.suite === 'string' || isObj(m.macro_f1_delta)),
  );
  return tasks
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .flatMap(([key, m]): Row[] => {
      const acc = { path: key, label: `${taskLabel(key)}, accuracy`, per: 'accuracy', change: 'accuracy_delta' };
      if (!isObj((m as JsonObject).acc_norm)) return [acc];
      return [acc, { ...acc, path: `${key}.acc_norm`, label: `${taskLabel(key)}, acc_norm` }];
    });
}

/** The models compared with the base, in the gate's order (tuned first), with the metrics of each. */
export interface Candidates {
  readonly order: readonly string[];
  readonly metrics: Readonly<Record<string, JsonObject>>;
  readonly passed: Readonly<Record<string, boolean>>;
  readonly chosen?: string;
  readonly rule?: string;
  /** Whether the chosen candidate passed (the gate's verdict). */
  readonly chosenPassed?: boolean;
}

/** The candidates of an evaluation.json; undefined for a file from before merge-back candidates. */
export function readCandidates(evaluation: Json | undefined): Candidates | undefined {
  if (!isObj(evaluation) || !isObj(evaluation.candidates)) return undefined;
  const all = evaluation.candidates;
  const gate = isObj(evaluation.gate) ? evaluation.gate : {};
  const listed = Array.isArray(gate.candidate_order) ? gate.candidate_order.filter((n) => typeof n === 'string') : [];
  const order = (listed.length ? listed : Object.keys(all)).filter(
    (n) => isObj(all[n]) && isObj((all[n] as JsonObject).metrics),
  );
  if (!order.length) return undefined;
  const verdicts = isObj(gate.candidates) ? gate.candidates : {};
  return {
    order,
    metrics: Object.fromEntries(order.map((n) => [n, (all[n] as JsonObject).metrics as JsonObject])),
    passed: Object.fromEntries(order.map((n) => [n, isObj(verdicts[n]) && verdicts[n].passed === true])),
    ...(typeof gate.chosen === 'string' ? { chosen: gate.chosen } : {}),
    ...(typeof gate.rule === 'string' ? { rule: gate.rule } : {}),
    ...(typeof gate.passed === 'boolean' ? { chosenPassed: gate.passed } : {}),
  };
}

const value = (m: JsonObject | undefined, role: string, per: string): Estimate | undefined =>
  m && isObj(m[role]) ? estimate((m[role] as JsonObject)[per]) : undefined;

/** `0.52; Δ +0.03 [−0.01, 0.07]`: the model's value and its paired change from the base. */
function candidateCell(m: JsonObject | undefined, row: Row): string {
  const v = value(m, 'tuned', row.per);
  if (!v) return '–';
  const change = estimate(m?.[row.change]);
  const signed = (e: Estimate) => `${e.value > 0 ? '+' : ''}${fmtEstimate(e)}`;
  return change ? `${fmtNumber(v.value)}; Δ ${signed(change)}` : fmtNumber(v.value);
}

function rows(c: Candidates): Row[] {
  const first = c.metrics[c.order[0]!]!;
  return [...PERPLEXITY_ROWS, ...taskRows(first), ...SUITE_ROWS].filter((r) => sectionOf(first, r.path));
}

/** One row per metric (base, then each model with its change from the base), and the gate's verdict per model. */
export function candidatesTable(c: Candidates): Table {
  const head = ['metric', 'base', ...c.order.map((n) => (n === c.chosen ? `${n} (chosen)` : n))];
  const body: Cell[][] = rows(c).map((r) => {
    const base = value(sectionOf(c.metrics[c.order[0]!]!, r.path), 'base', r.per);
    return [
      r.label,
      base ? fmtNumber(base.value) : '–',
      ...c.order.map((n) => candidateCell(sectionOf(c.metrics[n]!, r.path), r)),
    ];
  });
  body.push(['Quality gate', '–', ...c.order.map((n) => (c.passed[n] ? 'pass' : 'FAIL'))]);
  return { head, rows: body };
}

/** Chart panels: each charted metric with the base and every model, each with its own 95% interval. */
export function candidatePanels(c: Candidates): Comparison[] {
  return rows(c)
    .filter((r) => r.chart)
    .flatMap((r) => {
      const base = value(sectionOf(c.metrics[c.order[0]!]!, r.path), 'base', r.per);
      const models = c.order.flatMap((n) => {
        const e = value(sectionOf(c.metrics[n]!, r.path), 'tuned', r.per);
        return e ? [{ name: n, estimate: e }] : [];
      });
      return base && models.length ? [{ ...r.chart!, models: [{ name: 'base', estimate: base }, ...models] }] : [];
    });
}

/** Which candidate the gate chose and by what rule, in one sentence. */
export function choiceSentence(c: Candidates): string | undefined {
  if (!c.chosen) return undefined;
  const rule = c.rule ? ` The rule: ${c.rule}.` : '';
  return c.chosenPassed === false
    ? `No candidate passed the quality gate (${c.order.join(', ')}); nothing is registered, and the gate shows ${c.chosen}, the closest to passing.${rule}`
    : `Registered: **${c.chosen}**, chosen among ${c.order.join(', ')}.${rule}`;
}
