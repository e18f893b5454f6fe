#!/usr/bin/env node
// Entry point for `npx egresslab`. Runs the bundle `npm ci` built (dist/cli.mjs) when it was
// built from exactly the current sources; otherwise registers the TypeScript loader and runs
// the sources, so an edited checkout never runs stale code.
import { readFileSync } from 'node:fs';
import { sourceStamp } from './stamp.mjs';

let main;
try {
  const built = readFileSync(new URL('../dist/stamp.txt', import.meta.url), 'utf8').trim();
  if (built === sourceStamp()) ({ main } = await import('../dist/cli.mjs'));
} catch {
  // No bundle (or unreadable): fall through to the sources.
}
if (!main) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('./cli.ts'));
}
process.exitCode = await main(process.argv.slice(2));
