/**
 * @module traces/diff/json-diff
 * `summary.json` compared field by field, each difference named by its JSON path
 * (`summary.conservation.dropped: 0 -> 3`, `summary.dropsByReason[0].count`). The `outputs`
 * list is not compared here: the engine reports it as missing and extra files.
 */
import type { JsonDiff } from './types.ts';

function text(v: unknown): string | null {
  return v === undefined ? null : JSON.stringify(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Appends the differences between `e` and `a` under `path`; `ignored(path)` skips a subtree. */
export function diffJson(e: unknown, a: unknown, path: string, ignored: (path: string) => boolean, out: JsonDiff[]): void {
  if (ignored(path)) return;
  if (isObject(e) && isObject(a)) {
    const keys = [...Object.keys(e), ...Object.keys(a).filter((k) => !(k in e))];
    for (const k of keys) diffJson(e[k], a[k], `${path}.${k}`, ignored, out);
    return;
  }
  if (Array.isArray(e) && Array.isArray(a)) {
    const n = Math.max(e.length, a.length);
    for (let i = 0; i < n; i++) diffJson(e[i], a[i], `${path}[${i}]`, ignored, out);
    return;
  }
  const te = text(e);
  const ta = text(a);
  if (te !== ta) out.push({ path, expected: te, actual: ta });
}
