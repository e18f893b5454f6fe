#!/usr/bin/env node
// `npm run build` (also run by `npm ci` through `prepare`): bundles the CLI into
// dist/cli.mjs with esbuild, so a command starts without compiling TypeScript on the fly.
// tools/bin.mjs uses the bundle only while its stamp matches the sources; after any edit it
// falls back to running the sources through tsx, so a stale bundle never runs.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
/** What every bundle shares. */
const common = {
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
};
const built = await esbuild.build({
  ...common,
  // The benchmark's jobs run from the same kind of bundle as the CLI, so they measure what a
  // user runs.
  // The live dashboard's thread is an entry of its own: a worker starts from a file.
  entryPoints: {
    cli: new URL('tools/cli.ts', root).pathname,
    'bench-job': new URL('tools/bench-job.ts', root).pathname,
    'dash-worker': new URL('dashboards/thread-worker.ts', root).pathname,
  },
  // Code behind a dynamic import() goes to its own chunk, loaded only when that import runs:
  // without splitting, esbuild inlines it and hoists its packages (yaml, blessed) to the top,
  // so every command and benchmark job paid ~0.1 s to load them.
  splitting: true,
  metafile: true,
});
// Chunk names carry a content hash: drop the ones this build no longer made.
const made = new Set(Object.keys(built.metafile.outputs).map((f) => f.split('/').pop()));
for (const f of readdirSync(new URL('dist/', root))) {
  if (/-[A-Z0-9]{8}\.mjs(\.map)?$/.test(f) && !made.has(f)) rmSync(new URL(`dist/${f}`, root));
}
// The capture jobs of the benchmark in one file of their own, without splitting: see
// tools/bench-capture.ts. They import no npm package, so nothing is hoisted.
await esbuild.build({ ...common, entryPoints: { 'bench-capture': new URL('tools/bench-capture.ts', root).pathname } });
writeFileSync(new URL('dist/stamp.txt', root), sourceStamp() + '\n');
