import type { AuditReport } from '../audit/audit-report.js';
import { dotChart } from './chart-dots.js';
import { sci } from './format-values.js';
import type { Html } from './html.js';

/**
 * The replayed segments against the tolerance: for each, how far the replay landed from the
 * claimed checkpoint relative to the update it made (‖S′ − S_{i+1}‖ / ‖S′ − S_i‖), for the
 * weights and for the optimizer state, with δ as a line. A bit-exact replay is 0: a hollow dot on
 * the bottom edge. Under `exact` tolerance there is no line: only equal digests pass.
 */
export function replayChart(audit: AuditReport): Html | undefined {
  const replayed = audit.segments.filter((s) => s.replay);
  if (replayed.length === 0) return undefined;
  const ratio = (distance: number | undefined, update: number | undefined, same: boolean) =>
    same ? 0 : distance === undefined || update === undefined || update === 0 ? undefined : distance / update;
  const delta = toleranceDelta(audit);
  return dotChart({
    label: `replayed segments: distance to the claimed checkpoint relative to the replayed update${delta === undefined ? '' : `, against δ = ${sci(delta)}`}`,
    categories: replayed.map((s) => String(s.index)),
    series: [
      {
        name: 'weights',
        className: 'series-a',
        values: replayed.map((s) => ratio(s.replay!.distance, s.replay!.replayedUpdate, s.replay!.digestEqual)),
      },
      {
        name: 'optimizer state',
        className: 'series-b',
        values: replayed.map((s) =>
          ratio(s.replay!.optimizerDistance, s.replay!.optimizerReplayedUpdate, s.replay!.digestEqual),
        ),
      },
    ],
    xTitle: 'segment',
    yTitle: '‖S′−S_{i+1}‖ / ‖S′−S_i‖',
    scale: 'log',
    ...(delta !== undefined && { reference: { value: delta, label: `tolerance δ = ${sci(delta)}` } }),
  });
}

/** The δ the replays were judged against, if the tolerance has one. */
export function toleranceDelta(audit: AuditReport): number | undefined {
  const t = audit.parameters.tolerance;
  if (t.mode === 'relative') return t.delta;
  if (t.mode === 'calibrated') return audit.calibration?.delta;
  return undefined;
}
