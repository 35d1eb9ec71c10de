/**
 * Renders a run's ReportData as report.md, a self-contained report.html (inline CSS and SVG) and a
 * self-contained slides.html (←/→ keys, print-to-PDF: one slide per page). Only numbers found in the run
 * folder are shown; anything missing is named as not available.
 */

import { INSTANCE_TYPES } from '../../pipeline-steps/instances.ts';
import { formatSeconds } from '../../pipeline-steps/local/display.ts';
import type { Json, JsonObject } from '../../pipeline-steps/local/types.ts';
import { formatDifference, formatEstimate } from '../review/summary.ts';
import type { ReportData } from './collect.ts';
import { type Bar, barChart, escapeXml as esc, lineChart } from './svg.ts';

type Cell = string | number;

interface Table {
  readonly head: string[];
  readonly rows: Cell[][];
}

interface Section {
  readonly id: string;
  readonly title: string;
  readonly paragraphs: string[];
  readonly tables: Table[];
  readonly figures: { svg: string; caption: string }[];
  /** Short bullet points for the slide deck. */
  readonly bullets: string[];
}

const isObj = (v: Json | undefined): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);
const num = (v: Json | undefined): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export function fmtNumber(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return String(Number(v.toPrecision(4)));
}

function cell(c: Cell): string {
  return typeof c === 'number' ? fmtNumber(c) : c;
}

function section(id: string, title: string): Section {
  return { id, title, paragraphs: [], tables: [], figures: [], bullets: [] };
}

// ---------------------------------------------------------------------------------------------------
// Sections

/** The base model the run trained, as Evaluate (evaluation.json models.base.about) or Train
 * (training_summary.json base_model) recorded it (containers/medllama/base_models.py describe_base_model). */
export interface BaseModelInfo {
  readonly name: string;
  readonly source?: string;
  readonly license?: string;
  /** Seeded random weights, never trained on text (the tiny demo model). */
  readonly randomInit: boolean;
}

export function baseModelInfo(d: Pick<ReportData, 'evaluation' | 'trainingSummary'>): BaseModelInfo | undefined {
  const models = d.evaluation?.models;
  const base = models && typeof models === 'object' && !Array.isArray(models) ? models.base : undefined;
  const about = base && typeof base === 'object' && !Array.isArray(base) ? base.about : undefined;
  const found = about ?? d.trainingSummary?.base_model;
  if (!found || typeof found !== 'object' || Array.isArray(found) || typeof found.name !== 'string') return undefined;
  return {
    name: found.name,
    ...(typeof found.source === 'string' ? { source: found.source } : {}),
    ...(typeof found.license === 'string' ? { license: found.license } : {}),
    randomInit: found.random_init === true,
  };
}

