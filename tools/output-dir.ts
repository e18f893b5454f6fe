/**
 * @module tools/output-dir
 * Output folders and files checked before any work: a folder created with a message that
 * names the real cause, and an output file path that is known not to be a folder.
 */
import { mkdirSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { OutputError } from '../traces/errors.ts';

/** What an errno means for a folder we were about to create in `parent`. */
function cause(code: string | undefined, parent: string): string {
  switch (code) {
    case 'EROFS':
      return `${parent} is read-only (EROFS)`;
    case 'EACCES':
    case 'EPERM':
      return `no permission to create a folder in ${parent} (${code})`;
    case 'ENOSPC':
      return `no space left in ${parent} (ENOSPC)`;
    case 'EDQUOT':
      return `disk quota exceeded in ${parent} (EDQUOT)`;
    default:
      return code ?? 'unknown error';
  }
}

/**
 * `mkdir -p dir`, returning the first folder it created (undefined when dir existed), like
 * mkdirSync(dir, { recursive: true }). Node's recursive mkdir reports ENOENT for a folder
 * under a read-only or unwritable parent; this one walks up to the first existing ancestor
 * and creates each missing level itself, so the message names the level that failed and why:
 * "cannot create the output folder: /mnt/ro is read-only (EROFS)".
 */
export function makeOutputDir(dir: string): string | undefined {
  const fail = (reason: string, err?: unknown): never => {
    throw new OutputError(`${dir}: cannot create the output folder: ${reason}`, err === undefined ? undefined : { cause: err });
  };
  // The missing levels, deepest first, up to the first path that exists.
  const missing: string[] = [];
  let p = resolve(dir);
  for (;;) {
    let st;
    try {
      st = statSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: a level above is a file; walk up to it and say so below.
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        const up = dirname(p);
        if (up === p) fail(`${p} does not exist`, err);
        missing.push(p);
        p = up;
        continue;
      }
      return fail(`${p}: ${(err as Error).message}`, err);
    }
    if (!st.isDirectory()) fail(missing.length === 0 ? `${p} exists and is not a folder` : `${p} is a file, not a folder`);
    break;
  }
  let first: string | undefined;
  for (const level of missing.reverse()) {
    try {
      mkdirSync(level);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statSync(level, { throwIfNoEntry: false })?.isDirectory()) continue; // made meanwhile
      fail(cause(code, dirname(level)), err);
    }
    first ??= level;
  }
  return first;
}

/**
 * An output file (events log) must be a path a file can be renamed onto: an existing folder
 * there would only fail at the final rename, after the whole job. Checked up front.
 */
export function checkOutputFile(file: string): void {
  const st = statSync(file, { throwIfNoEntry: false });
  if (st?.isDirectory()) throw new OutputError(`${file}: is an existing folder, not a file: give a file path`);
}

/**
 * Removes what an earlier replay wrote into `dir`, as its summary.json lists it, so a run
 * into the same folder leaves the same files as a run into a fresh one (a pcap run after a
 * pcapng one must not leave the old .pcapng beside the new files). Only files that summary
 * names are touched, and only inside `dir`; anything else in the folder stays.
 */
export function clearPreviousOutputs(dir: string): void {
  let listed: unknown;
  try {
    listed = (JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { outputs?: unknown }).outputs;
  } catch {
    return; // no earlier summary (or not ours): nothing to clear
  }
  if (!Array.isArray(listed)) return;
  const root = resolve(dir);
  const folders = new Set<string>();
  for (const entry of listed) {
    if (typeof entry !== 'string' || entry === '' || isAbsolute(entry)) continue;
    const file = resolve(root, entry);
    if (!file.startsWith(root + sep)) continue;
    rmSync(file, { force: true });
    for (let d = dirname(file); d !== root && d.startsWith(root + sep); d = dirname(d)) folders.add(d);
  }
  // Folders the earlier run made for its files (pcap's <node>/, maps/), once empty.
  for (const d of [...folders].sort((a, b) => b.length - a.length)) {
    try {
      rmdirSync(d);
    } catch {
      // not empty (the user's files) or already gone
    }
  }
}
