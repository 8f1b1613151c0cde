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
      3,
    ),
  );
  return `${lines.join('\n')}\n`;
}

function renderComponent(component: ModelComponent): string[] {
  const parameters = component.tensors.reduce((sum, t) => sum + t.parameters, 0);
  const bytes = component.files.reduce((sum, f) => sum + f.size, 0);
  const head =
    `${printable(component.entry)}: ${component.format}, ${plural(component.tensors.length, 'tensor')}, ` +
    `${plural(parameters, 'parameter')}, ${plural(component.files.length, 'file')}, ${formatBytes(bytes)}`;
  const rows = component.tensors.map((t) => [
    printable(t.name),
    t.dtype,
    `[${t.shape.join(', ')}]`,
    count(t.parameters),
  ]);
  const metadata = Object.entries(component.metadata).map(
    ([key, value]) => `  ${printable(key)} = ${printable(value.length > 80 ? `${value.slice(0, 77)}...` : value)}`,
  );
  return [
    head,
    ...table(['tensor', 'dtype', 'shape', 'parameters'], rows, 1),
    ...(metadata.length ? ['metadata:', ...metadata] : []),
  ];
}

function summary(totals: Totals): string {
  return `${plural(totals.tensors, 'tensor')}, ${plural(totals.parameters, 'parameter')}, ${formatBytes(totals.bytes)} of tensor data`;
}

/** Columns indented two spaces, the last `numericColumns` right-aligned, the others left-aligned. */
function table(header: string[], rows: string[][], numericColumns: number): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, col) => Math.max(...all.map((row) => row[col]!.length)));
  const firstNumeric = header.length - numericColumns;
  return all.map(
    (row) =>
      '  ' +
      row
        .map((cell, col) => (col >= firstNumeric ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!)))
        .join('  ')
        .trimEnd(),
  );
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

function plural(n: number, noun: string): string {
  return `${count(n)} ${noun}${n === 1 ? '' : 's'}`;
}

/** Control and bidirectional-override characters, which could rewrite what a terminal shows. */
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Names from model files are untrusted: if they hold unsafe characters they are shown quoted and escaped. */
function printable(text: string): string {
  const escaped = text.replace(UNSAFE_CHARACTERS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped === text ? text : `"${escaped}"`;
}
