/**
 * dashboards/player: offline, `n` steps one input packet together with the answers the hosts
 * generated after it, as the live replay's step does (a generated reply was a step of its
 * own).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labPolicy } from '../../dataplane/cluster/policy.ts';
import { EventAccumulator } from '../../dashboards/accumulate.ts';
import { EventPlayer } from '../../dashboards/player.ts';
import { runReplay } from '../../tools/replay-core.ts';
import { runSynth } from '../../tools/synth.ts';

const dir = mkdtempSync(join(tmpdir(), 'egresslab-step-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('offline step', () => {
  it('n plays input packet 0 and the echo server\'s answer to it, then waits', async () => {
    const cap = join(dir, 'lab.pcap');
    const events = join(dir, 'lab.jsonl');
    runSynth({ scenario: 'lab', out: cap, seed: 1 });
    await runReplay({ input: cap, policyObjects: labPolicy(), events, progress: false });
    const acc = new EventAccumulator({ input: events });
    const player = new EventPlayer({ file: events, accumulator: acc, paused: true });
    const done = player.run();
    await sleep(200);
    expect(acc.snapshot().conservation).toMatchObject({ input: 0, generated: 0 });
    player.step();
    // Until the player waits again at input packet 1.
    let last = -1;
    for (let i = 0; i < 50; i++) {
      await sleep(20);
      const g = acc.snapshot().conservation.generated;
      if (g === last && g > 0) break;
      last = g;
    }
    const c = acc.snapshot().conservation;
    expect(c.input).toBe(1);
    expect(c.generated).toBeGreaterThan(0);
    player.stop();
    await done;
  });
});
