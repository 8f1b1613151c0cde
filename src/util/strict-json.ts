/**
 * JSON objects read strictly from untrusted bytes: valid UTF-8, valid JSON, an object at the top,
 * and no key twice in any object. `JSON.parse` silently keeps the last of duplicate keys while
 * other parsers keep the first, so a file with duplicates can mean different things to different
 * readers; strict formats reject it.
 */

export type JsonProblem = 'not-utf8' | 'not-json' | 'not-object' | 'duplicate-key';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseJsonObject(
  bytes: Uint8Array,
  fail: (problem: JsonProblem, detail: string) => Error,
): Record<string, unknown> {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw fail('not-utf8', 'it is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw fail('not-json', `it is not valid JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(value)) throw fail('not-object', 'it is not a JSON object');
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined) throw fail('duplicate-key', `it repeats the key "${duplicate}" in one object`);
  return value;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The first object key that occurs twice in one object of `text`, or undefined. `text` must
 * already be known to be valid JSON (this scanner does not validate).
 */
export function findDuplicateKey(text: string): string | undefined {
  // One entry per open container: the keys seen so far for an object, null for an array.
  const open: Array<Set<string> | null> = [];
  let expectingKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const close = closingQuote(text, i);
      const keys = open[open.length - 1];
      if (keys && expectingKey) {
        const key = JSON.parse(text.slice(i, close + 1)) as string; // decodes escapes: "\u0041" is "A"
        if (keys.has(key)) return key;
        keys.add(key);
        expectingKey = false;
      }
      i = close;
    } else if (c === 0x7b /* { */) {
      open.push(new Set());
      expectingKey = true;
    } else if (c === 0x5b /* [ */) {
      open.push(null);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
    } else if (c === 0x2c /* , */) {
      expectingKey = open[open.length - 1] != null;
    }
  }
  return undefined;
}

function closingQuote(text: string, openingQuote: number): number {
  for (let j = openingQuote + 1; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === 0x5c /* \ */) j++;
    else if (c === 0x22) return j;
  }
  return text.length;
}
