import { html, type Html, type HtmlValue } from './html.js';
import { sci } from './format-values.js';

/**
 * The pieces every chart is drawn with: an SVG root sized in CSS pixels (it scales down with the
 * page), linear and log scales, axis ticks. Charts are inline SVG, so the page loads nothing.
 */
export interface Box {
  width: number;
  height: number;
  /** Inner margins for axes and labels. */
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export const CHART_BOX: Box = { width: 640, height: 230, left: 64, right: 16, top: 34, bottom: 40 };

/** The SVG element; `label` is its accessible name and tooltip. */
export function svgRoot(box: Box, label: string, body: HtmlValue): Html {
  return html`<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${box.width} ${box.height}" width="${box.width}" height="${box.height}" role="img" aria-label="${label}"><title>${label}</title>${body}</svg>`;
}

export type Scale = (v: number) => number;

/** Maps [min, max] onto [from, to]; a zero-width domain maps to the middle. */
export function linearScale(min: number, max: number, from: number, to: number): Scale {
  if (!(max > min)) return () => (from + to) / 2;
  return (v) => from + ((v - min) / (max - min)) * (to - from);
}

/** Log10 scale on positive values; smaller values are clamped to `min`. */
export function logScale(min: number, max: number, from: number, to: number): Scale {
  const lin = linearScale(Math.log10(min), Math.log10(max), from, to);
  return (v) => lin(Math.log10(Math.max(v, min)));
}

/** About `n` round tick values covering [min, max]. */
export function linearTicks(min: number, max: number, n = 5): number[] {
  if (!(max > min)) return [min];
  const step0 = (max - min) / n;
  const magnitude = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((f) => f * magnitude).find((s) => s >= step0) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Powers of ten covering [min, max] (positive). */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) ticks.push(10 ** e);
  return ticks.filter((t) => t >= min * 0.999 && t <= max * 1.001);
}

/** A y axis with grid lines at `ticks`. */
export function yAxis(box: Box, y: Scale, ticks: readonly number[], title: string): Html {
  const x0 = box.left;
  const x1 = box.width - box.right;
  return html`<g class="axis">${ticks.map(
    (t) =>
      html`<line class="grid" x1="${x0}" x2="${x1}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}"/><text x="${x0 - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${sci(t)}</text>`,
  )}<text class="axis-title" transform="translate(12 ${(box.top + box.height - box.bottom) / 2}) rotate(-90)" text-anchor="middle">${title}</text></g>`;
}

/** An x axis title under the plot. */
export function xAxisTitle(box: Box, title: string): Html {
  return html`<text class="axis-title" x="${(box.left + box.width - box.right) / 2}" y="${box.height - 4}" text-anchor="middle">${title}</text>`;
}

/** A horizontal reference line (a tolerance, a chance level) with its label. */
export function referenceLine(box: Box, yPixel: number, label: string): Html {
  const y = yPixel.toFixed(1);
  return html`<g class="reference"><line x1="${box.left}" x2="${box.width - box.right}" y1="${y}" y2="${y}"/><text x="${box.width - box.right - 4}" y="${(yPixel - 4).toFixed(1)}" text-anchor="end">${label}</text></g>`;
}

/** A legend: coloured swatches with their names, in a row above the plot. */
export function legend(box: Box, entries: ReadonlyArray<{ name: string; className: string }>): Html {
  return html`<g class="legend">${entries.map(
    (e, i) =>
      html`<rect class="${e.className}" x="${box.left + i * 130}" y="6" width="10" height="10"/><text x="${box.left + i * 130 + 14}" y="15">${e.name}</text>`,
  )}</g>`;
}
