/**
 * Text to show people (a terminal, an HTML report) from text that may carry bytes of input files:
 * error messages quote file names, JSON members and YAML keys, and an ESC or BEL among them would
 * reach a terminal as a control sequence (move the cursor, retitle the window, hide the rest of
 * the line); on a page a bidirectional override would reorder a digest or a file name. Every code
 * point that is not printable is written as an escape instead: C0 and C1 controls, DEL, the
 * bidirectional overrides and isolates that reorder how a line is shown (CVE-2021-42574), line
 * and paragraph separators, and lone surrogates. A backslash stays as it is.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]/gu;

/** `text` with every unprintable code point escaped: "\n", "\t", "\r" or "\xHH" / "\u{HHHH}". */
export function visibleText(text: string, keepNewlines = false): string {
  return text.replace(UNPRINTABLE, (c) => {
    if (c === '\n') return keepNewlines ? c : '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
