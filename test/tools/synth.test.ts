/**
 * `egresslab synth` through the CLI: every scenario writes a capture our reader reads back
 * (valid frames, the count it printed), mix honours --packets, stdout output; then each
 * scenario replayed through both datapath profiles conserves packets in summary.json; and
 * the exhaustion scenario SNATs exactly the range, then drops every extra connection with 167.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dissect } from '../../dataplane/packet/dissect.ts';
import type { Summary } from '../../traces/stats.ts';
import { EGRESS_ALL, cliAsync, expectConservation, expectNoTempFiles, listFiles, readCapture, readEvents, readSummary, tempDir, pooled, type RunResult } from './cli-run.ts';

const dir = tempDir('synth');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SCENARIOS = {
  lab: { args: [] as string[], topology: false },
  collisions: { args: ['--pods', '5'], topology: true },
  exhaustion: { args: ['--range', '32768-33023', '--extra', '16'], topology: true },
  mix: { args: ['--packets', '300', '--flows', '20'], topology: false },
} as const;
type Name = keyof typeof SCENARIOS;
const NAMES = Object.keys(SCENARIOS) as Name[];
const capture = (s: Name) => path.join(dir, `${s}.pcap`);
const replayDir = (s: Name, profile: string) => path.join(dir, `replay-${s}-${profile}`);

/** Indices of records whose time is before the previous record's. */
function backwardSteps(file: string): number[] {
  const recs = readCapture(file).records;
  const out: number[] = [];
  for (let i = 1; i < recs.length; i++) {
    const [a, b] = [recs[i - 1]!, recs[i]!];
    if (b.tsSec < a.tsSec || (b.tsSec === a.tsSec && b.tsNsec < a.tsNsec)) out.push(i);
  }
  return out;
}

const synthRuns = new Map<Name, RunResult>();
const summaries = new Map<string, Summary>();

async function must(args: string[], input?: Buffer): Promise<RunResult> {
  const r = await cliAsync(args, { input });
  if (r.code !== 0) throw new Error(`egresslab ${args.join(' ')} exited ${r.code}\n${r.stderr}`);
  return r;
}

beforeAll(async () => {
  const made = await pooled(NAMES.map((s) => () => must(['synth', s, '--out', capture(s), ...SCENARIOS[s].args])));
  NAMES.forEach((s, i) => synthRuns.set(s, made[i]!));
  const jobs: (() => Promise<void>)[] = [];
  for (const s of NAMES) {
    for (const profile of ['1.10', '1.17']) {
      jobs.push(async () => {
        const out = replayDir(s, profile);
        const topo = SCENARIOS[s].topology ? ['--topology', `${capture(s)}.topology.yaml`] : [];
        await must(['replay', capture(s), ...topo, '--policy', EGRESS_ALL, '--datapath', profile, '--out', out, '--events', path.join(out, 'events.jsonl')]);
        summaries.set(`${s}/${profile}`, readSummary(out));
      });
    }
  }
  // The lab's "before" (no policy): default local egress, masquerade per node.
  jobs.push(async () => {
    const out = path.join(dir, 'replay-lab-before');
    await must(['replay', capture('lab'), '--out', out]);
    summaries.set('lab/before', readSummary(out));
  });
  await pooled(jobs, 3);
});

