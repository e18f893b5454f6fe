#!/usr/bin/env node
// `npm run build` (also run by `npm ci` through `prepare`): bundles the CLI into
// dist/cli.mjs with esbuild, so a command starts without compiling TypeScript on the fly.
// tools/bin.mjs uses the bundle only while its stamp matches the sources; after any edit it
// falls back to running the sources through tsx, so a stale bundle never runs.
import { mkdirSync, writeFileSync } from 'node:fs';
import { sourceStamp } from './stamp.mjs';

const root = new URL('..', import.meta.url);
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.warn('egresslab build: esbuild not installed; commands will run through tsx');
  process.exit(0);
}
mkdirSync(new URL('dist/', root), { recursive: true });
await esbuild.build({
  // The benchmark's jobs run from the same kind of bundle as the CLI, so they measure what a
  // user runs.
  entryPoints: [new URL('tools/cli.ts', root).pathname, new URL('tools/bench-job.ts', root).pathname],
  outdir: new URL('dist/', root).pathname,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // npm packages stay in node_modules: blessed reads its terminfo files relative to itself.
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
writeFileSync(new URL('dist/stamp.txt', root), sourceStamp() + '\n');
