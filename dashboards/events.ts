/**
 * @module dashboards/events
 * The last trace events, one line each, newest at the bottom (like `hubble observe`).
 */
import type { StatsSnapshot } from '../traces/stats.ts';
import { cell, type PaneContent } from './format.ts';

export function renderEvents(s: StatsSnapshot, width: number): PaneContent {
  const body = s.events.map((e) => {
    const verdict = cell(e.verdict, 10);
    const t = /T(\d\d:\d\d:\d\d(?:\.\d{1,3})?)/.exec(e.time)?.[1] ?? e.time;
    const color = e.verdict === 'DROPPED' ? 'red-fg' : e.verdict === 'TRANSLATED' ? 'cyan-fg' : '';
    const head = `${cell(t, 12)} ${color ? `{${color}}${verdict}{/${color}}` : verdict}`;
    return `${head} ${cell(e.text, Math.max(0, width - 24)).trimEnd()}`;
  });
  if (body.length === 0) body.push('{gray-fg}no events yet{/gray-fg}');
  return { title: `Events (last ${s.events.length})`, fixed: [], body };
}
