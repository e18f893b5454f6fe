/**
 * @module tools/golden-update
 * `npm run golden:update`: regenerates every golden scenario's expected outputs
 * (`test/golden/<scenario>/expected/`) from its inputs. A scenario whose scenario.json has
 * a `synth` block also gets its input capture (and topology, when the generator writes one)
 * regenerated first, so the whole folder follows from scenario.json and the seed.
 *
 * Usage: npm run golden:update [-- scenario ...]
 */
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runSynth } from './synth.ts';
import { runReplay } from './replay-core.ts';
import { readScenario, replayOptionsFor } from '../test/golden/helpers.ts';

const root = 'test/golden';
const only = process.argv.slice(2);
const dirs = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'scenario.json')))
  .map((d) => d.name)
  .filter((n) => only.length === 0 || only.includes(n))
  .sort();

for (const name of dirs) {
  const dir = join(root, name);
  const spec = readScenario(dir);
  if (spec.synth) {
    const res = runSynth({ ...spec.synth, out: join(dir, spec.input) });
    if (res.topologyFile) renameSync(res.topologyFile, join(dir, spec.topology ?? 'topology.yaml'));
  }
  const expected = join(dir, 'expected');
  rmSync(expected, { recursive: true, force: true });
  const res = await runReplay({ ...replayOptionsFor(dir, spec, expected), progress: false });
  const c = res.summary.conservation;
  process.stdout.write(`${name}: ${c.input} in, ${c.delivered} delivered, ${c.sent} sent, ${c.dropped} dropped, ${c.ignored} ignored -> ${expected}\n`);
}
