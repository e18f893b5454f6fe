/**
 * Without a capture observer the engine takes shortcuts nobody can see (records worked on
 * where the reader holds them, no Ethernet addresses written): the golden scenarios,
 * replayed with no observer at all and with events only, must give the counters their
 * expected summary.json holds, and the same events, Summary text included, as a run that
 * also writes every hop capture.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readScenario, replayOptionsFor } from '../golden/helpers.ts';
import { runReplay } from '../../tools/replay-core.ts';
import type { FlowEvent } from '../../traces/events.ts';

const golden = fileURLToPath(new URL('../golden/', import.meta.url));
const scenarios = readdirSync(golden, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(golden, d.name, 'scenario.json')))
  .map((d) => d.name)
  .sort();

/** The summary without what names the run's files. */
function counters(s: object): object {
  const { input: _input, outputs: _outputs, ...rest } = s as { input: unknown; outputs: unknown };
  return rest;
}

describe('the engine without a capture observer', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'egresslab-fastpath-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('covers every golden scenario, tunnelled ones included', () => {
    expect(scenarios).toEqual(expect.arrayContaining(['lab-after-1.10', 'lab-after-1.17', 'recorded-replies']));
  });

  for (const name of scenarios) {
    it(`${name}: the same counters and events as with captures`, async () => {
      const dir = join(golden, name);
      const spec = readScenario(dir);
      const { outDir: _unused, ...bare } = replayOptionsFor(dir, spec, tmp);
      const expected = JSON.parse(readFileSync(join(dir, 'expected', 'summary.json'), 'utf8')) as object;

      const plain = await runReplay({ ...bare, progress: false });
      expect(counters(plain.summary)).toEqual(counters(expected));

      const eventsOnly: FlowEvent[] = [];
      const withEvents = await runReplay({ ...bare, progress: false, onEvent: (e) => eventsOnly.push(e) });
      expect(counters(withEvents.summary)).toEqual(counters(expected));

      const eventsWithCaptures: FlowEvent[] = [];
      const out = join(tmp, name);
      await runReplay({ ...bare, outDir: out, progress: false, onEvent: (e) => eventsWithCaptures.push(e) });
      expect(eventsOnly.length).toBeGreaterThan(0);
      expect(eventsOnly).toEqual(eventsWithCaptures);
    });
  }
});
