import type { RunEventType } from '../protocol/run-events.js';
import { html, type Html } from './html.js';
import { count } from './format-values.js';
import { svgRoot, type Box } from './svg.js';

/** Consecutive events of one type. */
export interface EventRun {
  type: string;
  /** Index of the first and of the last event of the run. */
  from: number;
  to: number;
}

const STRIP_BOX: Box = { width: 720, height: 86, left: 8, right: 8, top: 26, bottom: 30 };
// A record, not a copy of RUN_EVENT_TYPES: the renderer imports no runtime code from outside src/report
// (the browser renders it), and the compiler still checks that the styled types are exactly the run's.
const STYLED_TYPES: Record<RunEventType, true> = {
  session: true,
  environment: true,
  input: true,
  command: true,
  commitment: true,
  checkpoint: true,
  exit: true,
  output: true,
};
const KNOWN_TYPES: ReadonlySet<string> = new Set(Object.keys(STYLED_TYPES));

/**
 * The event log as one bar: a segment per run of events of one type, its width proportional to
 * the run's length, with the start quote after the commitment and the end quote after the last
 * event. One rectangle per run, not per event, so a 10,000-event log costs a handful of shapes.
 */
export function eventStrip(runs: readonly EventRun[], total: number, commitmentIndex: number | undefined): Html {
  const box = STRIP_BOX;
  const inner = box.width - box.left - box.right;
  // Runs get at least 6 px so that one-event runs stay visible next to thousands of checkpoints.
  const minWidth = 6;
  const weights = runs.map((r) => r.to - r.from + 1);
  const extra = Math.max(0, inner - minWidth * runs.length);
  const widths = weights.map((w) => minWidth + (extra * w) / Math.max(1, total));
  let at = box.left;
  const starts = widths.map((w) => {
    const start = at;
    at += w;
    return start;
  });
  const xAfter = (index: number) => {
    const r = runs.findIndex((run) => index >= run.from && index <= run.to);
    if (r < 0) return box.left;
    const run = runs[r]!;
    return starts[r]! + (widths[r]! * (index - run.from + 1)) / (run.to - run.from + 1);
  };
  const y = box.top;
  const h = box.height - box.top - box.bottom;
  const rects = runs.map(
    (r, i) =>
      html`<rect class="ev-${KNOWN_TYPES.has(r.type) ? r.type : 'other'}" x="${starts[i]!.toFixed(1)}" y="${y}" width="${widths[i]!.toFixed(1)}" height="${h}"><title>${r.type} × ${count(r.to - r.from + 1)} (events ${r.from}–${r.to})</title></rect>`,
  );
  const marker = (x: number, label: string, anchor: string) =>
    html`<g class="marker"><line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${y - 6}" y2="${y + h + 6}"/><text x="${x.toFixed(1)}" y="${y - 10}" text-anchor="${anchor}">${label}</text></g>`;
  const labels = runs.map((r, i) =>
    widths[i]! >= 60
      ? html`<text class="strip-label" x="${(starts[i]! + widths[i]! / 2).toFixed(1)}" y="${y + h + 16}" text-anchor="middle">${r.type}${r.to > r.from ? ` × ${count(r.to - r.from + 1)}` : ''}</text>`
      : '',
  );
  return svgRoot(
    box,
    `the event log: ${count(total)} events in ${runs.length} runs of one type`,
    html`${rects}${labels}${commitmentIndex === undefined ? '' : marker(xAfter(commitmentIndex), 'start quote', 'middle')}${marker(box.width - box.right, 'end quote', 'end')}`,
  );
}

/** Consecutive events of equal type, grouped. */
export function eventRuns(types: readonly string[]): EventRun[] {
  const runs: EventRun[] = [];
  for (const [i, type] of types.entries()) {
    const last = runs.at(-1);
    if (last && last.type === type) last.to = i;
    else runs.push({ type, from: i, to: i });
  }
  return runs;
}
