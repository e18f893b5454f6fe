/**
 * @module traces/diff/options
 * Parsing of the diff's option values, shared by the CLI and the golden-test helper.
 */
import { UsageError } from '../errors.ts';
import { PACKET_FIELDS } from './compare.ts';

const UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9 };

/** `0`, `100ns`, `500us`, `1ms`, `1.5s` → nanoseconds. A bare number other than 0 needs a unit. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s)?$/.exec(text.trim());
  if (m === null) throw new UsageError(`bad duration '${text}': use e.g. 0, 500us, 1ms, 2s`);
  const n = Number(m[1]);
  if (m[2] === undefined) {
    if (n !== 0) throw new UsageError(`bad duration '${text}': give a unit (ns, us, ms, s)`);
    return 0;
  }
  return Math.round(n * UNITS[m[2]]!);
}

const FIELD_RE = /^[a-z0-9_]+(#\d+)?(\.[a-z0-9_]+(#\d+)?)*(\.\*)?$/i;

/**
 * `ipv4.id,ts,inner.tcp` → entries; rejects empty or malformed ones. Given the dissector's
 * layer names, also entries that start (after any `inner.` prefixes) with none of them, a
 * packet field, `frame` or (folder mode) `summary`: a typo would otherwise silently ignore
 * nothing. (The names come from the caller, as the dissector does: traces/ does not depend
 * on dataplane/.)
 */
export function parseIgnoreList(text: string, layerNames?: readonly string[]): string[] {
  const roots = layerNames ? new Set<string>([...layerNames, ...PACKET_FIELDS, 'frame', 'summary']) : undefined;
  const out: string[] = [];
  for (const raw of text.split(',')) {
    const f = raw.trim();
    if (f === '') throw new UsageError(`--ignore: empty field name in '${text}'`);
    if (!FIELD_RE.test(f)) throw new UsageError(`--ignore: bad field name '${f}': use layer.field, a layer, ts or comment`);
    const root = f.replace(/^(inner\.)+/i, '').split('.')[0]!.replace(/#\d+$/, '');
    if (roots && !roots.has(root)) {
      throw new UsageError(`--ignore: unknown layer or field '${root}' in '${f}': use one of ${[...roots].join(', ')}`);
    }
    out.push(f.endsWith('.*') ? f.slice(0, -2) : f);
  }
  return out;
}
