/** Small, dependency-free SVG charts for the report and slides (inline, so the HTML is self-contained). */

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

const COLORS = ['#1f6feb', '#d1495b', '#2a9d8f', '#e9a23b', '#6a4c93'];

/** Ticks at round numbers between lo and hi. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(1);
  if (a >= 1000) return `${Math.round(v / 100) / 10}k`;
  return String(Number(v.toPrecision(3)));
}

/** A line chart with axes, ticks and a legend. */
export function lineChart(series: readonly Series[], opts: { title: string; xLabel: string; yLabel: string }): string {
  const W = 640;
  const H = 300;
  const m = { l: 64, r: 16, t: 32, b: 44 };
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(opts.title)}">`,
    `<title>${escapeXml(opts.title)}</title>`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">${escapeXml(opts.title)}</text>`,
  ];
  for (const t of niceTicks(y0, y1)) {
    parts.push(
      `<line x1="${m.l}" x2="${W - m.r}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#e5e7eb"/>`,
      `<text x="${m.l - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" font-size="11">${fmt(t)}</text>`,
    );
  }
  for (const t of niceTicks(x0, x1)) {
    parts.push(
      `<text x="${sx(t).toFixed(1)}" y="${H - m.b + 16}" text-anchor="middle" font-size="11">${fmt(t)}</text>`,
    );
  }
  parts.push(
    `<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#374151"/>`,
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#374151"/>`,
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${escapeXml(opts.xLabel)}</text>`,
    `<text transform="translate(14 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(opts.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    const d = pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)} ${sy(p[1]).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    if (pts.length <= 40) {
      for (const p of pts)
        parts.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="2.5" fill="${color}"/>`);
    }
    parts.push(
      `<rect x="${W - m.r - 150}" y="${m.t + 4 + i * 16}" width="10" height="10" fill="${color}"/>`,
      `<text x="${W - m.r - 136}" y="${m.t + 13 + i * 16}" font-size="11">${escapeXml(s.name)}</text>`,
    );
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

/** A horizontal bar chart (the data funnel). */
export function barChart(bars: readonly Bar[], opts: { title: string; unit?: string }): string {
  if (bars.length === 0) return '';
  const W = 640;
  const row = 24;
  const m = { l: 220, r: 80, t: 32, b: 12 };
  const H = m.t + m.b + bars.length * row;
  const max = Math.max(...bars.map((b) => b.value), 1);
  const sx = (v: number) => (v / max) * (W - m.l - m.r);
  const color = { keep: '#1f6feb', drop: '#d1495b', info: '#6b7280' };
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(opts.title)}">`,
    `<title>${escapeXml(opts.title)}</title>`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">${escapeXml(opts.title)}</text>`,
  ];
  bars.forEach((b, i) => {
    const y = m.t + i * row;
    const w = Math.max(sx(b.value), b.value > 0 ? 1 : 0);
    parts.push(
      `<text x="${m.l - 8}" y="${y + 16}" text-anchor="end" font-size="12">${escapeXml(b.label)}</text>`,
      `<rect x="${m.l}" y="${y + 4}" width="${w.toFixed(1)}" height="${row - 8}" fill="${color[b.kind ?? 'keep']}"/>`,
      `<text x="${(m.l + w + 6).toFixed(1)}" y="${y + 16}" font-size="12">${b.value.toLocaleString('en-US')}${opts.unit ? ` ${escapeXml(opts.unit)}` : ''}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}
