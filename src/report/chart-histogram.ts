import { html, type Html } from './html.js';
import { sci } from './format-values.js';
import { CHART_BOX, legend, linearScale, linearTicks, svgRoot, xAxisTitle, yAxis, type Box } from './svg.js';

export interface HistogramSeries {
  name: string;
  className: string;
  values: readonly number[];
}

/**
 * Distributions of two or more samples on shared bins, drawn over each other (translucent) so
 * a shift between them shows: e.g. members' loss drops against the held-out records'.
 */
export function histogram(
  c: { label: string; series: readonly HistogramSeries[]; xTitle: string; bins?: number },
  box: Box = CHART_BOX,
): Html {
  const values = c.series.flatMap((s) => s.values).filter(Number.isFinite);
  const lo = values.length > 0 ? Math.min(...values) : 0;
  const hi0 = values.length > 0 ? Math.max(...values) : 1;
  const hi = hi0 > lo ? hi0 : lo + 1;
  const bins = c.bins ?? Math.min(20, Math.max(5, Math.ceil(Math.sqrt(values.length))));
  const width = (hi - lo) / bins;
  const counts = c.series.map((s) => {
    const n = new Array<number>(bins).fill(0);
    for (const v of s.values) if (Number.isFinite(v)) n[Math.min(bins - 1, Math.floor((v - lo) / width))]!++;
    return n;
  });
  const maxCount = Math.max(1, ...counts.flat());
  const bottom = box.height - box.bottom;
  const x = linearScale(lo, hi, box.left, box.width - box.right);
  const y = linearScale(0, maxCount, bottom, box.top);
  const bars = c.series.map((s, si) =>
    counts[si]!.map((k, b) => {
      if (k === 0) return '';
      const x0 = x(lo + b * width);
      const x1 = x(lo + (b + 1) * width);
      return html`<rect class="${s.className} bar" x="${(x0 + 0.5).toFixed(1)}" y="${y(k).toFixed(1)}" width="${Math.max(1, x1 - x0 - 1).toFixed(1)}" height="${(bottom - y(k)).toFixed(1)}"><title>${s.name}: ${k} in [${sci(lo + b * width)}, ${sci(lo + (b + 1) * width)})</title></rect>`;
    }),
  );
  const xTicks = linearTicks(lo, hi).map(
    (t) => html`<text class="tick" x="${x(t).toFixed(1)}" y="${bottom + 14}" text-anchor="middle">${sci(t)}</text>`,
  );
  const yTicks = linearTicks(0, maxCount, 4).filter((t) => Number.isInteger(t));
  return svgRoot(
    box,
    c.label,
    html`${yAxis(box, y, yTicks, 'count')}${bars}${xTicks}${xAxisTitle(box, c.xTitle)}${legend(box, c.series)}`,
  );
}
