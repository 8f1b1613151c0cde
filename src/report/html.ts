import { visibleText } from '../util/visible-text.js';

/**
 * HTML built so that text from a certificate cannot become markup: every value interpolated into
 * an `html` template is escaped unless it is itself `Html` made by this module. Escaping covers
 * the five characters that end text or an attribute value (& < > " '), and unprintable code
 * points (controls, bidirectional overrides) are shown as visible escapes, as in the terminal.
 * Pure string code, no Node APIs: the page renderer runs in a browser as well.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type HtmlValue = Html | string | number | bigint | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text as HTML text or attribute content: nothing in it can open a tag, an attribute or an entity. */
export function escapeHtml(text: string): string {
  return visibleText(text).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function fragment(value: HtmlValue): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(fragment).join('');
  if (value === null || value === undefined || value === false || value === true) return '';
  return escapeHtml(String(value));
}

/** A template whose interpolations are escaped (`Html` values and arrays of them are kept as they are). */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += fragment(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** Markup this code wrote itself (constant CSS, an SVG the chart helpers built), never input text. */
export function trusted(markup: string): Html {
  return new Html(markup);
}
