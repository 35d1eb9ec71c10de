/**
 * Chart axes: a domain that starts and ends on a tick, ticks at 1, 2 or 5 × 10^k, and tick labels with exactly the
 * decimals the step needs, so that neighbouring ticks never read the same (10.28 and 10.30, not "10.3" twice).
 */

export interface Axis {
  readonly lo: number;
  readonly hi: number;
  readonly step: number;
  readonly ticks: number[];
}

/** The smallest of 1, 2, 5 × 10^k that cuts `span` into at most `count` intervals. */
export function niceStep(span: number, count: number): number {
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9)) ?? raw;
}

const round = (v: number) => Number(v.toPrecision(12));

/** An axis covering [min, max], widened to whole steps (a single value gets a window around it). */
export function niceAxis(min: number, max: number, count = 5): Axis {
  let [a, b] = [min, max];
  if (!(b > a)) {
    const half = a === 0 ? 1 : Math.abs(a) * 0.05;
    [a, b] = [a - half, b + half];
  }
  const step = niceStep(b - a, count);
  const lo = round(Math.floor(a / step + 1e-9) * step);
  const hi = round(Math.ceil(b / step - 1e-9) * step);
  const ticks: number[] = [];
  for (let i = 0; lo + i * step <= hi + step * 1e-9; i++) ticks.push(round(lo + i * step));
  return { lo, hi, step, ticks };
}

const decimals = (step: number) => Math.max(0, -Math.floor(Math.log10(step) + 1e-9));

/** A tick's label: k from 10,000, M and G from a million and a billion, decimals from the step. */
export function tickLabel(value: number, step: number, axisMax = Math.abs(value)): string {
  if (value === 0) return '0';
  for (const [scale, suffix, from] of [
    [1e9, 'G', 1e9],
    [1e6, 'M', 1e6],
    [1e3, 'k', 1e4],
  ] as const) {
    if (axisMax >= from) return `${(value / scale).toFixed(decimals(step / scale))}${suffix}`;
  }
  if (step < 1e-4) return value.toExponential(Math.max(0, decimals(step) + Math.floor(Math.log10(Math.abs(value)))));
  return value.toLocaleString('en-US', {
    minimumFractionDigits: decimals(step),
    maximumFractionDigits: decimals(step),
  });
}
