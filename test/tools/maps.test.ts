/**
 * `egresslab maps` as a real process: the seed's bpftool dump byte for byte, `cilium bpf
 * egress list` for both datapaths, and the NAT/CT tables after --replay.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CEGP_EXCLUDED, SEED_FILE, cliAsync, ok, pooled, tempDir, type RunResult } from './cli-run.ts';

const dir = tempDir('maps');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const LAB = path.join(dir, 'lab.pcap');
const r = new Map<string, RunResult>();

beforeAll(async () => {
  ok(['synth', 'lab', '--out', LAB]);
  const cases: Record<string, string[]> = {
    plain: ['maps'],
    cilium110: ['maps', '--format', 'cilium'],
    cilium117: ['maps', '--format', 'cilium', '--datapath', '1.17'],
    node: ['maps', '--node', 'k8s-guide-worker2', '--format', 'cilium', '--datapath', '1.17'],
    replay: ['maps', '--replay', LAB],
    natOnly: ['maps', '--replay', LAB, '--table', 'nat', '--node', 'k8s-guide-control-plane'],
    cegp: ['maps', '--policy', CEGP_EXCLUDED, '--format', 'cilium'],
  };
  const names = Object.keys(cases);
  const res = await pooled(names.map((n) => () => cliAsync(cases[n]!)));
  names.forEach((n, i) => {
    expect(res[i]!.code, `${cases[n]!.join(' ')}: ${res[i]!.stderr}`).toBe(0);
    expect(res[i]!.stderr).toBe('');
    r.set(n, res[i]!);
  });
});

describe('egresslab maps', () => {
  it("with no files prints the seed's three bpftool lines and 'Found 3 elements', byte for byte", () => {
    const seed = fs.readFileSync(SEED_FILE, 'utf8').split('\n');
    const at = seed.findIndex((l) => l.startsWith('key: 30 00 00 00 0a 00 00 1f'));
    expect(at).toBeGreaterThan(0);
    expect(seed[at + 3]).toBe('Found 3 elements');
    expect(r.get('plain')!.stdout).toBe(seed.slice(at, at + 4).join('\n') + '\n');
  });

  it('--format cilium: the 1.10 `cilium bpf egress list` table', () => {
    expect(r.get('cilium110')!.stdout.split('\n').map((l) => l.trimEnd())).toEqual([
      'SRC IP & DST CIDR          EGRESS INFO',
      '10.0.0.31 172.18.0.0/16    172.18.0.3 172.18.0.3',
      '10.0.1.209 172.18.0.0/16   172.18.0.3 172.18.0.3',
      '10.0.2.14 172.18.0.0/16    172.18.0.3 172.18.0.3',
      '',
    ]);
  });

  it('--format cilium --datapath 1.17: per node, the egress IP only on the gateway', () => {
    const text = r.get('cilium117')!.stdout;
    const blocks = text.trimEnd().split(/\n\n/);
    expect(blocks.map((b) => b.split('\n')[0])).toEqual(['# k8s-guide-control-plane', '# k8s-guide-worker', '# k8s-guide-worker2']);
    for (const b of blocks) {
      const [, header, ...rows] = b.split('\n');
      expect(header!.split(/\s{2,}/).map((x) => x.trim())).toEqual(['Source IP', 'Destination CIDR', 'Egress IP', 'Gateway IP']);
      const egress = b.startsWith('# k8s-guide-control-plane') ? '172.18.0.3' : '0.0.0.0';
      expect(rows.map((x) => x.trim().split(/\s+/))).toEqual(
        ['10.0.0.31', '10.0.1.209', '10.0.2.14'].map((pod) => [pod, '172.18.0.0/16', egress, '172.18.0.3']),
      );
    }
    // --node picks one of the blocks, without the heading.
    expect(r.get('node')!.stdout).toBe(blocks[2]!.split('\n').slice(1).join('\n') + '\n');
  });

  it('a CEGP with excludedCIDRs lists the excluded /32 too', () => {
    const text = r.get('cegp')!.stdout;
    expect(text).toMatch(/172\.18\.0\.7\/32\s+/);
    expect(text).toMatch(/172\.18\.0\.0\/16\s+172\.18\.0\.3\s+172\.18\.0\.3/);
  });

  it('--replay prints NAT entries as `cilium bpf nat list` and the CT table, per node', () => {
    const text = r.get('replay')!.stdout;
    expect(text.startsWith('key: 30 00 00 00 0a 00 00 1f')).toBe(true);
    for (const node of ['k8s-guide-control-plane', 'k8s-guide-worker', 'k8s-guide-worker2']) {
      expect(text).toContain(`# ${node}: cilium bpf nat list\n`);
      expect(text).toContain(`# ${node}: cilium bpf ct list global\n`);
    }
    const gwNat = text.split('# k8s-guide-control-plane: cilium bpf nat list\n')[1]!.split('\n# ')[0]!.trim().split('\n');
    expect(gwNat).toHaveLength(6);
    for (const l of gwNat) {
      expect(l).toMatch(/^TCP (OUT 10\.0\.\d+\.\d+:\d+ -> 172\.18\.0\.7:80 XLATE_SRC 172\.18\.0\.3:\d+|IN 172\.18\.0\.7:80 -> 172\.18\.0\.3:\d+ XLATE_DST 10\.0\.\d+\.\d+:\d+) Created=\d+sec HostLocal=0$/);
    }
    expect(gwNat.filter((l) => l.startsWith('TCP OUT')).map((l) => l.split(' ')[2]!.split(':')[0])).toEqual(['10.0.0.31', '10.0.1.209', '10.0.2.14']);
    const ct = text.split('# k8s-guide-worker: cilium bpf ct list global\n')[1]!.split('\n# ')[0]!;
    expect(ct).toMatch(/TCP OUT 10\.0\.1\.209:\d+ -> 172\.18\.0\.7:80 /);
    // --table nat --node: only that table.
    const only = r.get('natOnly')!.stdout.trimEnd().split('\n');
    expect(only[0]).toBe('# k8s-guide-control-plane: cilium bpf nat list');
    expect(only.slice(1)).toEqual(gwNat);
  });
});
