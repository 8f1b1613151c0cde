/**
 * A structural JSON validator over bytes: does [start, end) hold exactly one JSON value
 * (RFC 8259, the grammar JSON.parse accepts), with optional whitespace around it?
 *
 * Why not JSON.parse: a JSONL line must be valid JSON, but parsing builds every object and string
 * of the value and first needs the bytes decoded to a JS string; on a 0.5 GB file of 1,000,000
 * lines that cost several times what hashing the records does. This only walks the bytes once,
 * building nothing, with an explicit stack (no recursion, so any nesting depth is safe; memory
 * is one entry per open bracket, bounded by the line length).
 *
 * It checks grammar only. UTF-8 validity is checked separately (`isUtf8` from node:buffer), as
 * bytes ≥ 0x80 may only stand inside strings, where the grammar accepts any of them. Like
 * JSON.parse after a fatal UTF-8 TextDecoder (the serial reference in records.ts), a leading
 * UTF-8 byte order mark is skipped. The tests compare it with JSON.parse on random inputs.
 */

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

const ARRAY = 0;
const OBJECT = 1;

/** Escapable characters after a backslash: " \ / b f n r t (u is handled apart). */
const SIMPLE_ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

function isWhitespace(c: number): boolean {
  return c === SPACE || c === TAB || c === LF || c === CR;
}

function skipWhitespace(b: Uint8Array, from: number, end: number): number {
  let i = from;
  while (i < end && isWhitespace(b[i]!)) i++;
  return i;
}

/** 0x01 in every byte of a 32-bit word, and the words that SWAR tests below compare against. */
const ONES = 0x01010101;
const HIGH_BITS = 0x80808080;
const QUOTES = QUOTE * ONES;
const BACKSLASHES = BACKSLASH * ONES;
const SPACES = SPACE * ONES;

/**
 * The buffer's bytes as 32-bit words, for reading string content four bytes at a time; the view
 * is kept for the last buffer seen, since a worker validates every line of a piece in turn.
 */
let wordsBuffer: ArrayBufferLike | undefined;
let wordsView: Int32Array<ArrayBufferLike> = new Int32Array(0);
function wordsOf(b: Uint8Array): Int32Array<ArrayBufferLike> {
  if (b.buffer !== wordsBuffer) {
    wordsBuffer = b.buffer;
    wordsView = new Int32Array(b.buffer, 0, b.buffer.byteLength >> 2);
  }
  return wordsView;
}

/**
 * `i` at an opening quote; the index after the closing quote, or -1. Most bytes of a JSONL record
 * are string content, so runs of ordinary characters are skipped a word at a time: a word holds
 * no quote, backslash or control character exactly when none of the three classic "has a zero
 * byte" / "has a byte below n" bit tests fires (they are exact as to whether some byte matches).
 */
function skipString(b: Uint8Array, from: number, end: number): number {
  const words = wordsOf(b);
  const base = b.byteOffset;
  let i = from + 1;
  while (i < end) {
    if (((base + i) & 3) === 0) {
      for (const last = end - 4; i <= last; i += 4) {
        const w = words[(base + i) >> 2]!;
        const q = w ^ QUOTES;
        const s = w ^ BACKSLASHES;
        if ((((q - ONES) & ~q) | ((s - ONES) & ~s) | ((w - SPACES) & ~w)) & HIGH_BITS) break;
      }
      if (i >= end) break;
    }
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      const e = i + 1 < end ? b[i + 1]! : 0;
      if (SIMPLE_ESCAPE[e] === 1) i += 2;
      else if (e === 0x75 && i + 5 < end && HEX[b[i + 2]!] && HEX[b[i + 3]!] && HEX[b[i + 4]!] && HEX[b[i + 5]!])
        i += 6;
      else return -1;
    } else if (c < SPACE) {
      return -1; // control characters must be escaped
    } else {
      i++;
    }
  }
  return -1;
}

function skipDigits(b: Uint8Array, from: number, end: number): number {
  let i = from;
  while (i < end && b[i]! >= ZERO && b[i]! <= NINE) i++;
  return i;
}

/** `i` at a '-' or digit; the index after the number, or -1. */
function skipNumber(b: Uint8Array, from: number, end: number): number {
  let i = from;
  if (b[i] === MINUS) i++;
  if (i >= end) return -1;
  if (b[i] === ZERO) i++;
  else if (b[i]! > ZERO && b[i]! <= NINE) i = skipDigits(b, i + 1, end);
  else return -1;
  if (i < end && b[i] === DOT) {
    const after = skipDigits(b, i + 1, end);
    if (after === i + 1) return -1;
    i = after;
  }
  if (i < end && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    if (i < end && (b[i] === PLUS || b[i] === MINUS)) i++;
    const after = skipDigits(b, i, end);
    if (after === i) return -1;
    i = after;
  }
  return i;
}

function skipLiteral(b: Uint8Array, i: number, end: number, literal: Uint8Array): number {
  if (end - i < literal.length) return -1;
  for (let k = 0; k < literal.length; k++) if (b[i + k] !== literal[k]) return -1;
  return i + literal.length;
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

/** True when bytes [start, end) are one JSON value with optional surrounding whitespace. */
export function isJsonText(b: Uint8Array, start: number, end: number): boolean {
  let i = start;
  if (end - i >= 3 && b[i] === 0xef && b[i + 1] === 0xbb && b[i + 2] === 0xbf) i += 3;
  const stack: number[] = [];
  // Each turn reads one value (after `expectKey`, a key and its colon first), then the
  // separators and closing brackets that follow it.
  let expectKey = false;
  for (;;) {
    i = skipWhitespace(b, i, end);
    if (expectKey) {
      if (i >= end || b[i] !== QUOTE) return false;
      i = skipString(b, i, end);
      if (i < 0) return false;
      i = skipWhitespace(b, i, end);
      if (i >= end || b[i] !== COLON) return false;
      i = skipWhitespace(b, i + 1, end);
      expectKey = false;
    }
    if (i >= end) return false;
    const c = b[i]!;
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const close = c === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET;
      const inner = skipWhitespace(b, i + 1, end);
      if (inner < end && b[inner] === close) {
        i = inner + 1; // an empty container is a complete value
      } else {
        stack.push(c === OPEN_BRACE ? OBJECT : ARRAY);
        expectKey = c === OPEN_BRACE;
        i = inner;
        continue;
      }
    } else if (c === QUOTE) {
      i = skipString(b, i, end);
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      i = skipNumber(b, i, end);
    } else if (c === 0x74) {
      i = skipLiteral(b, i, end, TRUE);
    } else if (c === 0x66) {
      i = skipLiteral(b, i, end, FALSE);
    } else if (c === 0x6e) {
      i = skipLiteral(b, i, end, NULL);
    } else {
      return false;
    }
    if (i < 0) return false;
    // After a value: close containers until a comma asks for the next value, or the text ends.
    for (;;) {
      i = skipWhitespace(b, i, end);
      if (stack.length === 0) return i === end;
      if (i >= end) return false;
      const top = stack[stack.length - 1];
      const next = b[i]!;
      if (next === COMMA) {
        i++;
        expectKey = top === OBJECT;
        break;
      }
      if (next !== (top === OBJECT ? CLOSE_BRACE : CLOSE_BRACKET)) return false;
      stack.pop();
      i++;
    }
  }
}
