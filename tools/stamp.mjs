// A hash of every source file the CLI is built from, so tools/bin.mjs can tell whether
// dist/cli.mjs was built from exactly these sources.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIRS = ['tools', 'traces', 'dataplane', 'dashboards'];

function walk(dir, out) {
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) walk(rel, out);
    else if (e.name.endsWith('.ts')) out.push(rel);
  }
}

export function sourceStamp() {
  const files = [];
  for (const d of DIRS) walk(d, files);
  files.sort();
  const h = createHash('sha1');
  for (const f of files) h.update(f).update('\0').update(readFileSync(join(ROOT, f))).update('\0');
  return h.digest('hex');
}
