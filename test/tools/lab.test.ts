/**
 * `npm start` (`egresslab lab`) as a real process: what the echo server answered each pod
 * before and after the policy, the seed's bpftool lines, the gateway's NAT table, the
 * captures it points at, and the same answers from the summaries it wrote.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_TSHARK, ROOT, SEED_FILE, expectConservation, expectNoTempFiles, listFiles, readCapture, readSummary, tempDir, tsharkFields, cliAsync, pooled, type RunResult } from './cli-run.ts';

const dir = tempDir('lab');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const OUT = path.join(dir, 'out');
const OUT17 = path.join(dir, 'out-1.17');
let npmStart: { status: number | null; stdout: string; stderr: string };
let lab17: RunResult;

const SEED_DUMP = fs.readFileSync(SEED_FILE, 'utf8').split('\n').filter((l) => /^key: 30 00 00 00 /.test(l) || l === 'Found 3 elements');

beforeAll(async () => {
  const started = cliAsync(['lab', '--out', OUT17, '--datapath', '1.17']);
  // npm start, as a user runs it (the output folder moved out of the checkout).
  npmStart = spawnSync('npm', ['start', '--silent', '--', '--out', OUT], { cwd: ROOT, encoding: 'utf8' });
  [lab17] = await pooled([() => started]);
});

function answers(stdout: string): { before: string[]; after: string[] } {
  const lines = stdout.split('\n');
  const b = lines.findIndex((l) => l.startsWith('before the policy'));
  const a = lines.findIndex((l) => l.startsWith("after 'make egress-setup'"));
  const pick = (from: number) => lines.slice(from + 1, from + 4).map((l) => l.trim().split(/\s+/));
  return { before: pick(b).map((w) => `${w[0]} ${w[1]} ${w.at(-1)}`), after: pick(a).map((w) => `${w[0]} ${w[1]} ${w.at(-1)}`) };
}

describe('npm start', () => {
  it('prints the three node IPs before the policy and 172.18.0.3 three times after it', () => {
    expect(npmStart.status, npmStart.stderr).toBe(0);
    const { before, after } = answers(npmStart.stdout);
    expect(before).toEqual([
      'net-tshoot-5ngbc (k8s-guide-control-plane) 172.18.0.3',
      'net-tshoot-pcgf8 (k8s-guide-worker) 172.18.0.5',
      'net-tshoot-gcj27 (k8s-guide-worker2) 172.18.0.6',
    ]);
    expect(after).toEqual([
      'net-tshoot-5ngbc (k8s-guide-control-plane) 172.18.0.3',
      'net-tshoot-pcgf8 (k8s-guide-worker) 172.18.0.3',
      'net-tshoot-gcj27 (k8s-guide-worker2) 172.18.0.3',
    ]);
    expect(npmStart.stdout).toContain("after 'make egress-setup' (CiliumEgressNATPolicy egress-all: 172.18.0.0/16 via 172.18.0.3):");
    expect(npmStart.stdout).toMatch(/^egresslab: the k8s-guide egress lab, Cilium 1\.10 datapath, seed 1\n/);
  });

  it("prints the seed's bpftool map dump byte for byte, and the gateway's NAT table", () => {
    const text = npmStart.stdout;
    expect(SEED_DUMP).toHaveLength(4);
    expect(text).toContain(`$ bpftool map dump pinned /sys/fs/bpf/tc/globals/cilium_egress_v4    # on k8s-guide-worker2\n${SEED_DUMP.join('\n')}\n`);
    const nat = text.split('\n').filter((l) => /^TCP (OUT|IN) /.test(l));
    expect(nat).toHaveLength(6);
    for (const pod of ['10.0.0.31', '10.0.1.209', '10.0.2.14']) {
      const out = nat.find((l) => l.startsWith(`TCP OUT ${pod}:`))!;
      expect(out).toMatch(new RegExp(`^TCP OUT ${pod.replace(/\./g, '\\.')}:(\\d+) -> 172\\.18\\.0\\.7:80 XLATE_SRC 172\\.18\\.0\\.3:(\\d+) Created=\\d+sec HostLocal=0$`));
      const [, sport, xport] = /:(\d+) -> .* 172\.18\.0\.3:(\d+)/.exec(out)!;
      expect(nat).toContain(`TCP IN 172.18.0.7:80 -> 172.18.0.3:${xport} XLATE_DST ${pod}:${sport} Created=${/Created=(\d+sec)/.exec(out)![1]} HostLocal=0`);
    }
  });

  it('writes both runs where it says, with summaries that agree with what it printed', () => {
    const gwCapture = path.join(OUT, 'after', 'k8s-guide-control-plane.pcapng');
    expect(npmStart.stdout).toContain(`tshark -r ${gwCapture} -d udp.port==8472,vxlan`);
    const files = listFiles(OUT);
    for (const run of ['before', 'after']) {
      for (const f of ['k8s-guide-control-plane.pcapng', 'k8s-guide-worker.pcapng', 'k8s-guide-worker2.pcapng', 'summary.json', 'events.jsonl', 'maps/k8s-guide-control-plane.txt']) {
        expect(files).toContain(`${run}/${f}`);
      }
    }
    expect(files).toContain('lab.pcap');
    expectNoTempFiles(OUT);
    const seen = (run: string) => {
      const s = readSummary(path.join(OUT, run));
      expectConservation(s);
      return s.seenByServers.map((x) => x.answered.trim());
    };
    expect(seen('before')).toEqual(['172.18.0.3', '172.18.0.5', '172.18.0.6']);
    expect(seen('after')).toEqual(['172.18.0.3', '172.18.0.3', '172.18.0.3']);
    expect(readCapture(gwCapture).records.length).toBeGreaterThan(0);
  });

  it.skipIf(!HAVE_TSHARK)('tshark (skipped when /usr/bin/tshark is missing): the printed command works on the printed path, the world sees 172.18.0.3', () => {
    const gwCapture = path.join(OUT, 'after', 'k8s-guide-control-plane.pcapng');
    expect(npmStart.stdout).toContain(`tshark -r ${gwCapture} -d udp.port==8472,vxlan`);
    const rows = tsharkFields(gwCapture, ['frame.interface_name', 'ip.src', 'ip.dst'], 'frame.interface_name == "k8s-guide-control-plane/eth0" && !vxlan && ip.dst == 172.18.0.7');
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(r[1]).toBe('172.18.0.3');
  });

  it('--datapath 1.17 gives the same answers', () => {
    expect(lab17.code, lab17.stderr).toBe(0);
    expect(lab17.stdout).toMatch(/Cilium 1\.17 datapath/);
    expect(answers(lab17.stdout)).toEqual(answers(npmStart.stdout));
    expect(readSummary(path.join(OUT17, 'after')).datapath).toBe('1.17');
  });
});
