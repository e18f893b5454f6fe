/**
 * The dashboard fed by real replays (not hand-built snapshots): the lab before and after the
 * policy, the exhaustion scenario, and a capture whose payload carries escape sequences.
 * Rendered headless to a fake terminal; assertions read the screen text.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EventAccumulator } from '../../dashboards/accumulate.ts';
import { startDashboard, type DashboardHandle } from '../../dashboards/dashboard.ts';
import { labPolicy } from '../../dataplane/cluster/policy.ts';
import type { FlowEvent } from '../../traces/events.ts';
import { formatJourney } from '../../traces/journey.ts';
import type { StatsSnapshot } from '../../traces/stats.ts';
import { runSynth } from '../../tools/synth.ts';
import { runReplay, type ReplayOptions } from '../../tools/replay-core.ts';
import { fakeTerminal } from './fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'egresslab-dash-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const open: DashboardHandle[] = [];
afterEach(() => {
  for (const d of open.splice(0)) d.stop();
});

const noop = () => {};
/** The dashboard on a fake 160x48 terminal, rendered once; journeys from `journey`. */
function show(getSnapshot: () => StatsSnapshot, journey: (id: string) => string[] = () => []) {
  const term = fakeTerminal(160, 48);
  const d = startDashboard({
    getSnapshot,
    controls: { pause: noop, resume: noop, step: noop, faster: noop, slower: noop, quit: noop, journey },
    input: term.input,
    output: term.output,
    terminal: 'xterm-256color',
    refreshMs: 60_000,
  });
  open.push(d);
  d.render();
  return { d, term };
}

async function replayed(o: Omit<ReplayOptions, 'onStart' | 'progress'>): Promise<string> {
  let snap: (() => StatsSnapshot) | undefined;
  await runReplay({ ...o, progress: false, onStart: (run) => (snap = run.snapshot) });
  return show(() => snap!()).d.screenText();
}

