/**
 * @module traces/diff/options
 * Parsing of the diff's option values, shared by the CLI and the golden-test helper.
 */
import { UsageError } from '../errors.ts';

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

/** `ipv4.id,ts,inner.tcp` → entries; rejects empty or malformed ones. */
export function parseIgnoreList(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(',')) {
    const f = raw.trim();
    if (f === '') throw new UsageError(`--ignore: empty field name in '${text}'`);
    if (!FIELD_RE.test(f)) throw new UsageError(`--ignore: bad field name '${f}': use layer.field, a layer, ts or comment`);
    out.push(f.endsWith('.*') ? f.slice(0, -2) : f);
  }
  return out;
}
