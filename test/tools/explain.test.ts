/**
 * `egresslab explain` as a real process: a packet's and a flow's journey in the seed's order,
 * with the map lookups and the rewrite of the source address at the gateway.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dissect } from '../../dataplane/packet/dissect.ts';
import { LAB_TOPOLOGY, cliAsync, ok, pooled, readCapture, tempDir, type RunResult } from './cli-run.ts';

const dir = tempDir('explain');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const LAB = path.join(dir, 'lab.pcap');
let packet5: RunResult;
let flow: RunResult;
let before: RunResult;
let missing: RunResult;
let evil: RunResult;
let sport = 0;
// A topology whose node name carries an OSC title change, a bell, a colour and a bidi override.
const EVIL_TOPOLOGY = path.join(dir, 'evil-topology.yaml');

beforeAll(async () => {
  ok(['synth', 'lab', '--out', LAB]);
  // Packet 5 is the SYN of the second pod (net-tshoot-pcgf8 on k8s-guide-worker).
  const tcp = dissect(readCapture(LAB).records[5]!.data, 1).find((l) => l.name === 'tcp')!.fields;
  sport = tcp.sport as number;
  fs.writeFileSync(EVIL_TOPOLOGY, fs.readFileSync(LAB_TOPOLOGY, 'utf8').replaceAll('k8s-guide-worker2', '"evil\\e]0;pwned\\a\\e[31m\\u202e"'));
  [packet5, flow, before, missing, evil] = await pooled([
    () => cliAsync(['explain', LAB, '--lab-policy', '--packet', '5']),
    () => cliAsync(['explain', LAB, '--lab-policy', '--flow', `10.0.1.209:${sport}->172.18.0.7:80/tcp`]),
    () => cliAsync(['explain', LAB, '--packet', '5']),
    () => cliAsync(['explain', LAB, '--packet', '99']),
    () => cliAsync(['explain', LAB, '--topology', EVIL_TOPOLOGY, '--packet', '10']),
  ]);
});

function inOrder(text: string, words: string[]): void {
  let at = -1;
  for (const w of words) {
    const i = text.indexOf(w, at + 1);
    expect(i, `'${w}' after position ${at}`).toBeGreaterThan(at);
    at = i;
  }
}

describe('egresslab explain', () => {
  it('--packet: the journey in the seed\'s order, the egress map lookup, the SNAT and the saddr rewrite', () => {
    expect(packet5.code, packet5.stderr).toBe(0);
    const t = packet5.stdout;
    expect(t.split('\n')[0]).toBe(`input packet 5  2021-08-30T12:00:01.000000000Z  10.0.1.209:${sport} -> 172.18.0.7:80 TCP [SYN]`);
    inOrder(t, [
      'k8s-guide-worker  lxc', 'bpf_lxc:from-container',
      // Each lookup right under the function that made it.
      'handle_ipv4_from_lxc', 'ct_lookup4', `lookup cilium_ct4_global [10.0.1.209:${sport} -> 172.18.0.7:80 TCP] -> NEW`, 'ct_create4',
      'lookup_ip4_remote_endpoint', 'lookup cilium_ipcache [172.18.0.7]',
      'lookup_ip4_egress_endpoint',
      'lookup cilium_egress_v4 [10.0.1.209 -> 172.18.0.7] -> 172.18.0.0/16 egress 172.18.0.3 tunnel 172.18.0.3',
      'encap_and_redirect_lxc',
      'k8s-guide-control-plane  cilium_vxlan  bpf_overlay:from-overlay',
      'k8s-guide-control-plane  eth0  bpf_host:to-netdev',
      'snat_v4_new_mapping',
      `snat_v4_new_mapping (cilium-1.10): candidates ${sport}; retries 0; chosen ${sport}`,
      'rewrite saddr 10.0.1.209 -> 172.18.0.3',
      'verdict TRANSLATED',
    ]);
    // "now" is the packet on the wire: the egress IP with the port SNAT kept.
    expect(t.trimEnd().split('\n').at(-1)).toBe(`        verdict TRANSLATED  now 172.18.0.3:${sport} -> 172.18.0.7:80 TCP [SYN]  (source_xlated 172.18.0.3, from 10.0.1.209)`);
  });

  it('--flow: every packet of the flow, request and reply, named by the pod-side tuple', () => {
    expect(flow.code, flow.stderr).toBe(0);
    const heads = flow.stdout.split('\n').filter((l) => /^(input|generated) packet/.test(l));
    expect(heads[0]).toBe(`input packet 5  2021-08-30T12:00:01.000000000Z  10.0.1.209:${sport} -> 172.18.0.7:80 TCP [SYN]`);
    expect(heads.filter((h) => h.startsWith('input packet')).map((h) => Number(h.split(' ')[2]))).toEqual([5, 6, 7, 8, 9]);
    // The echo server's answers come back to the egress IP and are rev-SNATed to the pod.
    expect(heads.some((h) => h.startsWith('generated packet') && h.includes(`172.18.0.7:80 -> 172.18.0.3:${sport}`)
    )).toBe(true);
    expect(flow.stdout).toContain('snat_v4_new_mapping');
    expect(flow.stdout).toContain('cilium_egress_v4');
  });

  it('without the policy: no egress map hit, masqueraded to the pod\'s own node', () => {
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).not.toContain('bpf_overlay:from-overlay');
    expect(before.stdout).toContain('rewrite saddr 10.0.1.209 -> 172.18.0.5');
    expect(before.stdout).not.toContain('k8s-guide-control-plane');
  });

  it('a packet the capture does not have: exit 1, says how many it has', () => {
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toBe('egresslab explain: the capture has no packet 99 (it has 15)\n');
  });

  it('a node name with escape sequences is printed inert', () => {
    expect(evil.code, evil.stderr).toBe(0);
    expect(evil.stdout).toContain('   1. evil\\x1b]0;pwned\\x07\\x1b[31m\\u{202e}  lxc');
    expect(evil.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/);
  });
});
