/**
 * The evaluation section: the quality gate check by check, a base-vs-tuned chart with intervals, one row per
 * metric (base, tuned, the paired change with its interval and p-value, the resampling units), the pipeline's own
 * QualityGate comparisons, and what was not computed, in plain words.
 */
import type { JsonObject } from '../../pipeline-steps/local/types.ts';
import { candidatePanels, candidatesTable, choiceSentence, readCandidates } from './candidates.ts';
import type { ReportData } from './collect.ts';
import { type Comparison, comparisonChart } from './compare-chart.ts';
import { conditionTable, gateSentence, gateTable, readGate } from './gate.ts';
import {
  type Cell,
  estimate,
  fmtEstimate,
  fmtNumber,
  isObj,
  num,
  type Section,
  section,
  sectionOf,
} from './section.ts';

interface MetricRow {
  /** The object under `metrics`: a key, or a dotted path (`suites.medical`). */
  readonly section: string;
  readonly label: string;
  /** The per-model estimate under `base` / `tuned`. */
  readonly per: string;
  readonly change: string;
  readonly changeLabel: string;
  readonly units: string;
  /** Axis of the base-vs-tuned chart; rows without one are not charted. */
  readonly axis?: string;
}

const ROWS: readonly MetricRow[] = [
  {
    section: 'test_perplexity',
    label: 'Held-out PMC perplexity (lower is better)',
    per: 'perplexity',
    change: 'improvement',
    changeLabel: 'relative improvement (base − tuned) / base',
    units: 'documents',
    axis: 'perplexity (lower is better)',
  },
  {
    section: 'test_perplexity',
    label: 'Held-out PMC bits per byte (lower is better)',
    per: 'bits_per_byte',
    change: 'bits_per_byte_delta',
    changeLabel: 'tuned − base',
    units: 'documents',
  },
  {
    section: 'general_perplexity',
    label: 'General-text perplexity (lower is better)',
    per: 'perplexity',
    change: 'regression',
    changeLabel: 'relative regression (tuned − base) / base',
    units: 'files',
    axis: 'perplexity (lower is better)',
  },
  {
    section: 'pubmedqa',
    label: 'PubMedQA accuracy',
    per: 'accuracy',
    change: 'accuracy_delta',
    changeLabel: 'tuned − base',
    units: 'items',
    axis: 'accuracy (fraction correct)',
  },
  {
    section: 'pubmedqa',
    label: 'PubMedQA macro-F1',
    per: 'macro_f1',
    change: 'macro_f1_delta',
    changeLabel: 'tuned − base',
    units: 'items',
  },
  {
    section: 'medmcqa',
    label: 'MedMCQA accuracy',
    per: 'accuracy',
    change: 'accuracy_delta',
    changeLabel: 'tuned − base',
    units: 'items',
  },
  {
    section: 'medqa',
    label: 'MedQA-USMLE (4 options) accuracy',
    per: 'accuracy',
    change: 'accuracy_delta',
    changeLabel: 'tuned − base',
    units: 'items',
  },
  {
    section: 'suites.medical',
    label: 'Medical benchmark suite, mean accuracy (tasks weighted equally)',
    per: 'accuracy',
    change: 'accuracy_delta',
    changeLabel: 'tuned − base',
    units: 'tasks',
  },
  {
    section: 'suites.general',
    label: 'General benchmark suite (forgetting), mean accuracy (tasks weighted equally)',
    per: 'accuracy',
    change: 'accuracy_delta',
    changeLabel: 'tuned − base',
    units: 'tasks',
  },
];

/** How many resampling units (or tasks, for a suite average: the length of its task list). */
function unitCount(m: JsonObject, units: string): number | undefined {
  const value = m[units];
  return Array.isArray(value) ? value.length : num(value);
}

const CHART_TITLES: Readonly<Record<string, string>> = {
  test_perplexity: 'Held-out PMC',
  general_perplexity: 'General text',
  pubmedqa: 'PubMedQA',
};

const model = (m: JsonObject, role: string, per: string) => (isObj(m[role]) ? estimate(m[role][per]) : undefined);

