import { eventRuns, eventStrip } from './chart-event-strip.js';
import { count, duration } from './format-values.js';
import { html, type Html } from './html.js';
import type { QuoteFacts, RunFacts, TimelineEvent } from './report-model.js';
import { digest, factList, section } from './tables.js';

/** Runs of one event type longer than this show their ends and fold the middle into <details>. */
const FOLD_OVER = 8;
const SHOWN_AT_START = 3;
const SHOWN_AT_END = 2;

/**
 * When: the run's times, then the event log from the session to the outputs with the two quotes
 * where they fall (the start quote right after the commitment, the end quote after the last
 * event). Long runs of one type (thousands of checkpoints) are folded: the page stays small to
 * lay out, and the folded events are still all there, as plain text.
 */
export function timelineSection(run: RunFacts): Html {
  const start = run.quotes.find((q) => q.phase === 'start');
  const end = run.quotes.find((q) => q.phase === 'end');
  const clockSpan =
    start?.clockMs !== undefined && end?.clockMs !== undefined
      ? Number(BigInt(end.clockMs) - BigInt(start.clockMs))
      : undefined;
  const runs = eventRuns(run.events.map((e) => e.type));
  return section(
    'timeline',
    'When',
    html`${factList([
      ['started', run.session?.startedAt],
      ['finished', run.exit?.finishedAt],
      ['command ran for', run.exit && duration(run.exit.durationMs)],
      [
        'TPM clock between the quotes',
        clockSpan === undefined
          ? undefined
          : `${duration(clockSpan)} (${start!.clockMs} ms → ${end!.clockMs} ms, reset count ${start!.resetCount})`,
      ],
      ['events', `${count(run.events.length)} in ${count(runs.length)} runs of one type`],
    ])}
<div class="strip">${eventStrip(runs, run.events.length, run.commitmentIndex)}</div>
<table class="timeline"><thead><tr><th>#</th><th>event</th><th>what</th><th>SHA-256</th></tr></thead><tbody>${runs.map(
      (r) => {
        const events = run.events.slice(r.from, r.to + 1);
        const rows =
          events.length <= FOLD_OVER
            ? events.map((e) => eventRow(e, run, start))
            : [
                events.slice(0, SHOWN_AT_START).map((e) => eventRow(e, run, start)),
                foldedRow(events.slice(SHOWN_AT_START, -SHOWN_AT_END)),
                events.slice(-SHOWN_AT_END).map((e) => eventRow(e, run, start)),
              ];
        return rows;
      },
    )}${quoteRow(end, 'end quote', 'binds the statement: the whole log, outputs included')}</tbody></table>`,
    !run.verified,
  );
}

function eventRow(e: TimelineEvent, run: RunFacts, start: QuoteFacts | undefined): Html {
  const row = html`<tr class="event ev-${e.type}"><td>${e.index}</td><td>${e.type}</td><td>${e.label || html`<span class="missing">(malformed: not summarized)</span>`}</td><td>${digest(e.digest)}</td></tr>`;
  return e.index === run.commitmentIndex
    ? html`${row}${quoteRow(start, 'start quote', 'binds the inputs: every event up to the commitment')}`
    : row;
}

function quoteRow(q: QuoteFacts | undefined, name: string, what: string): Html {
  const clock = q?.clockMs === undefined ? '' : ` (TPM clock ${q.clockMs} ms)`;
  return html`<tr class="quote"><td></td><td><strong>${name}</strong></td><td colspan="2">${what}${clock}</td></tr>`;
}

function foldedRow(events: readonly TimelineEvent[]): Html {
  const first = events[0]!;
  const last = events.at(-1)!;
  // Each line escaped on its own: a newline inside a label is shown as \n, the line breaks are ours.
  const lines = events.map((e) => html`${String(e.index).padStart(6)}  ${e.digest}  ${e.label}\n`);
  return html`<tr class="folded"><td colspan="4"><details><summary>${count(events.length)} more ${first.type} events (${count(first.index)}–${count(last.index)})</summary><pre class="folded-events">${lines}</pre></details></td></tr>`;
}