describe('egresslab synth', () => {
  it.each(NAMES)('%s writes a readable capture of valid Ethernet/IPv4 frames, as many as it says', (s) => {
    const r = synthRuns.get(s)!;
    const m = /^wrote (\d+) packets to (.*)$/m.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(m![2]).toBe(capture(s));
    expect(r.stdout).toBe('');
    const cap = readCapture(capture(s));
    expect(cap.records.length).toBe(Number(m![1]));
    expect(cap.interfaces).toHaveLength(1);
    expect(cap.interfaces[0]!.linkType).toBe(1);
    for (const rec of cap.records) {
      const layers = dissect(rec.data, rec.linkType);
      expect(layers.map((l) => l.name).slice(0, 2)).toEqual(['eth', 'ipv4']);
      expect(layers.at(-1)!.fields.error).toBeUndefined();
      for (const l of layers) if ('checksum_ok' in l.fields) expect(l.fields.checksum_ok).toBe(true);
    }
    // Time never goes backwards in a client-side capture.
    expect(backwardSteps(capture(s))).toEqual([]);
    const topo = `${capture(s)}.topology.yaml`;
    expect(fs.existsSync(topo)).toBe(SCENARIOS[s].topology);
    if (SCENARIOS[s].topology) expect(r.stderr).toContain(`replay it with: egresslab replay ${capture(s)} --topology ${topo}`);
  });

  // Pods closer together than one exchange interleave; the capture must still be in time order.
  it('collisions: the pods start one millisecond apart and time never goes backwards', () => {
    const syns = readCapture(capture('collisions')).records.filter((r) => (dissect(r.data, 1).find((l) => l.name === 'tcp')!.fields.flags as number) === 0x02);
    expect(syns).toHaveLength(5);
    // Seconds times 1e9 exceeds 2^53: subtract the seconds first.
    const [s0, n0] = [syns[0]!.tsSec, syns[0]!.tsNsec];
    expect(syns.map((r) => (r.tsSec - s0) * 1e9 + r.tsNsec - n0)).toEqual([0, 1e6, 2e6, 3e6, 4e6]);
    expect(backwardSteps(capture('collisions'))).toEqual([]);
  });

  it('the counts of each scenario: lab 15, collisions 5 pods x 5, exhaustion 256 + 16 SYNs, mix --packets 300', () => {
    const count = (s: Name) => readCapture(capture(s)).records.length;
    expect(count('lab')).toBe(15);
    expect(count('collisions')).toBe(25);
    expect(count('exhaustion')).toBe(272);
    expect(count('mix')).toBe(300);
    // Collisions: every pod uses the same source port toward one ip:port.
    const tuples = new Set(
      readCapture(capture('collisions')).records.map((r) => {
        const l = dissect(r.data, 1);
        const ip = l.find((x) => x.name === 'ipv4')!.fields;
        const tcp = l.find((x) => x.name === 'tcp')!.fields;
        return `${tcp.sport} ${ip.dst}:${tcp.dport}`;
      }),
    );
    expect([...tuples]).toEqual(['40000 172.18.0.7:80']);
    expectNoTempFiles(dir);
  });

  it('collisions with fewer pods than the lab has: --pods 1 and 2 make that many, not 3', async () => {
    for (const n of [1, 2]) {
      const f = path.join(dir, `collisions-${n}.pcap`);
      await must(['synth', 'collisions', '--pods', String(n), '--out', f]);
      const sources = new Set(
        readCapture(f).records.map((r) => {
          const l = dissect(r.data, 1);
          const ip = l.find((x) => x.name === 'ipv4')!.fields;
          return String(ip.dst === '172.18.0.7' ? ip.src : ip.dst);
        }),
      );
      expect(sources.size).toBe(n);
      expect(readCapture(f).records).toHaveLength(5 * n);
    }
  });

  it('writes to stdout with --out - (the same bytes as the file), and pcapng with --format pcapng', async () => {
    const piped = await cliAsync(['synth', 'mix', '--packets', '300', '--flows', '20', '--out', '-']);
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe('');
    expect(piped.stdoutBytes!.equals(fs.readFileSync(capture('mix')))).toBe(true);
    const f = path.join(dir, 'mix.pcapng');
    const r = await must(['synth', 'mix', '--packets', '300', '--flows', '20', '--out', f, '--format', 'pcapng']);
    expect(r.stderr).toContain(`wrote 300 packets to ${f}`);
    const ng = readCapture(f);
    const classic = readCapture(capture('mix'));
    expect(ng.records.map((x) => Buffer.from(x.data).toString('hex'))).toEqual(classic.records.map((x) => Buffer.from(x.data).toString('hex')));
    expect(Buffer.from(fs.readFileSync(f).subarray(0, 4)).readUInt32LE(0)).toBe(0x0a0d0d0a);
  });

  it('exhaustion to stdout writes its topology to --topology-out, and refuses to run without one', async () => {
    const args = ['synth', 'exhaustion', ...SCENARIOS.exhaustion.args];
    const refused = await cliAsync([...args, '--out', '-']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('needs --topology-out FILE');
    expect(refused.stdoutBytes!.length).toBe(0);
    const topo = path.join(dir, 'piped-exhaustion.yaml');
    const piped = await cliAsync([...args, '--out', '-', '--topology-out', topo]);
    expect(piped.code).toBe(0);
    expect(piped.stderr).toContain(`wrote the topology it needs to ${topo}`);
    expect(piped.stdoutBytes!.equals(fs.readFileSync(capture('exhaustion')))).toBe(true);
    expect(fs.readFileSync(topo, 'utf8')).toBe(fs.readFileSync(`${capture('exhaustion')}.topology.yaml`, 'utf8'));
  });

  it('the same seed gives the same bytes; another seed another capture', async () => {
    const again = path.join(dir, 'mix-again.pcap');
    const other = path.join(dir, 'mix-seed2.pcap');
    await pooled([
      () => must(['synth', 'mix', '--packets', '300', '--flows', '20', '--out', again]),
      () => must(['synth', 'mix', '--packets', '300', '--flows', '20', '--out', other, '--seed', '2']),
    ]);
    expect(fs.readFileSync(again).equals(fs.readFileSync(capture('mix')))).toBe(true);
    expect(fs.readFileSync(other).equals(fs.readFileSync(capture('mix')))).toBe(false);
    expect(readCapture(other).records.length).toBe(300);
  });
});

describe('conservation in summary.json, every scenario, both profiles', () => {
  it.each(NAMES.flatMap((s) => ['1.10', '1.17'].map((p) => [s, p] as const)))('%s on %s', (s, profile) => {
    const sum = summaries.get(`${s}/${profile}`)!;
    expect(sum.datapath).toBe(profile);
    expect(sum.conservation.input).toBe(readCapture(capture(s)).records.length);
    expectConservation(sum);
    const outputs = listFiles(replayDir(s, profile));
    expect(outputs).toEqual([...sum.outputs, 'events.jsonl'].sort());
  });

  it('the lab before the policy conserves too, and nobody is dropped or ignored in the lab', () => {
    const before = summaries.get('lab/before')!;
    expectConservation(before);
    for (const key of ['lab/before', 'lab/1.10', 'lab/1.17']) {
      expect(summaries.get(key)!.conservation).toMatchObject({ input: 15, generated: 12, delivered: 12, sent: 15, dropped: 0, ignored: 0 });
    }
  });
});

describe('synth exhaustion: 167 once the range is used up, and not before', () => {
  it.each(['1.10', '1.17'])('%s: the first 256 connections are SNATed to distinct ports of the range, the 16 extra dropped with 167', (profile) => {
    const out = replayDir('exhaustion', profile);
    const s = summaries.get(`exhaustion/${profile}`)!;
    expect(s.conservation).toMatchObject({ input: 272, sent: 256, dropped: 16, ignored: 0 });
    expect(s.dropsByReason).toEqual([{ code: 167, text: 'No mapping for NAT masquerade', name: 'NO_MAPPING_FOR_NAT_MASQUERADE', count: 16 }]);
    const remote = s.egressIps.flatMap((e) => e.remotes);
    expect(remote).toHaveLength(1);
    expect(remote[0]).toMatchObject({ remote: 'TCP 172.18.0.8:443', rangeSize: 256, inUse: 256, failures: 16 });

    const events = readEvents(path.join(out, 'events.jsonl'));
    const dropped = events.filter((e) => e.flow.verdict === 'DROPPED');
    expect(dropped).toHaveLength(16);
    expect(dropped[0]!.egresslab.input_index).toBe(256);
    expect(dropped.map((e) => e.egresslab.input_index)).toEqual([...Array(16).keys()].map((i) => 256 + i));
    for (const e of dropped) {
      expect(e.flow.drop_reason).toBe(167);
      expect(e.flow.drop_reason_desc).toBe('NO_MAPPING_FOR_NAT_MASQUERADE');
      expect(e.node_name).toBe('k8s-guide-control-plane');
    }
    const translated = events.filter((e) => e.flow.verdict === 'TRANSLATED').map((e) => e.egresslab.input_index);
    expect(translated).toEqual([...Array(256).keys()]);

    // What the world saw: 256 SYNs from 172.18.0.3, each on its own port of 32768-33023.
    const gw = readCapture(path.join(out, 'k8s-guide-control-plane.pcapng'));
    const eth0 = gw.interfaces.findIndex((i) => i.name === 'k8s-guide-control-plane/eth0');
    const ports: number[] = [];
    for (const rec of gw.records) {
      if (rec.ifIndex !== eth0) continue;
      const l = dissect(rec.data, 1);
      if (l.some((x) => x.name === 'vxlan')) continue;
      const ip = l.find((x) => x.name === 'ipv4')!.fields;
      expect(ip.src).toBe('172.18.0.3');
      ports.push(l.find((x) => x.name === 'tcp')!.fields.sport as number);
    }
    expect(ports).toHaveLength(256);
    expect(new Set(ports).size).toBe(256);
    expect(Math.min(...ports)).toBe(32768);
    expect(Math.max(...ports)).toBe(33023);
  });
});
