/**
 * @module traces/inert
 * Terminal safety for the command line: text that came from a capture or a file (comments,
 * interface, pod and policy names, values quoted in error messages) is printed inert.
 * Control characters (C0, DEL, C1, which includes the 8-bit CSI 0x9b) and invisible or
 * bidi formatting characters become visible `\xHH` / `\u{HHHH}` text, so an escape
 * sequence shows as `\x1b[31m` instead of acting on the terminal. The same set as the
 * dashboard's `sanitize`.
 */

// C0 + DEL + C1; soft hyphen, zero-width and bidi formatting; line/paragraph separators; BOM.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;
// The same, but newline and tab kept: for whole blocks of our own text with untrusted parts.
// eslint-disable-next-line no-control-regex
const UNSAFE_KEEP_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;

function visible(c: string): string {
  const cp = c.charCodeAt(0);
  return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
}

/**
 * One untrusted string, made safe to print on one line.
 * @example inert('pod\x1b[2J') // 'pod\\x1b[2J'
 */
export function inert(s: string): string {
  return s.replace(UNSAFE, visible);
}

/** A block of text (several lines): as {@link inert}, but newlines and tabs are kept. */
export function inertLines(s: string): string {
  return s.replace(UNSAFE_KEEP_LINES, visible);
}