function overview(d: ReportData): Section {
  const s = section('overview', 'Objective and outcome');
  const st = d.state;
  s.paragraphs.push(
    'MedLlama domain-adapts a Llama-architecture model to biomedical literature (PubMed Central Open Access): ' +
      "JATS articles are cleaned, deduplicated, split, tokenized with the base model's tokenizer, used to fine-tune " +
      'the model, and the tuned model is evaluated against its base and registered only when it passes the quality gate.',
  );
  const base = baseModelInfo(d);
  if (base) {
    s.paragraphs.push(
      `Base model trained: **${base.name}**` +
        (base.source ? ` (${base.source}${base.license ? `; licence ${base.license}` : ''})` : '') +
        '.' +
        (base.randomInit
          ? ' Its weights are seeded random numbers and it was never trained on text: every answer in this report ' +
            'is noise by construction, and its numbers show that the pipeline works, not medical quality.'
          : ''),
    );
  } else {
    s.paragraphs.push('The base model is not named in this run (no evaluation.json or training_summary.json).');
  }
  const gate = st.steps.QualityGate;
  const outcome =
    gate?.outcome === undefined
      ? 'the quality gate did not run'
      : gate.outcome
        ? 'passed the quality gate'
        : 'failed the quality gate';
  s.paragraphs.push(
    `Run \`${st.runId}\` of pipeline ${st.pipelineName}: **${st.status}**; ` +
      `${gate?.outcome === undefined ? outcome : `the model ${outcome}`}.` +
      (st.failureReason && st.status !== 'Succeeded' ? ` Reason: ${st.failureReason}.` : ''),
  );
  if (d.registry) {
    s.paragraphs.push(
      `Registered as ${String(d.registry.ModelPackageGroupName)} version ${String(d.registry.ModelPackageVersion)} ` +
        `with status ${String(d.registry.ModelApprovalStatus)}.`,
    );
  }
  const src = d.sources;
  if (src) {
    s.paragraphs.push(
      `Fetched from SageMaker pipeline execution \`${src.executionArn}\` (status ${src.executionStatus}): step ` +
        'states and times from the SageMaker API, artifacts from S3, training curves from CloudWatch.',
    );
    if (st.status === 'Executing') {
      s.paragraphs.push(
        '**The execution is still running**: this report shows what existed when it was made; run ' +
          `\`medllama report --execution ${src.executionArn}\` again when it has finished.`,
      );
      s.bullets.push('Execution still running: partial report');
    }
    const missing = src.entries.filter((e) => e.missing);
    if (missing.length) {
      s.paragraphs.push(`${missing.length} artifact(s) could not be fetched; the sections below say which.`);
      s.tables.push({
        head: ['step', 'missing artifact', 'why'],
        rows: missing.map((e) => [
          e.step,
          e.artifact,
          `${e.missing}${e.uri && !e.missing!.includes(e.uri) ? ` (${e.uri})` : ''}`,
        ]),
      });
      s.bullets.push(`Missing: ${missing.map((e) => `${e.step} ${e.artifact}`).join(', ')}`);
    }
  }
  s.bullets.push(
    base ? `Base model: ${base.name}${base.randomInit ? ' (random weights: its answers are noise)' : ''}` : '',
    `Run ${st.runId}: ${st.status}`,
    gate?.outcome === undefined ? 'The quality gate did not run' : `Model ${outcome}`,
  );
  s.bullets.splice(0, s.bullets.length, ...s.bullets.filter((b) => b !== ''));
  if (d.registry)
    s.bullets.push(
      `Registered: ${String(d.registry.ModelPackageGroupName)} v${String(d.registry.ModelPackageVersion)}`,
    );
  return s;
}

