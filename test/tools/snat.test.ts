/**
 * `egresslab snat`: who collided, with which allocator, and the exit code CI can use.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, EGRESS_ALL } from './cli-run.ts';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'egresslab-snat-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('egresslab snat', () => {
  it('names who collided: five pods wanting port 40000, held by the first', () => {
    const cap = path.join(dir, 'col.pcap');
    expect(cli(['synth', 'collisions', '--pods', '6', '--port', '40000', '--out', cap]).code).toBe(0);
    const r = cli(['snat', cap, '--topology', `${cap}.topology.yaml`, '--policy', EGRESS_ALL, '--datapath', '1.17', '--allocators', 'cilium,linux,linux-random-fully']);
    expect(r.code).toBe(0);
    const sections = r.stdout.split(/\n(?=allocator )/);
    expect(sections.map((s) => s.split('\n')[0]!.split(' ')[1])).toEqual(['cilium-1.17', 'linux', 'linux-random-fully']);
    const [cilium, linux, fully] = sections as [string, string, string];
    expect(cilium).toContain('172.18.0.3 (k8s-guide-control-plane) -> TCP 172.18.0.7:80: 6 allocations, 5 collisions, 0 failures (167)');
    const held = cilium.split('\n').filter((l) => l.includes('wanted 40000, held by 10.0.0.31:40000; got '));
    expect(held).toHaveLength(5);
    // Every colliding pod got a port in Cilium's range, each a different one.
    const got = held.map((l) => Number(/got (\d+)/.exec(l)![1]));
    expect(new Set(got).size).toBe(5);
    for (const p of got) expect(p).toBeGreaterThanOrEqual(32768);
    // Linux's default range for ports >= 1024 is 1024-65535; it also keeps the first.
    expect(linux).toContain('6 allocations, 5 collisions');
    // random-fully never tries the original port first, so nothing "collides" on it.
    expect(fully).toContain('6 allocations, 0 collisions');
  });

  it('exits 1 when an allocation failed with 167, and lists the drops', () => {
    const cap = path.join(dir, 'exh.pcap');
    expect(cli(['synth', 'exhaustion', '--range', '40000-40007', '--extra', '3', '--out', cap]).code).toBe(0);
    const r = cli(['snat', cap, '--topology', `${cap}.topology.yaml`, '--policy', EGRESS_ALL, '--limit', '10']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/11 allocations, 3 collisions, 3 failures \(167\), 8\/8 ports in use/);
    expect(r.stdout.match(/DROP 167 after \d+ retries/g)).toHaveLength(3);
    // A failed allocation names the connection holding the port it wanted first.
    expect(r.stdout.match(/wanted 4000\d, held by 10\.0\.\d+\.\d+:\d+; DROP 167 after 128 retries/g)).toHaveLength(3);
    expect(r.stdout).toContain('k8s-guide-control-plane: SIGNAL_NAT_FILL_UP sent 3 times (allocations past SNAT_SIGNAL_THRES retries)');
  });

  it('rejects an unknown allocator with exit 2', () => {
    const r = cli(['snat', 'nothing.pcap', '--allocators', 'bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown allocator 'bogus'");
  });
});
