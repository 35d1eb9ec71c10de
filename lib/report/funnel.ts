/**
 * The data funnel: input articles → each rejection reason → kept → duplicates → splits → tokens, the article limit
 * (MaxArticles, 0 = no limit) and, when Ingest or Dedup stopped the run on empty or useless input, their verdict
 * (the ingest report's `verdict`, or the error the failed step logged).
 */

import type { Json, JsonObject } from '../../pipeline-steps/local/types.ts';
import type { ReportData } from './collect.ts';
import { type Cell, cell, fmtNumber, isObj, num, type Section, section } from './section.ts';
import { baseModelInfo } from './summary.ts';
import { type Bar, barChart } from './svg.ts';

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

/** "MaxArticles = 0: no limit …" or the limit and how many article groups it cut. */
export function articleLimit(d: ReportData): string | undefined {
  const max = d.state.parameters.MaxArticles;
  if (max === undefined) return undefined;
  if (Number(max) === 0)
    return 'Article limit: MaxArticles = 0, which means no limit: every article of the input was read.';
  const cut = num(d.ingest?.groups_cut_by_max_articles);
  return (
    `Article limit: MaxArticles = ${cell(Number(max))}: only the first ${cell(Number(max))} articles (by sorted key) ` +
    `were read${cut ? `; ${fmtNumber(cut)} more were left out` : ''}.`
  );
}

/** Why Ingest or Dedup stopped the run on empty or useless input, in their own words. */
export function inputVerdicts(d: ReportData): string[] {
  const out: string[] = [];
  const verdict = d.ingest?.verdict;
  if (typeof verdict === 'string' && verdict) out.push(`**Ingest stopped the run:** ${verdict}.`);
  for (const step of ['Ingest', 'Dedup']) {
    const rec = d.state.steps[step];
    if (rec?.state !== 'Failed') continue;
    const said = d.stepErrors[step];
    if (step === 'Ingest' && said && typeof verdict === 'string' && said.includes(verdict)) continue;
    out.push(`**${step} stopped the run:** ${said ?? rec.failureReason ?? 'no reason recorded'}.`);
  }
  return out;
}

export function funnel(d: ReportData): Section {
  const s = section('data', 'Data funnel');
  const limit = articleLimit(d);
  if (limit) s.paragraphs.push(limit);
  const verdicts = inputVerdicts(d);
  s.paragraphs.push(...verdicts);
  s.bullets.push(...verdicts.map((v) => v.replace(/\*\*/g, '')));
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
      rows: splits.map(([name, v]): Cell[] => [
        name,
        num(v.documents) ?? '-',
        num(v.tokens) ?? '-',
        num(v.blocks) ?? '-',
      ]),
    });
    const total = splits.reduce((a, [, v]) => a + (num(v.tokens) ?? 0), 0);
    s.bullets.push(`${fmtNumber(total)} tokens (${baseModelInfo(d)?.name ?? 'base model'} tokenizer)`);
  } else {
    s.paragraphs.push('The tokenize report is not available in this run.');
  }
  if (bars.length) {
    s.tables.unshift({ head: ['stage', 'documents'], rows: bars.map((b) => [b.label, b.value]) });
    s.figures.push({
      svg: barChart(bars, { title: 'Data funnel', axisLabel: 'documents (articles) at each stage' }),
      caption: 'Inputs, rejections by reason, kept documents and splits.',
    });
  }
  return s;
}
