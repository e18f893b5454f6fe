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
  const progress =
    s.progress === undefined ? 'position ?' : `${bar(s.progress, 20)} ${(s.progress * 100).toFixed(0).padStart(3)}%`;
  const right = `pkts ${compact(s.packets)}  ${compact(s.pps)} pkt/s${st.speed ? `  speed ${st.speed}` : ''}  `;
  const clock = sanitize(s.clock) || '-';
  const inputRoom = Math.max(8, width - (right.length + statusLen + progress.length + clock.length + 32));
  let input = sanitize(s.input);
  if (input.length > inputRoom) input = '~' + input.slice(input.length - inputRoom + 1);
  let first = `egresslab  ${input}  datapath ${sanitize(s.datapath)}  ${progress}  ${clock}  ${right}`;
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
