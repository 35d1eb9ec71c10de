/** Small, dependency-free SVG charts for the report and slides (inline, so the HTML is self-contained). */

import { niceAxis, tickLabel } from './ticks.ts';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

export const COLORS = ['#1f6feb', '#d1495b', '#2a9d8f', '#e9a23b', '#6a4c93'];
const DASHES = ['', '7 4', '2 3', '10 3 2 3'];

/** Width of a label in an 11 px sans-serif font, generous enough that a legend is never clipped. */
export const textWidth = (s: string, px = 11) => Math.ceil(s.length * px * 0.62);

/** The opening of every chart: an SVG with an accessible name, a white ground and the title. */
export function svgFrame(W: number, H: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(title)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">${escapeXml(title)}</text>`,
  ];
}

/** Legend entries laid out left to right under the title, wrapping to a new row when the width runs out. */
function legendRows(names: readonly string[], width: number): { x: number; row: number }[] {
  let [x, row] = [0, 0];
  return names.map((n) => {
    const w = 32 + textWidth(n);
    if (x > 0 && x + w > width) [x, row] = [0, row + 1];
    const at = { x, row };
    x += w + 12;
    return at;
  });
}

/**
 * A line chart with named axes (the y label carries the unit), ticks that start and end the scale and read apart,
 * and a legend above the plot. Series differ in colour and dash pattern, so one drawn over another stays visible.
 */
export function lineChart(series: readonly Series[], opts: { title: string; xLabel: string; yLabel: string }): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  const W = 640;
  const legend =
    series.length > 1
      ? legendRows(
          series.map((s) => s.name),
          W - 80,
        )
      : [];
  const rows = legend.length ? Math.max(...legend.map((l) => l.row)) + 1 : 0;
  const m = { l: 72, r: 24, t: 34 + rows * 18, b: 46 };
  const H = 300 + rows * 18;
  const xa = niceAxis(Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0])));
  const ya = niceAxis(Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1])));
  const sx = (x: number) => m.l + ((x - xa.lo) / (xa.hi - xa.lo)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - ya.lo) / (ya.hi - ya.lo)) * (H - m.t - m.b);
  const yMax = Math.max(...ya.ticks.map(Math.abs));
  const xMax = Math.max(...xa.ticks.map(Math.abs));
  const parts = svgFrame(W, H, opts.title);
  for (const t of ya.ticks) {
    parts.push(
      `<line x1="${m.l}" x2="${W - m.r}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#e5e7eb"/>`,
      `<text x="${m.l - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" font-size="11">${tickLabel(t, ya.step, yMax)}</text>`,
    );
  }
  for (const t of xa.ticks) {
    parts.push(
      `<text x="${sx(t).toFixed(1)}" y="${H - m.b + 16}" text-anchor="middle" font-size="11">${tickLabel(t, xa.step, xMax)}</text>`,
    );
  }
  parts.push(
    `<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#374151"/>`,
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#374151"/>`,
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${escapeXml(opts.xLabel)}</text>`,
    `<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(opts.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const dash = DASHES[i % DASHES.length] ? ` stroke-dasharray="${DASHES[i % DASHES.length]}"` : '';
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    const d = pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)} ${sy(p[1]).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    if (pts.length <= 40) {
      for (const p of pts)
        parts.push(
          `<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="${3 - (i % 2)}" fill="${color}"/>`,
        );
    }
    const at = legend[i];
    if (at) {
      const y = 36 + at.row * 18;
      parts.push(
        `<line x1="${m.l + at.x}" x2="${m.l + at.x + 24}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="2"${dash}/>`,
        `<text x="${m.l + at.x + 30}" y="${y + 4}" font-size="11">${escapeXml(s.name)}</text>`,
      );
    }
  });
  parts.push('</svg>');
  return parts.join('');
}

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** 'keep' bars are drawn in the main colour, 'drop' bars in the rejection colour. */
  readonly kind?: 'keep' | 'drop' | 'info';
}

/** A horizontal bar chart (the data funnel): each bar labelled with its value, the axis named under the bars. */
export function barChart(bars: readonly Bar[], opts: { title: string; axisLabel: string }): string {
  if (bars.length === 0) return '';
  const W = 640;
  const row = 24;
  const m = { l: 220, r: 80, t: 32, b: 30 };
  const H = m.t + m.b + bars.length * row;
  const max = Math.max(...bars.map((b) => b.value), 1);
  const sx = (v: number) => (v / max) * (W - m.l - m.r);
  const color = { keep: '#1f6feb', drop: '#d1495b', info: '#6b7280' };
  const parts = svgFrame(W, H, opts.title);
  bars.forEach((b, i) => {
    const y = m.t + i * row;
    const w = Math.max(sx(b.value), b.value > 0 ? 1 : 0);
    parts.push(
      `<text x="${m.l - 8}" y="${y + 16}" text-anchor="end" font-size="12">${escapeXml(b.label)}</text>`,
      `<rect x="${m.l}" y="${y + 4}" width="${w.toFixed(1)}" height="${row - 8}" fill="${color[b.kind ?? 'keep']}"/>`,
      `<text x="${(m.l + w + 6).toFixed(1)}" y="${y + 16}" font-size="12">${b.value.toLocaleString('en-US')}</text>`,
    );
  });
  parts.push(
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle" font-size="12">${escapeXml(opts.axisLabel)}</text>`,
    '</svg>',
  );
  return parts.join('');
}
