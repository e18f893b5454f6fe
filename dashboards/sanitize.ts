/**
 * @module dashboards/sanitize
 * Everything the dashboard shows that came from a capture or a file (payload text, pod and
 * interface names, comments, policy names, file names) passes through here before it
 * reaches blessed, so a capture cannot drive the terminal: control characters (C0, DEL,
 * C1, which includes the 8-bit CSI 0x9b) and invisible/bidi formatting characters are
 * shown as `\xHH` / `\u{HHHH}` text, so an escape sequence is displayed, inert, as
 * `\x1b[31m`. Blessed's tag braces are escaped separately by {@link escapeTags}, because
 * the pane renderers measure and cut plain text before adding tags.
 */

// C0 + DEL + C1; zero-width and bidi formatting; line/paragraph separators; BOM; lone
// surrogates and everything outside the BMP (blessed without fullUnicode mis-measures them).
const UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]|[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]/g;

function hex(cp: number): string {
  return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
}

/**
 * Makes one untrusted string safe to print on one line: no control or formatting characters
 * survive (they become visible `\xHH` escapes), nothing outside the Basic Multilingual Plane.
 * @param s untrusted text (may be undefined/null: gives '')
 * @returns printable single-line text; blessed tags are NOT escaped yet
 * @example sanitize('pod\x1b[2J') // 'pod\\x1b[2J'
 */
export function sanitize(s: string | number | undefined | null): string {
  if (s === undefined || s === null) return '';
  const text = typeof s === 'number' ? String(s) : String(s);
  return text.replace(UNSAFE, (m) => hex(m.codePointAt(0) ?? 0));
}

/**
 * Escapes blessed's tag syntax so `{bold}` in a pod name is shown as text, not applied.
 * @example escapeTags('{red-fg}') // '{open}red-fg{close}'
 */
export function escapeTags(s: string): string {
  return s.replace(/[{}]/g, (c) => (c === '{' ? '{open}' : '{close}'));
}

/** sanitize, cut or pad to exactly `width` columns, then escape tags: one table cell. */
export function cell(s: string | number | undefined | null, width: number, align: 'left' | 'right' = 'left'): string {
  return escapeTags(fit(sanitize(s), width, align));
}

/**
 * Cuts or pads plain (already sanitized) text to `width` columns; a cut is marked with `~`.
 */
export function fit(s: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (width <= 0) return '';
  if (s.length > width) return width === 1 ? '~' : s.slice(0, width - 1) + '~';
  return align === 'left' ? s.padEnd(width) : s.padStart(width);
}

/** sanitize then escape tags, without any width handling. */
export function safe(s: string | number | undefined | null): string {
  return escapeTags(sanitize(s));
}
