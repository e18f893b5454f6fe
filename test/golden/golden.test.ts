/**
 * Golden scenarios: each folder's inputs replayed now must give the captures and
 * summary.json it holds under expected/ (regenerate with `npm run golden:update`).
 */
import { readdirSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { diffOutputs, expectReplayMatches, readScenario, replayOptionsFor } from './helpers.ts';
import { runReplay } from '../../tools/replay-core.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const scenarios = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(here, d.name, 'scenario.json')))
  .map((d) => d.name)
  .sort();

describe('golden scenarios', () => {
  it('has the scenarios issue 5 names', () => {
    expect(scenarios).toEqual(
      expect.arrayContaining(['lab-before-1.10', 'lab-after-1.10', 'lab-before-1.17', 'lab-after-1.17', 'collisions', 'exhaustion', 'excluded-cidrs', 'recorded-replies']),
    );
  });
  for (const name of scenarios) {
    it(`${name} replays to its expected captures and counters`, async () => {
      await expectReplayMatches(join(here, name));
    });
  }
});

describe('what the golden diff reports', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'egresslab-golden-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('1.10 vs 1.17 of the lab with the policy: the control-plane pod is encapsulated to itself in 1.10 only', () => {
    const { report, text } = diffOutputs(join(here, 'lab-after-1.10', 'expected'), join(here, 'lab-after-1.17', 'expected'));
    expect(report.same).toBe(false);
    // 1.10's summary says 1.10, 1.17's says 1.17.
    expect(text).toContain('summary.datapath: "1.10" -> "1.17"');
    // On the gateway node, 1.10 sends its own pod's packets through VXLAN to 172.18.0.3 itself;
    // 1.17 SNATs them locally: those hops are missing from 1.17's capture.
    const missingOnCp = report.packets.filter(
      (p) => p.kind === 'missing' && p.interface.startsWith('k8s-guide-control-plane.pcapng:') && p.expected?.flow.includes('10.0.0.31'),
    );
    expect(missingOnCp.length).toBeGreaterThan(0);
    expect(missingOnCp.some((p) => p.interface.endsWith('/cilium_vxlan'))).toBe(true);
  });

  it('two seeds: different without --canon-ports, the same with it', async () => {
    const dir = join(here, 'collisions');
    const spec = readScenario(dir);
    const out = join(tmp, 'collisions-seed-8');
    const res = await runReplay({ ...replayOptionsFor(dir, { ...spec, seed: 8 }, out), progress: false });
    expect(res.exitCode).toBe(0);
    const plain = diffOutputs(join(dir, 'expected'), out, { ignore: ['summary.seed'] });
    expect(plain.report.same).toBe(false);
    expect(plain.text).toMatch(/tcp\.(sport|dport)/);
    // Comments name the chosen port and the retries it took, and summary.egressIps counts
    // retries, seenByServers the ports the server saw: all legitimately differ between seeds.
    const canon = diffOutputs(join(dir, 'expected'), out, { canonPorts: true, ignore: ['summary.seed', 'summary.egressIps', 'summary.seenByServers', 'comment'] });
    expect(canon.text).not.toMatch(/tcp\.(sport|dport)/);
    expect(canon.report.same).toBe(true);
  });
});
