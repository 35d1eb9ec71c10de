/**
 * Base and the models compared with it (tuned, merge candidates), one panel per metric: each model's value as a dot
 * with its 95% interval as a whisker, in the order given, named under its dot.
 */
import type { Estimate } from './section.ts';
import { COLORS, escapeXml, svgFrame } from './svg.ts';
import { niceAxis, tickLabel } from './ticks.ts';

export interface Comparison {
  /** The metric, e.g. "Held-out PMC perplexity". */
  readonly title: string;
  /** The y axis: what is measured and its unit, e.g. "perplexity (lower is better)". */
  readonly axis: string;
  /** Base first, then the others; at least one. */
  readonly models: readonly { readonly name: string; readonly estimate: Estimate }[];
}

export function comparisonChart(panels: readonly Comparison[], title: string): string {
  if (panels.length === 0) return '';
  // wide enough that each model's name fits under its dot
  const W = Math.max(640, Math.max(...panels.map((p) => p.models.length)) * panels.length * 76 + panels.length * 70);
  const H = 290;
  const panelW = W / panels.length;
  const m = { l: 64, r: 14, t: 58, b: 34 };
  const parts = svgFrame(W, H, title);
  panels.forEach((p, i) => {
    const x0 = i * panelW;
    const lo = Math.min(...p.models.map(({ estimate: e }) => e.ci?.[0] ?? e.value));
    const hi = Math.max(...p.models.map(({ estimate: e }) => e.ci?.[1] ?? e.value));
    const axis = niceAxis(lo, hi, 4);
    const top = Math.max(...axis.ticks.map(Math.abs));
    const sy = (v: number) => H - m.b - ((v - axis.lo) / (axis.hi - axis.lo)) * (H - m.t - m.b);
    const left = x0 + m.l;
    const right = x0 + panelW - m.r;
    parts.push(
      `<text x="${(left + right) / 2}" y="44" text-anchor="middle" font-size="12" font-weight="600">${escapeXml(p.title)}</text>`,
      `<text transform="translate(${x0 + 14} ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle" font-size="11">${escapeXml(p.axis)}</text>`,
    );
    for (const t of axis.ticks) {
      const y = sy(t).toFixed(1);
      parts.push(
        `<line x1="${left}" x2="${right}" y1="${y}" y2="${y}" stroke="#e5e7eb"/>`,
        `<text x="${left - 5}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" font-size="10">${tickLabel(t, axis.step, top)}</text>`,
      );
    }
    parts.push(`<line x1="${left}" x2="${left}" y1="${m.t}" y2="${H - m.b}" stroke="#374151"/>`);
    p.models.forEach(({ name, estimate: e }, j) => {
      const x = left + ((right - left) * (j + 0.5)) / p.models.length;
      const color = COLORS[j % COLORS.length]!;
      if (e.ci) {
        const [y1, y2] = [sy(e.ci[0]).toFixed(1), sy(e.ci[1]).toFixed(1)];
        parts.push(
          `<line x1="${x}" x2="${x}" y1="${y1}" y2="${y2}" stroke="${color}" stroke-width="2"/>`,
          `<line x1="${x - 7}" x2="${x + 7}" y1="${y1}" y2="${y1}" stroke="${color}" stroke-width="2"/>`,
          `<line x1="${x - 7}" x2="${x + 7}" y1="${y2}" y2="${y2}" stroke="${color}" stroke-width="2"/>`,
        );
      }
      parts.push(
        `<circle cx="${x}" cy="${sy(e.value).toFixed(1)}" r="4.5" fill="${color}"/>`,
        `<text x="${x}" y="${H - m.b + 16}" text-anchor="middle" font-size="11">${escapeXml(name)}</text>`,
      );
    });
  });
  parts.push(
    `<text x="${W / 2}" y="${H - 4}" text-anchor="middle" font-size="10" fill="#4b5563">dot: value · whisker: 95% bootstrap interval</text>`,
    '</svg>',
  );
  return parts.join('');
}