describe('the dashboard over real replays', () => {
  const lab = join(dir, 'lab.pcap');
  runSynth({ scenario: 'lab', out: lab, seed: 1 });

  it('lab without the policy: no policy hits, each pod masqueraded to its own node', async () => {
    const text = await replayed({ input: lab });
    expect(text).toContain('datapath 1.10');
    expect(text).toContain('FINISHED');
    expect(text).not.toContain('egress-all');
    // Each node's IP is an egress address with one allocation toward the echo server.
    for (const [ip, node] of [['172.18.0.3', 'k8s-guide-control-plane'], ['172.18.0.5', 'k8s-guide-worker'], ['172.18.0.6', 'k8s-guide-worker2']]) {
      expect(text).toContain(`${ip} (${node})`);
    }
  });

  it('lab with the policy: egress-all hit for 3 flows, every NAT mapping on 172.18.0.3', async () => {
    const text = await replayed({ input: lab, policyObjects: labPolicy() });
    expect(text).toMatch(/egress-all\s+172\.18\.0\.0\/16\s+hit\s+172\.18\.0\.3\s+172\.18\.0\.3\s+3\s+15\s/);
    expect(text).toMatch(/TCP 172\.18\.0\.7:80\s+allocs 3\s+collisions 0\s+failures\(167\) 0/);
    // The gateway's conntrack rows carry the NAT mapping of the pods it SNATs.
    const natCells = text.match(/172\.18\.0\.3:\d{5}/g) ?? [];
    expect(natCells.length).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain('172.18.0.5 (k8s-guide-worker)');
  });

  it('conntrack counts: 1.10 rows split TX and RX; 1.17 rows (one Packets/Bytes pair in the map) say so instead of showing RX 0', async () => {
    const v110 = await replayed({ input: lab, policyObjects: labPolicy(), datapath: '1.10' });
    // The echo server's replies come back: the pods' own CT_EGRESS entries counted RX packets.
    const rows110 = v110.split('\n').filter((l) => /TCP OUT 10\.0\.\d+\.\d+:\d+ -> 172\.18\.0\.7:80/.test(l));
    expect(rows110.length).toBeGreaterThan(0);
    expect(rows110.some((l) => /\s\d+\/\d+\s+[1-9]\d*\/\d+\s/.test(l))).toBe(true);
    expect(v110).not.toContain('Σ');
    const v117 = await replayed({ input: lab, policyObjects: labPolicy(), datapath: '1.17' });
    expect(v117).toContain('Σ both directions');
    const rows117 = v117.split('\n').filter((l) => /TCP OUT 10\.0\.\d+\.\d+:\d+ -> 172\.18\.0\.7:80/.test(l));
    expect(rows117.length).toBeGreaterThan(0);
    for (const l of rows117) expect(l).toMatch(/\sΣ[1-9]\d*\/\d+\s+-\s/);
  });

  it('exhaustion offline from the replay\'s events counts allocations, collisions and failures as live does', async () => {
    const cap = join(dir, 'exh-counts.pcap');
    runSynth({ scenario: 'exhaustion', out: cap, seed: 1, range: { min: 40000, max: 40003 }, extra: 2 });
    const events: FlowEvent[] = [];
    let snap: (() => StatsSnapshot) | undefined;
    await runReplay({ input: cap, topology: `${cap}.topology.yaml`, policyObjects: labPolicy(), progress: false, recordJourney: true, onEvent: (ev) => events.push(ev), onStart: (run) => (snap = run.snapshot) });
    const acc = new EventAccumulator({ input: 'exh.jsonl', natPortMin: 40000, natPortMax: 40003 });
    for (const ev of events) acc.add(JSON.parse(JSON.stringify(ev)) as FlowEvent);
    const counts = (s: StatsSnapshot) =>
      s.egressIps.flatMap((u) => u.remotes.filter((r) => r.remote === 'TCP 172.18.0.8:443').map((r) => [u.egressIp, r.inUse, r.allocations, r.collisions, r.failures]));
    expect(counts(snap!())).toEqual([['172.18.0.3', 4, 6, 2, 2]]);
    expect(counts(acc.snapshot())).toEqual(counts(snap!()));
  });

  it('exhaustion: the gauge reaches the range size and the extra connections drop with 167', async () => {
    const cap = join(dir, 'exh.pcap');
    runSynth({ scenario: 'exhaustion', out: cap, seed: 1, range: { min: 40000, max: 40015 }, extra: 4 });
    const text = await replayed({ input: cap, topology: `${cap}.topology.yaml`, policyObjects: labPolicy() });
    expect(text).toMatch(/16\/16 100%/);
    expect(text).toMatch(/failures\(167\) 4/);
    expect(text).toMatch(/167\s+4 No mapping for NAT masquerade/);
  });

  it('live, enter on a conntrack row shows that flow\'s journey from the replay\'s events', async () => {
    // As `replay --dash` keeps them: the events of each flow, by flow id.
    const byFlow = new Map<string, FlowEvent[]>();
    let snap: (() => StatsSnapshot) | undefined;
    await runReplay({
      input: lab,
      policyObjects: labPolicy(),
      progress: false,
      recordJourney: true,
      onEvent: (ev) => {
        const l = byFlow.get(ev.egresslab.flow_id) ?? [];
        l.push(ev);
        byFlow.set(ev.egresslab.flow_id, l);
      },
      onStart: (run) => (snap = run.snapshot),
    });
    const rows = snap!().conntrack;
    // Every conntrack entry of the lab belongs to one of the three pods' flows, all observed.
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.flowId !== undefined && byFlow.has(r.flowId))).toBe(true);
    expect(new Set(rows.map((r) => r.flowId)).size).toBe(3);

    const asked: string[] = [];
    const { d, term } = show(
      () => snap!(),
      (id) => {
        asked.push(id);
        return formatJourney(byFlow.get(id) ?? [], { flowId: id });
      },
    );
    term.input.write('\r');
    await new Promise((r) => setTimeout(r, 50));
    const text = d.screenText();
    expect(asked).toHaveLength(1);
    expect(text).toContain(`flow ${asked[0]}: TCP`);
    expect(text).toContain('handle_ipv4_from_lxc');
    expect(text).not.toContain('No events were recorded');
  });

  it('offline from the same replay\'s events: the live counts (one policy row, generated, conntrack direction and state)', async () => {
    const events: FlowEvent[] = [];
    let snap: (() => StatsSnapshot) | undefined;
    await runReplay({ input: lab, policyObjects: labPolicy(), progress: false, recordJourney: true, onEvent: (ev) => events.push(ev), onStart: (run) => (snap = run.snapshot) });
    const live = snap!();
    const acc = new EventAccumulator({ input: 'lab.jsonl' });
    for (const ev of events) acc.add(JSON.parse(JSON.stringify(ev)) as FlowEvent);
    const off = acc.snapshot();
    // The gateway's own egress lookup (1.10's SNAT decision) is the same policy, not a second row.
    expect(off.policies.map((p) => [p.policy, p.cidr, p.kind, p.gateway, p.egressIp, p.flows, p.packets])).toEqual([['egress-all', '172.18.0.0/16', 'hit', '172.18.0.3', '172.18.0.3', 3, 15]]);
    expect(live.policies.map((p) => [p.policy, p.flows, p.packets])).toEqual([['egress-all', 3, 15]]);
    // Echo answers are generated packets: 12, as the replay counted, and conservation holds.
    expect(off.conservation).toEqual(live.conservation);
    expect(off.conservation.generated).toBe(12);
    // Replies count as rx and their FIN closes the entry: each flow 5 packets out, 4 back.
    const rows = off.conntrack.map((r) => [r.tuple, r.state, r.txPackets, r.rxPackets]);
    expect(rows).toHaveLength(3);
    for (const r of rows) expect(r.slice(1)).toEqual(['CLOSING', 5, 4]);
    const liveGateway = live.conntrack.filter((r) => r.node === 'k8s-guide-control-plane' && r.tuple.startsWith('TCP OUT 10.0.0.31'));
    expect(liveGateway.map((r) => [r.state, r.txPackets, r.rxPackets])).toEqual([['CLOSING', 5, 4]]);
    // Live, a worker pod's entry (on its own node) shows the SNAT the gateway did, as offline.
    for (const [node, pod] of [['k8s-guide-worker', '10.0.1.209'], ['k8s-guide-worker2', '10.0.2.14']]) {
      const r = live.conntrack.find((x) => x.node === node && x.tuple.startsWith(`TCP OUT ${pod}:`))!;
      const sport = /:(\d+) ->/.exec(r.tuple)![1];
      expect(r.nat).toBe(`172.18.0.3:${sport}`);
      expect(off.conntrack.find((x) => x.tuple === r.tuple)!.nat).toBe(r.nat);
    }
    // Every entry is shown (the lab has few), so no "most recent of" total.
    expect(live.conntrackTotal).toBe(live.conntrack.length);
    // The sparkline samples only while packets move: snapshots of a finished (or paused)
    // replay leave it as it was instead of filling it with zeros.
    const spark = live.allocationsOverTime['172.18.0.3']!;
    expect(spark.reduce((a, b) => a + b, 0)).toBe(3);
    for (let i = 0; i < 130; i++) snap!();
    expect(snap!().allocationsOverTime['172.18.0.3']).toEqual(spark);
  });

  it('a capture whose file name carries escape sequences shows it inert in the header', async () => {
    const cap = join(dir, 'evil\x1b[2J\x1b]0;PWNED\x07.pcap');
    copyFileSync(lab, cap);
    const text = await replayed({ input: cap, policyObjects: labPolicy() });
    expect(text).not.toContain('\x1b');
    expect(text).not.toContain('\x07');
    // Shown as inert text instead.
    expect(text).toContain('evil\\x1b[2J');
    expect(text).toContain('egress-all');
  });
});
