/**
 * Text rendering of a model description for `aicert measure --describe`: per model file, a table
 * of tensors (name, dtype, shape, parameters), then totals by dtype.
 */
import type { ModelComponent, ModelDescription, Totals } from '../measure/formats/model-description.js';
import { formatBytes } from './progress.js';

export function renderDescriptionText(description: ModelDescription): string {
  const lines: string[] = [];
  for (const component of description.components) lines.push(...renderComponent(component), '');
  const { totals } = description;
  lines.push(`total: ${summary(totals)}`);
  const dtypes = Object.entries(totals.byDtype).sort(([a], [b]) => (a < b ? -1 : 1));
  lines.push(
    ...table(
      ['dtype', 'tensors', 'parameters', 'bytes'],
      dtypes.map(([dtype, t]) => [dtype, count(t.tensors), count(t.parameters), formatBytes(t.bytes)]),
    ),
  );
  return `${lines.join('\n')}\n`;
}

function renderComponent(component: ModelComponent): string[] {
  const parameters = component.tensors.reduce((sum, t) => sum + t.parameters, 0);
  const bytes = component.files.reduce((sum, f) => sum + f.size, 0);
  const head = `${printable(component.entry)}: ${component.format}, ${count(component.tensors.length)} tensors, ` +
    `${count(parameters)} parameters, ${component.files.length} file(s), ${formatBytes(bytes)}`;
  const rows = component.tensors.map((t) => [printable(t.name), t.dtype, `[${t.shape.join(', ')}]`, count(t.parameters)]);
  const metadata = Object.entries(component.metadata).map(
    ([key, value]) => `  ${printable(key)} = ${printable(value.length > 80 ? `${value.slice(0, 77)}...` : value)}`,
  );
  return [head, ...table(['tensor', 'dtype', 'shape', 'parameters'], rows), ...(metadata.length ? ['metadata:', ...metadata] : [])];
}

function summary(totals: Totals): string {
  return `${count(totals.tensors)} tensors, ${count(totals.parameters)} parameters, ${formatBytes(totals.bytes)} of tensor data`;
}

/** Left-aligned columns, the last (numeric) right-aligned, indented two spaces. */
function table(header: string[], rows: string[][]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, col) => Math.max(...all.map((row) => row[col]!.length)));
  return all.map(
    (row) =>
      '  ' +
      row
        .map((cell, col) => (col === row.length - 1 ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!)))
        .join('  '),
  );
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** Control and bidirectional-override characters, which could rewrite what a terminal shows. */
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Names from model files are untrusted: if they hold unsafe characters they are shown quoted and escaped. */
function printable(text: string): string {
  const escaped = text.replace(UNSAFE_CHARACTERS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped === text ? text : `"${escaped}"`;
}
