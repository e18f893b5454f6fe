/**
 * @module dashboards/ports
 * Source-port allocation per egress IP and remote ip:port (the panel cilium/cilium#32152
 * asks for): a gauge of ports in use against the NAT range, a sparkline of allocations
 * over time per egress IP, the retries histogram, collisions, failures (drop 167), and a
 * strip of the port space with one character per bucket of ports.
 */
import type { PortStrip, RemotePortUsage, StatsSnapshot } from '../traces/stats.ts';
import { bar, compact, safe, sparkline, type PaneContent } from './format.ts';

/** One character per bucket: `.` free, `:` partly taken, `#` every port taken. */
export function portStrip(strip: PortStrip, width: number): string {
  const size = strip.max - strip.min + 1;
  if (width <= 0 || size <= 0) return '';
  const cols = Math.min(width, size);
  const counts = new Array<number>(cols).fill(0);
  for (const p of strip.ports) {
    if (p < strip.min || p > strip.max) continue;
    counts[Math.min(cols - 1, Math.floor(((p - strip.min) * cols) / size))]! += 1;
  }
  let out = '';
  for (let i = 0; i < cols; i++) {
    const lo = Math.ceil((i * size) / cols);
    const hi = Math.ceil(((i + 1) * size) / cols);
    const n = counts[i]!;
    out += n === 0 ? '.' : n >= hi - lo ? '#' : ':';
  }
  return out;
}

/**
 * Strips already drawn, per strip object: a live replay refreshes the strips once a second
 * but redraws up to ten times, and bucketing the ports of a mid-run capture (12 strips, up to
 * ~10k ports each) was an eighth of a redraw. A snapshot builds new strips rather than
 * editing old ones; the size and range are checked anyway.
 */
const stripText = new WeakMap<PortStrip, { width: number; min: number; max: number; count: number; text: string }>();

function cachedPortStrip(strip: PortStrip, width: number): string {
  const c = stripText.get(strip);
  if (c && c.width === width && c.min === strip.min && c.max === strip.max && c.count === strip.ports.length) return c.text;
  const text = portStrip(strip, width);
  stripText.set(strip, { width, min: strip.min, max: strip.max, count: strip.ports.length, text });
  return text;
}

/** Buckets the pane shows at most: the last one takes in the rest ("8+"). */
const SHOWN_RETRY_BUCKETS = 9;

/**
 * `retries 0:12█ 1:3▂ 2:0 3+:1▁`: count per bucket with a bar scaled to the largest bucket.
 * A longer histogram (the dataplane's has 33, up to "32+") is folded into 0..7 and 8+, so
 * it fits the pane and reads as the offline one does.
 */
export function retriesHistogram(all: number[]): string {
  if (all.length === 0) return 'retries -';
  const retries = all.length <= SHOWN_RETRY_BUCKETS
    ? all
    : [...all.slice(0, SHOWN_RETRY_BUCKETS - 1), all.slice(SHOWN_RETRY_BUCKETS - 1).reduce((a, b) => a + b, 0)];
  const bars = sparkline(retries, retries.length);
  const parts = retries.map((n, i) => {
    const label = i === retries.length - 1 && retries.length > 1 ? `${i}+` : `${i}`;
    return `${label}:${compact(n)}${(bars[i] ?? ' ').trim()}`;
  });
  return `retries ${parts.join(' ')}`;
}

function gaugeLine(u: RemotePortUsage, width: number): string {
  const ratio = u.rangeSize > 0 ? u.inUse / u.rangeSize : 0;
  const pct = `${(ratio * 100).toFixed(ratio >= 0.1 ? 0 : 1)}%`;
  const tail = ` ${u.inUse}/${u.rangeSize} ${pct}`;
  const inner = Math.max(5, Math.min(40, width - tail.length - 6));
  const g = bar(ratio, inner, '|', '.');
  const colour = u.inUse >= u.rangeSize ? 'red-fg' : ratio >= 0.8 ? 'yellow-fg' : 'green-fg';
  return `  in use {${colour}}${safe(g)}{/${colour}}${safe(tail)}`;
}

export function renderPorts(s: StatsSnapshot, width: number): PaneContent {
  const body: string[] = [];
  for (const ip of s.egressIps) {
    const spark = s.allocationsOverTime[ip.egressIp] ?? [];
    const head = `${ip.egressIp}${ip.node ? ` (${ip.node})` : ''}`;
    const sparkWidth = Math.max(0, Math.min(spark.length, width - head.length - 12));
    body.push(`{bold}${safe(head)}{/bold}  allocs ${sparkWidth > 0 ? `{cyan-fg}${safe(sparkline(spark, sparkWidth))}{/cyan-fg}` : '-'}`);
    for (const u of ip.remotes) {
      const failures = u.failures > 0 ? `{red-fg}failures(167) ${compact(u.failures)}{/red-fg}` : `failures(167) 0`;
      body.push(` ${safe(u.remote)}  allocs ${compact(u.allocations)}  collisions ${compact(u.collisions)}  ${failures}`);
      body.push(gaugeLine(u, width));
      body.push(`  ${safe(retriesHistogram(u.retries)).slice(0, Math.max(0, width - 2))}`);
      const strip = s.portStrips.find((p) => p.egressIp === ip.egressIp && p.remote === u.remote);
      if (strip) {
        const label = `  ${strip.min} `;
        const w = Math.max(1, width - label.length - String(strip.max).length - 3);
        body.push(`${label}{cyan-fg}${safe(cachedPortStrip(strip, w))}{/cyan-fg} ${strip.max}`);
      }
    }
    const o = ip.otherRemotes;
    if (o && o.remotes > 0) {
      const failures = o.failures > 0 ? `{red-fg}failures(167) ${compact(o.failures)}{/red-fg}` : `failures(167) 0`;
      body.push(` ${compact(o.remotes)} other remotes  allocs ${compact(o.allocations)}  collisions ${compact(o.collisions)}  ${failures}  in use ${compact(o.inUse)}`);
    }
  }
  if (body.length === 0) body.push('{gray-fg}no SNAT allocations yet{/gray-fg}');
  const failures = s.egressIps.reduce((a, ip) => a + ip.remotes.reduce((b, r) => b + r.failures, ip.otherRemotes?.failures ?? 0), 0);
  return { title: `Source ports${failures ? ` (${failures} allocations failed)` : ''}`, fixed: [], body };
}
