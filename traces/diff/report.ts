/**
 * @module traces/diff/report
 * The diff report as text for people (optionally coloured) and as JSON for machines. Text
 * from captures (comments, interface names, file names) is escaped: nothing in a capture may
 * reach the terminal as an escape sequence.
 */
import type { DiffReport, FieldValue, PacketDiff, PacketRef } from './types.ts';
import { inert } from '../inert.ts';

export interface TextOptions {
  /** ANSI colours (the CLI sets this only on a terminal without NO_COLOR). */
  color?: boolean;
}

/** Replaces control characters (C0, DEL, C1) and bidi/invisible formatting with visible escapes. */
export function safeText(s: string): string {
  return inert(s.replace(/\n/g, '\\n').replace(/\t/g, '\\t'));
}

function val(v: FieldValue): string {
  if (v === null) return '(absent)';
  if (typeof v === 'string') return safeText(v);
  return String(v);
}

export function formatJson(r: DiffReport): string {
  return JSON.stringify(r, null, 2);
}

export function formatText(r: DiffReport, o: TextOptions = {}): string {
  const c = o.color === true;
  const red = (s: string): string => (c ? `\x1b[31m${s}\x1b[0m` : s);
  const green = (s: string): string => (c ? `\x1b[32m${s}\x1b[0m` : s);
  const bold = (s: string): string => (c ? `\x1b[1m${s}\x1b[0m` : s);
  const dim = (s: string): string => (c ? `\x1b[2m${s}\x1b[0m` : s);
  const L: string[] = [];
  const s = r.summary;
  L.push(
    `${bold(r.same ? 'same' : 'DIFFERENT')}: ${safeText(r.expected)} (expected) vs ${safeText(r.actual)} (actual)` +
      (r.options.canonPorts ? ', canon-ports' : '') +
      (r.options.tsToleranceNs > 0 ? `, ts tolerance ${r.options.tsToleranceNs} ns` : '') +
      (r.options.ignore.length > 0 ? `, ignoring ${r.options.ignore.join(',')}` : ''),
  );
  L.push(
    `packets: ${s.expectedPackets} expected, ${s.actualPackets} actual: ${s.identical} identical, ${s.changed} changed, ` +
      `${s.missing} missing, ${s.extra} extra, ${s.moved} moved`,
  );
  for (const f of r.files.missing) L.push(red(`missing file: ${safeText(f)}`));
  for (const f of r.files.extra) L.push(green(`extra file: ${safeText(f)}`));
  for (const i of r.interfaces) {
    const name = safeText(i.name);
    if (i.status === 'missing') L.push(red(`missing interface ${name}: ${i.expectedPackets} packets in expected only`));
    else if (i.status === 'extra') L.push(green(`extra interface ${name}: ${i.actualPackets} packets in actual only`));
    else if (i.changed + i.missing + i.extra + i.moved > 0 || i.linkType !== undefined) {
      L.push(
        `interface ${name}: ${i.expectedPackets} vs ${i.actualPackets} packets: ${i.identical} identical, ${i.changed} changed, ` +
          `${i.missing} missing, ${i.extra} extra, ${i.moved} moved`,
      );
      if (i.linkType !== undefined) L.push(`  link type: ${i.linkType.expected} -> ${i.linkType.actual}`);
    }
  }
  if (r.packets.length > 0) L.push('');
  let lastIf = '';
  for (const p of r.packets) {
    if (p.interface !== lastIf && r.interfaces.length > 1) L.push(bold(`[${safeText(p.interface)}]`));
    lastIf = p.interface;
    L.push(packetLine(p, red, green));
    for (const f of p.fields) {
      L.push(`    ${f.field}: ${red(val(f.expected))} -> ${green(val(f.actual))}${f.note ? dim(`  (${safeText(f.note)})`) : ''}`);
    }
  }
  if (s.unlisted > 0) L.push(dim(`... ${s.unlisted} more packet differences not listed (--max-report)`));
  if (r.summaryJson.length > 0) {
    L.push('', 'summary.json:');
    for (const d of r.summaryJson) L.push(`  ${safeText(d.path)}: ${red(safeText(d.expected ?? '(absent)'))} -> ${green(safeText(d.actual ?? '(absent)'))}`);
  }
  if (r.canonPorts.length > 0) {
    L.push('');
    for (const i of r.canonPorts) L.push(red(i.message));
  }
  const fields = Object.entries(s.byField).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  if (fields.length > 0) {
    L.push('', 'per field:');
    for (const [f, n] of fields) L.push(`  ${f}: ${n}`);
  }
  const flows = Object.entries(s.byFlow);
  if (flows.length > 0) {
    L.push('', 'per flow:');
    const shown = flows.slice(0, 50);
    for (const [f, n] of shown) {
      const parts = (['changed', 'missing', 'extra', 'moved'] as const).filter((k) => n[k] > 0).map((k) => `${n[k]} ${k}`);
      L.push(`  ${safeText(f)}: ${parts.join(', ')}`);
    }
    if (flows.length > shown.length) L.push(dim(`  ... ${flows.length - shown.length} more flows`));
  }
  return L.join('\n');
}

function where(p: PacketRef): string {
  return `#${p.frame}`;
}

function packetLine(p: PacketDiff, red: (s: string) => string, green: (s: string) => string): string {
  const e = p.expected;
  const a = p.actual;
  const ref = e ?? a!;
  const tail = `${ref.time}  ${safeText(ref.flow)}`;
  switch (p.kind) {
    case 'changed':
      return `  changed  expected ${where(e!)} / actual ${where(a!)}  ${tail}`;
    case 'missing':
      return red(`  missing  expected ${where(e!)}  ${tail}`);
    case 'extra':
      return green(`  extra    actual ${where(a!)}  ${tail}`);
    case 'moved':
      return `  moved    expected ${where(e!)} -> actual ${where(a!)}  ${tail}`;
  }
}
