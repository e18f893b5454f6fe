/**
 * @module dashboards/header
 * Top lines: input, datapath profile, replay position as a progress bar, capture clock,
 * packets and packets/s, running/paused/finished; then the packet accounting and key hints.
 */
import type { StatsSnapshot } from '../traces/stats.ts';
import { bar, compact, safe, sanitize } from './format.ts';

export interface HeaderState {
  /** e.g. `2x`, `top speed`; empty when the caller does not report a speed. */
  speed: string;
  /** Active conntrack filter text, shown so the user sees why rows are missing. */
  filter: string;
  /** Text being typed after `/`, or undefined when not typing. */
  typing: string | undefined;
}

/** Two tagged lines of at most `width` visible columns. */
export function renderHeader(s: StatsSnapshot, width: number, st: HeaderState): string[] {
  const status = s.finished
    ? '{green-fg}{bold}FINISHED{/bold}{/green-fg}'
    : s.paused
      ? '{yellow-fg}{bold}PAUSED{/bold}{/yellow-fg}'
      : '{green-fg}RUNNING{/green-fg}';
  const statusLen = s.finished ? 8 : s.paused ? 6 : 7;
  const pct = s.progress === undefined ? 'position ?' : `${(s.progress * 100).toFixed(0).padStart(3)}%`;
  const progress = s.progress === undefined ? pct : `${bar(s.progress, 20)} ${pct}`;
  const clock = sanitize(s.clock) || '-';
  // Fields in order; when the line is too narrow whole fields go, least useful first (the
  // number says when), rather than cutting one mid-way. The input name shrinks before any.
  const fields: { text: string; drop: number }[] = [
    { text: 'egresslab', drop: 1 },
    { text: '', drop: 99 }, // the input, filled in below
    { text: `datapath ${sanitize(s.datapath)}`, drop: 4 },
    { text: progress, drop: 3 },
    { text: clock, drop: 5 },
    { text: `pkts ${compact(s.packets)}`, drop: 98 },
    { text: `${compact(s.pps)} pkt/s`, drop: 7 },
    ...(st.speed ? [{ text: `speed ${st.speed}`, drop: 2 }] : []),
  ];
  const room = width - statusLen - 1;
  const line = (): string => fields.filter((f) => f.text !== '').map((f) => f.text).join('  ') + '  ';
  const input = sanitize(s.input);
  const fitInput = (): void => {
    fields[1]!.text = input;
    const over = line().length - room;
    if (over > 0 && input.length > 8) {
      const keep = Math.max(8, input.length - over);
      // '...' rather than the panes' '~' cut mark: in front of a path '~' reads as $HOME.
      fields[1]!.text = '...' + input.slice(input.length - keep + 3);
    }
  };
  fitInput();
  for (let step = 1; line().length > room && step <= 7; step++) {
    const f = fields.find((x) => x.drop === step);
    if (!f) continue;
    // The progress bar first gives way to its percentage alone.
    if (f.text === progress && progress !== pct) f.text = pct;
    else f.text = '';
    fitInput();
    if (f.text === pct && line().length > room) {
      f.text = '';
      fitInput();
    }
  }
  let first = line();
  if (first.length + statusLen > width) first = first.slice(0, Math.max(0, width - statusLen - 1)) + ' ';
  const c = s.conservation;
  const acct = `in ${compact(c.input)} delivered ${compact(c.delivered)} sent ${compact(c.sent)} dropped ${compact(c.dropped)} ignored ${compact(c.ignored)} generated ${compact(c.generated)}`;
  const filter =
    st.typing !== undefined ? `  filter: /${sanitize(st.typing)}_` : st.filter ? `  filter: /${sanitize(st.filter)}` : '';
  const hints = '  ? help  q quit';
  let second = acct + filter;
  if (second.length + hints.length <= width) second += ' '.repeat(width - second.length - hints.length) + hints;
  else second = second.slice(0, width);
  return [`{bold}${safe(first)}{/bold}${status}`, safe(second)];
}
