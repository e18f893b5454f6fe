/**
 * @module dataplane/cluster/yaml-source
 * Reads a YAML file (one or many documents) into plain values plus a map from field path
 * (`spec.egress[0].podSelector`) to the 1-based line it sits on, so validation code can
 * work on plain data and still name the line of whatever it rejects.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments } from 'yaml';
import type { Node as YamlNode } from 'yaml';
import { ConfigError } from '../../traces/errors.ts';

/** One YAML document: its plain value and where each field path starts. */
export interface YamlDoc {
  file: string;
  value: unknown;
  /** 1-based line of the document's first content. */
  line: number;
  lines: Map<string, number>;
}

/** A JSON-like object as produced by the YAML loader. */
export type Obj = Record<string, unknown>;

export function readYamlFile(file: string): YamlDoc[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, undefined, undefined, `cannot read: ${(e as Error).message}`);
  }
  return parseYamlText(file, text);
}

export function parseYamlText(file: string, text: string): YamlDoc[] {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: true });
  const out: YamlDoc[] = [];
  // `parseAllDocuments` returns an EmptyStream (not an array) for an empty input.
  if (!Array.isArray(docs)) return out;
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const line = err.linePos?.[0]?.line ?? lc.linePos(err.pos[0]).line;
      throw new ConfigError(file, line, undefined, `YAML syntax: ${err.message.split('\n')[0]}`);
    }
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    // An empty document (e.g. after a trailing `---`) holds nothing to configure.
    if (doc.contents === null || value === null || value === undefined) continue;
    const lines = new Map<string, number>();
    const root = doc.contents as YamlNode;
    const line = root.range ? lc.linePos(root.range[0]).line : 1;
    walk(root, '', lines, lc, line);
    out.push({ file, value, line, lines });
  }
  return out;
}

function walk(node: unknown, path: string, lines: Map<string, number>, lc: LineCounter, at: number): void {
  if (isMap(node)) {
    for (const item of node.items) {
      if (!isPair(item)) continue;
      const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
      const keyNode = item.key as YamlNode | null;
      const line = keyNode?.range ? lc.linePos(keyNode.range[0]).line : at;
      const p = path === '' ? key : `${path}.${key}`;
      lines.set(p, line);
      walk(item.value, p, lines, lc, line);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const n = item as YamlNode | null;
      const line = n?.range ? lc.linePos(n.range[0]).line : at;
      const p = `${path}[${i}]`;
      lines.set(p, line);
      walk(item, p, lines, lc, line);
    });
  }
}

/**
 * Builds ConfigErrors for one document. `prefix` is prepended to every field path (e.g.
 * `items[2]` for an element of a `kind: List`), and line lookups fall back to the nearest
 * enclosing path that has a line.
 */
export class DocContext {
  constructor(readonly doc: YamlDoc, readonly prefix = '') {}

  path(field: string): string {
    if (this.prefix === '') return field;
    return field === '' ? this.prefix : field.startsWith('[') ? `${this.prefix}${field}` : `${this.prefix}.${field}`;
  }

  lineOf(field: string): number {
    let p = this.path(field);
    for (;;) {
      const l = this.doc.lines.get(p);
      if (l !== undefined) return l;
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      if (cut <= 0) return this.doc.line;
      p = p.slice(0, cut);
    }
  }

  error(field: string, reason: string): ConfigError {
    return new ConfigError(this.doc.file, this.lineOf(field), this.path(field) || undefined, reason);
  }

  child(prefix: string): DocContext {
    return new DocContext(this.doc, this.path(prefix));
  }

  // ---- typed accessors: each throws a ConfigError naming the field ----

  obj(v: unknown, field: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw this.error(field, `expected a mapping, got ${describe(v)}`);
    return v as Obj;
  }

  list(v: unknown, field: string): unknown[] {
    if (!Array.isArray(v)) throw this.error(field, `expected a list, got ${describe(v)}`);
    return v;
  }

  str(v: unknown, field: string): string {
    if (typeof v !== 'string' || v === '') throw this.error(field, `expected a non-empty string, got ${describe(v)}`);
    return v;
  }

  int(v: unknown, field: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw this.error(field, `expected an integer in ${min}..${max}, got ${describe(v)}`);
    }
    return v;
  }

  /** Rejects keys outside `allowed`; `hints` maps a known misspelling to the right name. */
  keys(o: Obj, field: string, allowed: readonly string[], hints: Record<string, string> = {}): void {
    for (const k of Object.keys(o)) {
      if (allowed.includes(k)) continue;
      const f = field === '' ? k : `${field}.${k}`;
      const hint = hints[k] ?? allowed.find((a) => a.toLowerCase() === k.toLowerCase());
      throw this.error(f, hint ? `unknown field '${k}' (did you mean '${hint}'?)` : `unknown field '${k}' (allowed: ${allowed.join(', ')})`);
    }
  }

  /** A string → string map (labels); numbers and booleans are refused like Kubernetes does. */
  labels(v: unknown, field: string): Record<string, string> {
    if (v === undefined || v === null) return {};
    const o = this.obj(v, field);
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(o)) {
      if (typeof val !== 'string') throw this.error(`${field}.${k}`, `label values must be strings, got ${describe(val)} (quote it)`);
      out[k] = val;
    }
    return out;
  }
}

export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}
