/**
 * @module dashboards/help
 * The key list, shown by `?` and copied into the README.
 */

export const KEYS: readonly (readonly [string, string])[] = [
  ['q, Ctrl-C', 'quit'],
  ['space', 'pause / resume'],
  ['n', 'step one packet (pauses first)'],
  ['+ / -', 'faster / slower'],
  ['tab, shift-tab', 'move between panes'],
  ['j / k, down / up', 'scroll the pane (conntrack: move the selection)'],
  ['g / G', 'top / bottom of the pane'],
  ['PgDn / PgUp', 'scroll a page'],
  ['/', 'filter the conntrack table (type, Enter to apply, Esc to clear)'],
  ['s', 'cycle the conntrack sort column'],
  ['enter', 'journey of the selected conntrack flow (as `egresslab explain`)'],
  ['esc', 'close the journey or help window'],
  ['?', 'this help'],
];

/** The help text as plain lines. */
export function helpLines(): string[] {
  const w = Math.max(...KEYS.map(([k]) => k.length));
  return ['Keys', '', ...KEYS.map(([k, d]) => `  ${k.padEnd(w)}  ${d}`), '', 'Press esc or ? to close.'];
}
