/**
 * Renders a run's ReportData as report.md, a self-contained report.html (inline CSS and SVG) and a
 * self-contained slides.html (←/→ keys, print-to-PDF: one slide per page). Only numbers found in the run
 * folder are shown; anything missing is named as not available.
 */

import { INSTANCE_TYPES } from '../../pipeline-steps/instances.ts';
import { formatSeconds } from '../../pipeline-steps/local/display.ts';
import { formatDifference, formatEstimate } from '../review/summary.ts';
import type { ReportData } from './collect.ts';
import { evaluation } from './evaluation.ts';
import { funnel } from './funnel.ts';
import { type Cell, cell, num, type Section, section, type Table } from './section.ts';
import { baseModelInfo, summary } from './summary.ts';
import { escapeXml as esc } from './svg.ts';
import { training } from './training.ts';

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
    prose: true,
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
    summary(d),
    funnel(d),
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
  const head = `<thead><tr>${t.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>`;
  const body = t.rows
    .map(
      (r) =>
        `<tr>${r.map((c) => `<td${typeof c === 'number' ? ' class="num"' : ''}>${esc(cell(c))}</td>`).join('')}</tr>`,
    )
    .join('');
  return `<div class="table-scroll"><table${t.prose ? ' class="prose"' : ''}>${head}<tbody>${body}</tbody></table></div>`;
}

/** Tables scroll inside their own box and long words wrap, so the page never scrolls sideways (1024 px included). */
const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;max-width:960px;margin:2rem auto;padding:0 1rem;line-height:1.5}
h1{font-size:1.8rem}h2{border-bottom:1px solid #e5e7eb;padding-bottom:.2rem;margin-top:2rem}
.table-scroll{overflow-x:auto;margin:1rem 0}table{border-collapse:collapse;font-size:.9rem;width:100%}
th,td{border:1px solid #e5e7eb;padding:.3rem .5rem;text-align:left;vertical-align:top;overflow-wrap:break-word}
table.prose{table-layout:fixed}table.prose td{overflow-wrap:anywhere}
th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1rem 0}figure svg{max-width:100%;height:auto}
figcaption{color:#6b7280;font-size:.85rem}code{background:#f3f4f6;padding:0 .2rem;border-radius:3px}
nav{display:flex;flex-wrap:wrap;gap:.2rem .8rem}
@media print{nav{display:none}body{margin:0}.table-scroll{overflow:visible}}`;

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
