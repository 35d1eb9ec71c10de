/** What every report section is made of (text, tables, figures, slide bullets) and the number format they share. */
import type { Json, JsonObject } from '../../pipeline-steps/local/types.ts';

export type Cell = string | number;

export interface Table {
  readonly head: string[];
  readonly rows: Cell[][];
  /** Long free text (answers): wrapped in fixed-width columns instead of sized to their longest word. */
  readonly prose?: boolean;
}

export interface Figure {
  readonly svg: string;
  readonly caption: string;
}

export interface Section {
  readonly id: string;
  readonly title: string;
  readonly paragraphs: string[];
  readonly tables: Table[];
  readonly figures: Figure[];
  /** Short bullet points for the slide deck. */
  readonly bullets: string[];
}

export function section(id: string, title: string): Section {
  return { id, title, paragraphs: [], tables: [], figures: [], bullets: [] };
}

export const isObj = (v: Json | undefined): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);
/** The object at a dotted path under `metrics` (`test_perplexity`, `suites.medical`), when it is one. */
export function sectionOf(metrics: JsonObject, path: string): JsonObject | undefined {
  let node: Json | undefined = metrics;
  for (const part of path.split('.')) node = isObj(node) ? node[part] : undefined;
  return isObj(node) ? node : undefined;
}

export const num = (v: Json | undefined): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : undefined;

export function fmtNumber(v: number): string {
  if (v === 0) return '0'; // and never "-0"
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return String(Number(v.toPrecision(4)));
}

export function cell(c: Cell): string {
  return typeof c === 'number' ? fmtNumber(c) : c;
}

/** An estimate `{value, ci95: [lo, hi]}` from evaluation.json, when it has a finite value. */
export interface Estimate {
  readonly value: number;
  readonly ci?: readonly [number, number];
}

export function estimate(v: Json | undefined): Estimate | undefined {
  if (typeof v === 'number') return num(v) === undefined ? undefined : { value: v };
  if (!isObj(v) || num(v.value) === undefined) return undefined;
  const ci = Array.isArray(v.ci95) ? v.ci95.map((x) => num(x)) : [];
  return {
    value: v.value as number,
    ...(ci.length === 2 && ci[0] !== undefined && ci[1] !== undefined ? { ci: [ci[0], ci[1]] as const } : {}),
  };
}

/** `0.102 [0.081, 0.12]`, or the value alone when there is no interval. */
export function fmtEstimate(e: Estimate, scale = 1): string {
  const f = (x: number) => fmtNumber(x * scale);
  return e.ci ? `${f(e.value)} [${f(e.ci[0])}, ${f(e.ci[1])}]` : f(e.value);
}
