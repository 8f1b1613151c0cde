import { isUtf8 } from 'node:buffer';
import type { JsonProblem } from '../../util/strict-json.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Nesting allowed below the top-level object. Model headers nest three deep at most (a tensor
 * entry holding arrays); anything deeper is refused rather than built.
 */
const MAX_DEPTH = 16;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Strict JSON (RFC 8259) read in one pass over its bytes, one top-level member at a time, so
 * that a header of a million tensors is never built as one document: `JSON.parse` of an 18 MB
 * safetensors header held twenty times its size at once (the parsed tree, its text, a copy of
 * its entries, the duplicate-key scan). Only a member's value is built, and the caller checks
 * and drops it. The rules are those of util/strict-json.ts: valid UTF-8, valid JSON, an object
 * at the top, no key twice in any object (compared after unescaping); whitespace may follow.
 */
export class JsonMemberReader {
  private position = 0;

  constructor(
    private readonly bytes: Buffer,
    private readonly fail: (problem: JsonProblem, detail: string) => Error,
  ) {}

  /**
   * Calls `onMember(key)` for each member of the top-level object, in order; `onMember` must
   * read the value with `value()`. Repeated keys are refused before their value is read.
   */
  readObject(onMember: (key: string) => void): void {
    if (!isUtf8(this.bytes)) throw this.fail('not-utf8', 'it is not valid UTF-8');
    this.skipWhitespace();
    if (this.bytes[this.position] !== 0x7b /* { */) throw this.fail('not-object', 'it is not a JSON object');
    this.members(onMember);
    this.skipWhitespace();
    if (this.position !== this.bytes.length) throw this.syntax('text after the object');
  }

  /**
   * If the next value is an object, calls `onMember(key)` for each of its members as readObject
   * does, without building it, and returns true; otherwise reads nothing and returns false.
   */
  readMembers(onMember: (key: string) => void): boolean {
    this.skipWhitespace();
    if (this.bytes[this.position] !== 0x7b /* { */) return false;
    this.members(onMember);
    return true;
  }

  /** The next value, built (objects get own properties only, `__proto__` included). */
  value(depth = 1): JsonValue {
    this.skipWhitespace();
    const byte = this.bytes[this.position];
    switch (byte) {
      case 0x7b /* { */:
        {
          this.deeper(depth);
          const object: { [key: string]: JsonValue } = {};
          this.members((key) => {
            const value = this.value(depth + 1);
            // An own "__proto__" member, as JSON.parse makes it, not a prototype.
            if (key === '__proto__')
              Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
            else object[key] = value;
          });
          return object;
        }
      case 0x5b /* [ */:
        {
          this.deeper(depth);
          const array: JsonValue[] = [];
          this.position++;
          this.skipWhitespace();
          if (this.bytes[this.position] === 0x5d /* ] */) {
            this.position++;
            return array;
          }
          for (;;) {
            array.push(this.value(depth + 1));
            this.skipWhitespace();
            const next = this.bytes[this.position++];
            if (next === 0x5d) return array;
            if (next !== 0x2c /* , */) throw this.syntax('expected "," or "]"', this.position - 1);
          }
        }
      case QUOTE:
        return this.string();
      case 0x74 /* t */:
        return this.literal('true', true);
      case 0x66 /* f */:
        return this.literal('false', false);
      case 0x6e /* n */:
        return this.literal('null', null);
      default:
        return this.number();
    }
  }

  /** The members of the object whose '{' is at the current position. */
  private members(onMember: (key: string) => void): void {
    this.position++; // '{'
    const keys = new KeySet();
    this.skipWhitespace();
    if (this.bytes[this.position] === 0x7d /* } */) {
      this.position++;
      return;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.bytes[this.position] !== QUOTE) throw this.syntax('expected a key');
      const key = this.string();
      if (keys.has(key)) throw this.fail('duplicate-key', `it repeats the key "${key}" in one object`);
      keys.add(key);
      this.skipWhitespace();
      if (this.bytes[this.position++] !== 0x3a /* : */) throw this.syntax('expected ":"', this.position - 1);
      const before = this.position;
      onMember(key);
      if (this.position === before) throw new Error(`JsonMemberReader: the value of "${key}" was not read`);
      this.skipWhitespace();
      const next = this.bytes[this.position++];
      if (next === 0x7d) return;
      if (next !== 0x2c) throw this.syntax('expected "," or "}"', this.position - 1);
    }
  }

  private string(): string {
    const start = this.position + 1;
    let escaped = false;
    let at = start;
    for (;;) {
      const byte = this.bytes[at];
      if (byte === undefined) throw this.syntax('unterminated string', start - 1);
      if (byte === QUOTE) break;
      if (byte < 0x20) throw this.syntax('a control character inside a string', at);
      if (byte === BACKSLASH) {
        escaped = true;
        at++;
      }
      at++;
    }
    this.position = at + 1;
    // The whole text is valid UTF-8 (checked first), so decoding cannot replace anything.
    if (!escaped) return this.bytes.toString('utf8', start, at);
    try {
      return JSON.parse(this.bytes.toString('utf8', start - 1, at + 1)) as string;
    } catch {
      throw this.syntax('a bad escape in a string', start - 1);
    }
  }

  private literal(text: string, value: boolean | null): boolean | null {
    if (this.bytes.toString('latin1', this.position, this.position + text.length) !== text)
      throw this.syntax('unexpected text');
    this.position += text.length;
    return value;
  }

  /** -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
  private number(): number {
    const start = this.position;
    const bytes = this.bytes;
    let at = start;
    const digits = () => {
      const first = at;
      while (bytes[at]! >= 0x30 && bytes[at]! <= 0x39) at++;
      return at - first;
    };
    if (bytes[at] === 0x2d /* - */) at++;
    if (bytes[at] === 0x30 /* 0 */) at++;
    else if (digits() === 0) throw this.syntax('unexpected text', start);
    if (bytes[at] === 0x2e /* . */) {
      at++;
      if (digits() === 0) throw this.syntax('a number without digits after "."', start);
    }
    if (bytes[at] === 0x65 || bytes[at] === 0x45 /* e E */) {
      at++;
      if (bytes[at] === 0x2b || bytes[at] === 0x2d) at++;
      if (digits() === 0) throw this.syntax('a number without exponent digits', start);
    }
    this.position = at;
    return Number(bytes.toString('latin1', start, at));
  }

  private skipWhitespace(): void {
    for (;;) {
      const byte = this.bytes[this.position];
      if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) return;
      this.position++;
    }
  }

  private deeper(depth: number): void {
    if (depth > MAX_DEPTH) throw this.fail('not-json', `it nests values deeper than ${MAX_DEPTH} levels`);
  }

  private syntax(what: string, at = this.position): Error {
    return this.fail('not-json', `it is not valid JSON: ${what} at byte ${at}`);
  }
}

/**
 * The keys of one object, for the duplicate rule. Most objects here are tensor entries of three
 * keys: a short array for those, so that a million entries do not make a million Sets.
 */
class KeySet {
  private few: string[] | undefined = [];
  private many: Set<string> | undefined;

  has(key: string): boolean {
    return this.few ? this.few.includes(key) : this.many!.has(key);
  }

  add(key: string): void {
    if (!this.few) {
      this.many!.add(key);
    } else if (this.few.length < 8) {
      this.few.push(key);
    } else {
      this.many = new Set([...this.few, key]);
      this.few = undefined;
    }
  }
}
