import { html, type Html } from './html.js';
import { sci } from './format-values.js';
import {
  CHART_BOX,
  legend,
  linearScale,
  linearTicks,
  logScale,
  logTicks,
  referenceLine,
  svgRoot,
  xAxisTitle,
  yAxis,
  type Box,
} from './svg.js';

export interface DotSeries {
  name: string;
  /** CSS class of the dots (colour). */
  className: string;
  /** One value per category; undefined draws nothing. */
  values: ReadonlyArray<number | undefined>;
}

export interface DotChart {
  label: string;
  /** The x positions, e.g. segment numbers. */
  categories: readonly string[];
  series: readonly DotSeries[];
  xTitle: string;
  yTitle: string;
  scale: 'linear' | 'log';
  /** Fixed y range (linear charts); default: the data's range. */
  domain?: [number, number];
  reference?: { value: number; label: string };
}

/**
 * Values per category as dots, with an optional reference line: replayed distances against the
 * tolerance, AUCs against chance. On a log scale a value of 0 (an exact replay) cannot be placed:
 * it is drawn on the bottom edge as a hollow dot and its tooltip says 0.
 */
export function dotChart(c: DotChart, box: Box = CHART_BOX): Html {
  const values = c.series.flatMap((s) => s.values).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const all = c.reference ? [...values, c.reference.value] : values;
  const top = box.top;
  const bottom = box.height - box.bottom;
  let y: (v: number) => number;
  let ticks: number[];
  if (c.scale === 'log') {
    const positive = all.filter((v) => v > 0);
    const lo = positive.length > 0 ? 10 ** (Math.ceil(Math.log10(Math.min(...positive))) - 1) : 1e-6;
    // The decade above the largest value, so that a value on a power of ten is not on the edge.
    const hi = positive.length > 0 ? 10 ** (Math.floor(Math.log10(Math.max(...positive))) + 1) : 1;
    const min = lo;
    y = logScale(min, hi, bottom, top);
    ticks = logTicks(min, hi);
  } else {
    const [lo, hi] = c.domain ?? [Math.min(0, ...all), Math.max(...all, 1e-12)];
    y = linearScale(lo, hi, bottom, top);
    ticks = linearTicks(lo, hi);
  }
  const n = c.categories.length;
  const x = (i: number) => box.left + ((i + 0.5) / Math.max(1, n)) * (box.width - box.left - box.right);
  const labelEvery = Math.max(1, Math.ceil(n / 24));
  const dots = c.series.map((s, si) =>
    s.values.map((v, i) => {
      if (v === undefined || !Number.isFinite(v)) return '';
      const floor = c.scale === 'log' && v <= 0;
      const cx = (x(i) + (si - (c.series.length - 1) / 2) * 5).toFixed(1);
      return html`<circle class="${s.className}${floor ? ' floor' : ''}" cx="${cx}" cy="${y(v).toFixed(1)}" r="4"><title>${s.name}, ${c.categories[i]}: ${sci(v)}</title></circle>`;
    }),
  );
  const xLabels = c.categories.map((cat, i) =>
    i % labelEvery === 0
      ? html`<text class="tick" x="${x(i).toFixed(1)}" y="${bottom + 14}" text-anchor="middle">${cat}</text>`
      : '',
  );
  return svgRoot(
    box,
    c.label,
    html`${yAxis(box, y, ticks, c.yTitle)}${c.reference ? referenceLine(box, y(c.reference.value), c.reference.label) : ''}${xLabels}${dots}${xAxisTitle(box, c.xTitle)}${c.series.length > 1 ? legend(box, c.series) : ''}`,
  );
}