function countRows(map: Json | undefined): [string, number][] {
  if (!isObj(map)) return [];
  return Object.entries(map)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** Tokens per split from tokenize-report.json (`splits.<name>.tokens` or `<name>.tokens`). */
function tokenSplits(t: JsonObject | undefined): [string, JsonObject][] {
  if (!t) return [];
  const holder = isObj(t.splits) ? t.splits : t;
  return Object.entries(holder)
    .filter((e): e is [string, JsonObject] => isObj(e[1]) && num(e[1].tokens) !== undefined)
    .sort((a, b) => a[0].localeCompare(b[0]));
}

function data(d: ReportData): Section {
  const s = section('data', 'Data funnel');
  const bars: Bar[] = [];
  const ing = d.ingest;
  if (ing) {
    const inputs = num(ing.inputs);
    if (inputs !== undefined) bars.push({ label: 'input articles', value: inputs, kind: 'info' });
    for (const [reason, n] of countRows(ing.rejected_by_reason))
      bars.push({ label: `rejected: ${reason}`, value: n, kind: 'drop' });
    const docs = num(ing.documents);
    if (docs !== undefined) bars.push({ label: 'kept after ingest', value: docs });
    s.tables.push({ head: ['license', 'documents'], rows: countRows(ing.licenses) });
    s.bullets.push(`${fmtNumber(inputs ?? 0)} articles in → ${fmtNumber(docs ?? 0)} kept after ingest`);
  } else {
    s.paragraphs.push('The ingest report is not available in this run.');
  }
  const dd = d.dedup;
  if (dd) {
    const dups = isObj(dd.duplicates) ? num(dd.duplicates.total) : num(dd.duplicates);
    if (dups !== undefined) bars.push({ label: 'duplicates removed', value: dups, kind: 'drop' });
    const kept = num(dd.kept);
    if (kept !== undefined) bars.push({ label: 'kept after dedup', value: kept });
    const splits = isObj(dd.splits) ? dd.splits : {};
    for (const [name, v] of Object.entries(splits).sort()) {
      const n = isObj(v) ? num(v.documents) : undefined;
      if (n !== undefined) bars.push({ label: `${name} documents`, value: n, kind: 'info' });
    }
    s.bullets.push(`${fmtNumber(dups ?? 0)} duplicates removed, ${fmtNumber(kept ?? 0)} documents kept`);
  } else {
    s.paragraphs.push('The dedup report is not available in this run.');
  }
  const splits = tokenSplits(d.tokenize);
  if (splits.length) {
    s.tables.push({
      head: ['split', 'documents', 'tokens', 'blocks'],
      rows: splits.map(([name, v]) => [name, num(v.documents) ?? '-', num(v.tokens) ?? '-', num(v.blocks) ?? '-']),
    });
    const total = splits.reduce((a, [, v]) => a + (num(v.tokens) ?? 0), 0);
    s.bullets.push(`${fmtNumber(total)} tokens (${baseModelInfo(d)?.name ?? 'base model'} tokenizer)`);
  } else {
    s.paragraphs.push('The tokenize report is not available in this run.');
  }
  if (bars.length) s.tables.unshift({ head: ['stage', 'documents'], rows: bars.map((b) => [b.label, b.value]) });
  if (bars.length)
    s.figures.push({
      svg: barChart(bars, { title: 'Data funnel (documents)' }),
      caption: 'Inputs, rejections by reason, kept documents and splits.',
    });
  return s;
}

function training(d: ReportData): Section {
  const s = section('training', 'Training');
  const params = d.state.parameters;
  const keys = [
    'Method',
    'SeqLen',
    'LearningRate',
    'Epochs',
    'MaxSteps',
    'LoraRank',
    'GradientAccumulationSteps',
    'TrainInstanceType',
    'TrainInstanceCount',
  ];
  const rows: Cell[][] = keys.filter((k) => params[k] !== undefined).map((k) => [k, String(params[k])]);
  if (rows.length) s.tables.push({ head: ['parameter', 'value'], rows });
  const summary = d.trainingSummary;
  if (summary) {
    const srows = Object.entries(summary)
      .filter((e): e is [string, number | string] => typeof e[1] === 'number' || typeof e[1] === 'string')
      .sort((a, b) => a[0].localeCompare(b[0]));
    s.tables.push({ head: ['training_summary.json', 'value'], rows: srows });
  } else {
    s.paragraphs.push('training_summary.json is not available in this run.');
  }
  const loss = Object.entries(d.metrics).filter(([n]) => /loss/.test(n));
  if (loss.length) {
    s.figures.push({
      svg: lineChart(
        loss.map(([name, pts]) => ({ name, points: pts.map((p) => [p.step, p.value] as const) })),
        { title: 'Loss', xLabel: d.metricsSource.xLabel, yLabel: 'loss' },
      ),
      caption: `Loss curves from ${d.metricsSource.source}.`,
    });
    const train = loss.find(([n]) => n === 'train_loss') ?? loss[0]!;
    const pts = train[1];
    s.bullets.push(
      `${train[0]}: ${fmtNumber(pts[0]!.value)} → ${fmtNumber(pts[pts.length - 1]!.value)} over ${pts.length} points`,
    );
  } else {
    s.paragraphs.push(
      d.sources
        ? 'No loss curve is available for this execution (see the missing artifacts above).'
        : 'No loss metric lines were found in the Train log.',
    );
  }
  const speed = Object.entries(d.metrics).filter(([n]) => /tokens_per_s|throughput|mfu/i.test(n));
  if (speed.length) {
    s.figures.push({
      svg: lineChart(
        speed.map(([name, pts]) => ({ name, points: pts.map((p) => [p.step, p.value] as const) })),
        { title: 'Throughput', xLabel: d.metricsSource.xLabel, yLabel: 'value' },
      ),
      caption: `Throughput from ${d.metricsSource.source}.`,
    });
  }
  return s;
}

/** Rows for every `{value, ci95?}` estimate and every p-value under `metrics`. */
export function estimateRows(obj: Json | undefined, path = ''): Cell[][] {
  if (!isObj(obj)) return [];
  const rows: Cell[][] = [];
  if (num(obj.value) !== undefined) {
    const ci = Array.isArray(obj.ci95) && obj.ci95.length === 2 ? obj.ci95.map((x) => num(x)) : undefined;
    const p = num(obj.p_value) ?? num(obj.p);
    rows.push([
      path,
      num(obj.value)!,
      ci && ci[0] !== undefined && ci[1] !== undefined ? `[${fmtNumber(ci[0])}, ${fmtNumber(ci[1])}]` : '',
      p === undefined ? '' : p,
    ]);
  }
  for (const [k, v] of Object.entries(obj)) {
    const sub = path ? `${path}.${k}` : k;
    if (isObj(v)) rows.push(...estimateRows(v, sub));
    else if (/(^p$|_p$|p_value)/.test(k) && num(v) !== undefined && num(obj.value) === undefined)
      rows.push([sub, '', '', num(v)!]);
  }
  return rows;
}

function evaluation(d: ReportData): Section {
  const s = section('evaluation', 'Evaluation: base vs tuned');
  const e = d.evaluation;
  if (!e) {
    s.paragraphs.push('evaluation.json is not available in this run.');
    return s;
  }
  if (isObj(e.gate)) {
    const gateRows = Object.entries(e.gate)
      .filter((x): x is [string, number] => typeof x[1] === 'number')
      .map(([k, v]) => [k, v] as Cell[]);
    s.tables.push({ head: ['quality gate input', 'value'], rows: gateRows });
    for (const [k, v] of gateRows) s.bullets.push(`${k}: ${cell(v!)}`);
    const nc = e.gate.not_computed;
    if (isObj(nc) && Object.keys(nc).length) {
      s.paragraphs.push(
        `Not computed: ${Object.entries(nc)
          .map(([k, v]) => `${k} (${String(v)})`)
          .join('; ')}.`,
      );
    }
  }
  const rows = estimateRows(e.metrics);
  if (rows.length) s.tables.push({ head: ['metric', 'value', '95% CI', 'p-value'], rows });
  const gate = d.state.steps.QualityGate?.properties?.Conditions;
  if (Array.isArray(gate)) {
    s.tables.push({
      head: ['condition', 'left', 'right', 'result'],
      rows: gate
        .filter(isObj)
        .map((c) => [String(c.type), JSON.stringify(c.left ?? ''), JSON.stringify(c.right ?? ''), String(c.result)]),
    });
  }
  return s;
}

function examples(d: ReportData): Section {
  const s = section('examples', 'Base vs tuned answers');
  if (d.qualitative.length === 0) {
    s.paragraphs.push('qualitative.jsonl is not available in this run.');
    return s;
  }
  const clip = (t: string) => (t.length > 400 ? `${t.slice(0, 397)}...` : t);
  s.tables.push({
    head: ['prompt', 'base', 'tuned'],
    rows: d.qualitative.map((q) => [clip(q.prompt), clip(q.base), clip(q.tuned)]),
  });
  s.bullets.push(`${d.qualitative.length} fixed medical prompts answered by both models (greedy)`);
  return s;
}

function expertReview(d: ReportData): Section {
  const s = section('review', 'Expert review');
  const r = d.review;
  if (!r) {
    if (d.reviewError) {
      s.paragraphs.push(`The ratings database could not be read: ${d.reviewError}.`);
      s.bullets.push('Ratings database unreadable (see report)');
    } else {
      const cmd = `medllama review --run ${d.runDir}`;
      s.paragraphs.push(`No expert review yet — run \`${cmd}\`.`);
      s.bullets.push('No expert review yet', `Run: ${cmd}`);
    }
    return s;
  }
  const level = Math.round(r.level * 100);
  s.paragraphs.push(
    `${r.items} of ${r.totalItems} items rated by ${r.reviewers} reviewer(s), ${r.judgements} judgement(s), ` +
      'blinded side by side (docs/review.md). Scale 1–5, 5 = best on every axis. Means over items (each item ' +
      `averaged over its reviewers) with ${level}% percentile-bootstrap CIs over items ` +
      `(${r.reps} replicates, seed ${r.seed}); the difference is tuned − base, paired by item.`,
  );
  if (r.items === 0) {
    s.paragraphs.push('The ratings database exists but no item has been rated yet.');
    s.bullets.push(`Expert review started: 0 of ${r.totalItems} items rated`);
    return s;
  }
  s.tables.push({
    head: ['axis', `base mean [${level}% CI]`, `tuned mean [${level}% CI]`, `tuned − base [${level}% CI]`],
    rows: r.axes.map((a) => [
      r.axisLabels[a.axis] ?? a.axis,
      formatEstimate(a.base),
      formatEstimate(a.tuned),
      formatDifference(a.difference),
    ]),
  });
  const p = r.preference;
  const pct = (v: number | null) => (v === null ? '–' : `${Math.round(v * 100)}%`);
  s.tables.push({
    head: ['preference', 'judgements', 'share'],
    rows: [
      ['tuned preferred', p.tunedWins, pct(p.tunedWinShare)],
      ['tie', p.ties, pct(p.tieShare)],
      ['base preferred', p.baseWins, pct(p.baseWinShare)],
      [`tuned win rate (tie = ½) [${level}% CI]`, p.judgements, formatEstimate(p.winRate)],
    ],
  });
  s.bullets.push(
    `${r.items} items, ${r.reviewers} reviewer(s), ${r.judgements} judgement(s)`,
    `Tuned win rate (tie = ½): ${formatEstimate(p.winRate)}`,
  );
  for (const a of r.axes) {
    s.bullets.push(`${r.axisLabels[a.axis] ?? a.axis}: tuned − base ${formatDifference(a.difference)}`);
  }
  return s;
}

function costAndTime(d: ReportData): Section {
  const s = section('cost', 'Time and cost');
  const rows = d.state.order.map((name) => {
    const r = d.state.steps[name]!;
    return [name, r.type, r.state, formatSeconds(r.elapsedSeconds), r.reused ?? ''] as Cell[];
  });
  s.tables.push({ head: ['step', 'type', 'state', 'time', 'reused'], rows });
  const total = d.state.order.reduce((a, n) => a + (d.state.steps[n]!.elapsedSeconds ?? 0), 0);
  if (d.sources) {
    s.paragraphs.push(
      `Steps took ${formatSeconds(total)} in total on SageMaker (step start to end, including instance start-up).`,
    );
    const tp = d.state.steps.Train?.properties;
    const billable = num(tp?.BillableTimeInSeconds);
    const type = typeof tp?.InstanceType === 'string' ? tp.InstanceType : undefined;
    const count = num(tp?.InstanceCount) ?? 1;
    const price = type ? INSTANCE_TYPES[type] : undefined;
    if (billable !== undefined && type) {
      // BillableTimeInSeconds is per instance (SageMaker API reference): × InstanceCount for the total.
      const usd = price ? `≈ $${((billable * count * price.usdPerHour) / 3600).toFixed(2)}` : '';
      const rate = price ? ` at the on-demand $${price.usdPerHour}/h (${price.priceSource})` : '';
      s.paragraphs.push(
        `Training: ${formatSeconds(billable)} billable per instance on ${count} × ${type}` +
          `${usd ? ` ${usd}${rate}` : ' (no price for this type in pipeline-steps/instances.ts)'}. ` +
          "Other steps' costs: see `medllama plan`.",
      );
      s.bullets.push(`Training ${formatSeconds(billable)} billable on ${count} × ${type}${usd ? ` ${usd}` : ''}`);
    }
    s.bullets.push(`${formatSeconds(total)} of step time on SageMaker`);
    return s;
  }
  s.paragraphs.push(
    `Steps took ${formatSeconds(total)} in total on this machine (a local run costs no AWS money). ` +
      'For the AWS cost of a full run, see `medllama plan`.',
  );
  s.bullets.push(`${formatSeconds(total)} of step time on this machine`);
  return s;
}

function limitations(d: ReportData): Section {
  const s = section('limitations', 'Limitations and recommendations');
  const local = d.state.parameters.TrainInstanceType !== undefined && !d.sources;
  const base = baseModelInfo(d);
  if (!d.sources && (base === undefined || base.randomInit))
    s.bullets.push(
      'A local run trains a tiny, randomly initialised Llama-architecture model: its numbers prove the pipeline, not medical quality.',
    );
  else if (!d.sources)
    s.bullets.push(
      `This local run adapted ${base?.name}, a small pretrained model, for minutes on a small open-license PMC sample: ` +
        'the direction and interval of its changes are real measurements, their size says little about Llama 2 7B at scale.',
    );
  s.bullets.push(
    'Confidence intervals come from bootstrap over documents/items; small test splits give wide intervals.',
    'Perplexity gains on PMC text do not imply safer or more correct clinical answers; qualitative answers need expert review.',
    'Recommendation: run the same definition on SageMaker with Llama 2 7B and the full PMC OA subset; keep the gate thresholds.',
  );
  if (local) s.paragraphs.push('Instance-type parameters are recorded but have no effect in a local run.');
  s.paragraphs.push(...s.bullets.map((b) => `- ${b}`));
  return s;
}

export function buildSections(d: ReportData): Section[] {
  return [
    overview(d),
    data(d),
    training(d),
    evaluation(d),
    examples(d),
    expertReview(d),
    costAndTime(d),
    limitations(d),
  ];
}

// ---------------------------------------------------------------------------------------------------
// Output formats

function mdEscape(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function renderMarkdown(d: ReportData): string {
  const out = [`# MedLlama run report: ${d.state.runId}`, ''];
  for (const s of buildSections(d)) {
    out.push(`## ${s.title}`, '');
    for (const p of s.paragraphs) out.push(p, '');
    for (const t of s.tables) {
      if (!t.rows.length) continue;
      out.push(`| ${t.head.join(' | ')} |`, `| ${t.head.map(() => '---').join(' | ')} |`);
      for (const r of t.rows) out.push(`| ${r.map((c) => mdEscape(cell(c))).join(' | ')} |`);
      out.push('');
    }
    for (const f of s.figures) out.push(`*Figure: ${f.caption} (see report.html)*`, '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/** Minimal inline markdown (`code`, **bold**) for paragraphs in HTML. */
function inline(text: string): string {
  return esc(text)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
}

function htmlTable(t: Table): string {
  if (!t.rows.length) return '';
  return `<table><thead><tr>${t.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${t.rows
    .map(
      (r) =>
        `<tr>${r.map((c) => `<td${typeof c === 'number' ? ' class="num"' : ''}>${esc(cell(c))}</td>`).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
}

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;max-width:960px;margin:2rem auto;padding:0 1rem;line-height:1.5}
h1{font-size:1.8rem}h2{border-bottom:1px solid #e5e7eb;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem;width:100%}th,td{border:1px solid #e5e7eb;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1rem 0}figure svg{max-width:100%;height:auto}
figcaption{color:#6b7280;font-size:.85rem}code{background:#f3f4f6;padding:0 .2rem;border-radius:3px}nav a{margin-right:.8rem}
@media print{nav{display:none}body{margin:0}}`;

export function renderHtml(d: ReportData): string {
  const sections = buildSections(d);
  const body = sections
    .map(
      (s) =>
        `<section id="${s.id}"><h2>${esc(s.title)}</h2>${s.paragraphs
          .filter((p) => !p.startsWith('- '))
          .map((p) => `<p>${inline(p)}</p>`)
          .join(
            '',
          )}${s.id === 'limitations' ? `<ul>${s.bullets.map((b) => `<li>${esc(b)}</li>`).join('')}</ul>` : ''}${s.figures
          .map((f) => `<figure>${f.svg}<figcaption>${esc(f.caption)}</figcaption></figure>`)
          .join('')}${s.tables.map(htmlTable).join('')}</section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>MedLlama run report: ${esc(d.state.runId)}</title><style>${STYLE}</style></head>
<body><h1>MedLlama run report: ${esc(d.state.runId)}</h1>
<nav>${sections.map((s) => `<a href="#${s.id}">${esc(s.title)}</a>`).join('')}</nav>
${body}
</body></html>
`;
}

const SLIDE_STYLE = `
html,body{margin:0;height:100%;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#111827}
.slide{display:none;box-sizing:border-box;width:100vw;height:100vh;padding:4vh 6vw;background:#fff;overflow:hidden}
.slide.active{display:flex;flex-direction:column}
.slide h1{font-size:2.6rem;margin:.2em 0}.slide h2{font-size:2rem;margin:0 0 .5em;color:#1f3b73}
.slide ul{font-size:1.35rem;line-height:1.6}.slide figure{margin:0;flex:1;min-height:0;display:flex;justify-content:center}
.slide figure svg{max-height:55vh;width:auto;max-width:100%}
.footer{margin-top:auto;color:#6b7280;font-size:.9rem}
@media print{@page{size:landscape;margin:0}html,body{background:#fff;height:auto}
.slide{display:flex!important;flex-direction:column;page-break-after:always;break-after:page;height:100vh}}`;

const SLIDE_SCRIPT = `
(function(){var s=document.querySelectorAll('.slide'),i=0;
function show(n){i=Math.max(0,Math.min(s.length-1,n));s.forEach(function(e,j){e.classList.toggle('active',j===i)});
document.title=document.title.replace(/ \\(\\d+\\/\\d+\\)$/,'')+' ('+(i+1)+'/'+s.length+')';}
document.addEventListener('keydown',function(e){if(e.key==='ArrowRight'||e.key===' '||e.key==='PageDown')show(i+1);
else if(e.key==='ArrowLeft'||e.key==='PageUp')show(i-1);else if(e.key==='Home')show(0);else if(e.key==='End')show(s.length-1);});
show(0);})();`;

export function renderSlides(d: ReportData): string {
  const sections = buildSections(d);
  const slides: string[] = [];
  slides.push(
    `<section class="slide"><h1>MedLlama: Llama 2 domain adaptation on PubMed Central</h1><ul><li>Run ${esc(d.state.runId)}: ${esc(
      d.state.status,
    )}</li><li>One SageMaker pipeline definition, run locally or on AWS</li></ul><div class="footer">← / → to navigate · print to PDF for a handout</div></section>`,
  );
  slides.push(
    `<section class="slide"><h2>Method</h2><ul><li>Ingest: JATS → clean text, license and quality filters</li><li>Dedup: exact + MinHash LSH, stable splits</li><li>Tokenize: Llama 2 tokenizer, packed blocks</li><li>Train: LoRA / full fine-tune, checkpoints</li><li>Evaluate: perplexity, PubMedQA, general-text regression → quality gate → registry</li></ul></section>`,
  );
  for (const s of sections) {
    const bullets = s.bullets.length ? `<ul>${s.bullets.map((b) => `<li>${esc(b)}</li>`).join('')}</ul>` : '';
    if (s.figures.length === 0) {
      slides.push(
        `<section class="slide"><h2>${esc(s.title)}</h2>${bullets || '<ul><li>Not available in this run</li></ul>'}</section>`,
      );
      continue;
    }
    s.figures.forEach((f, i) => {
      slides.push(
        `<section class="slide"><h2>${esc(s.title)}</h2>${i === 0 ? bullets : ''}<figure>${f.svg}</figure><div class="footer">${esc(f.caption)}</div></section>`,
      );
    });
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>MedLlama: ${esc(d.state.runId)}</title><style>${SLIDE_STYLE}</style></head>
<body>
${slides.join('\n')}
<script>${SLIDE_SCRIPT}</script>
</body></html>
`;
}