/** One row per metric found: base, tuned, the paired change with its interval, its p-value and the units. */
export function metricRows(metrics: JsonObject): Cell[][] {
  return ROWS.filter((r) => sectionOf(metrics, r.section)).flatMap((r) => {
    const m = sectionOf(metrics, r.section)!;
    const base = model(m, 'base', r.per);
    const tuned = model(m, 'tuned', r.per);
    const change = estimate(m[r.change]);
    if (!base && !tuned && !change) return [];
    const raw = m[r.change];
    const p = isObj(raw) ? num(raw.p_value) : undefined;
    const units = unitCount(m, r.units);
    return [
      [
        r.label,
        base ? fmtEstimate(base) : '–',
        tuned ? fmtEstimate(tuned) : '–',
        change ? `${r.changeLabel}: ${fmtEstimate(change)}` : '–',
        p === undefined ? '–' : fmtNumber(p),
        units === undefined ? '–' : `${fmtNumber(units)} ${r.units}`,
      ],
    ];
  });
}

/** The base-vs-tuned panels: one per charted metric that has both models' estimates. */
export function comparisons(metrics: JsonObject): Comparison[] {
  return ROWS.filter((r) => r.axis && sectionOf(metrics, r.section)).flatMap((r) => {
    const m = sectionOf(metrics, r.section)!;
    const base = model(m, 'base', r.per);
    const tuned = model(m, 'tuned', r.per);
    return base && tuned
      ? [
          {
            title: CHART_TITLES[r.section] ?? r.label,
            axis: r.axis!,
            models: [
              { name: 'base', estimate: base },
              { name: 'tuned', estimate: tuned },
            ],
          },
        ]
      : [];
  });
}

export function evaluation(d: ReportData): Section {
  const e = d.evaluation;
  const candidates = readCandidates(e);
  const merged = candidates !== undefined && candidates.order.length > 1;
  const s = section(
    'evaluation',
    merged ? 'Evaluation: base, tuned and merge-back candidates' : 'Evaluation: base vs tuned',
  );
  if (!e) {
    s.paragraphs.push('evaluation.json is not available in this run.');
    return s;
  }
  const gate = readGate(e);
  if (gate) {
    s.paragraphs.push(
      `**Quality gate ${gateSentence(gate).replace(/^(\w+)/, '$1**')}. Each check compares the conservative side ` +
        'of its 95% paired-bootstrap interval with its threshold (docs/evaluation.md, "The gate").',
    );
    s.tables.push(gateTable(gate));
  }
  const choice = merged ? choiceSentence(candidates) : undefined;
  if (choice) s.paragraphs.push(choice);
  const metrics = isObj(e.metrics) ? e.metrics : {};
  const panels = merged ? candidatePanels(candidates) : comparisons(metrics);
  if (panels.length)
    s.figures.push({
      svg: comparisonChart(
        panels,
        merged ? 'Base, tuned and merge-back candidates (95% intervals)' : 'Base vs tuned (95% intervals)',
      ),
      caption: 'Each model on the same data: dot = estimate, whisker = 95% percentile-bootstrap interval.',
    });
  if (candidates) {
    const table = candidatesTable(candidates);
    if (table.rows.length > 1) s.tables.push(table);
  }
  const rows = metricRows(metrics);
  if (rows.length)
    s.tables.push({
      head: ['metric', 'base [95% CI]', 'tuned [95% CI]', 'change [95% CI]', 'p-value (paired bootstrap)', 'resampled'],
      rows,
    });
  const conditions = conditionTable(d.state.steps.QualityGate?.properties?.Conditions, gate);
  if (conditions) s.tables.push(conditions);
  const nc = e.not_computed;
  if (isObj(nc) && Object.keys(nc).length) {
    s.paragraphs.push(
      `Not computed: ${Object.entries(nc)
        .sort((a, b) => a[0].localeCompare(b[0]))
        .map(([k, v]) => `${k.replace(/^metrics\./, '')} (${String(v)})`)
        .join('; ')}.`,
    );
  }
  if (gate) s.bullets.push(`Quality gate ${gateSentence(gate).split(';')[0]}`);
  if (choice) s.bullets.push(choice.replace(/\*\*/g, '').replace(/ The rule: .*$/, ''));
  for (const r of rows.slice(0, 4)) s.bullets.push(`${r[0]}: base ${r[1]}, tuned ${r[2]}`);
  return s;
}
