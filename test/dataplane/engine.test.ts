/**
 * The engine end to end: the seed's lab result in both profiles, what the captures show,
 * checksums of every hop frame, TTLs, conservation, recorded replies, determinism.
 */
import { describe, expect, it } from 'vitest';
import { labPolicy, labTopology } from '../../dataplane/cluster/index.ts';
import { Dataplane, IGNORE_IPV6, IGNORE_REPLY_WITHOUT_MAPPING, type Hop } from '../../dataplane/engine.ts';
import { echoIsn, echoModel } from '../../dataplane/external.ts';
import type { FlowEvent } from '../../traces/events.ts';
import { MAX_REMOTE_ROWS, type StatsSnapshot } from '../../traces/stats.ts';
import { renderPorts } from '../../dashboards/ports.ts';
import { synthLab } from '../../dataplane/synth/lab.ts';
import { Rng } from '../../dataplane/lib/rng.ts';
import type { Profile } from '../../dataplane/lib/profile.ts';
import { TCP_ACK, TCP_SYN } from '../../dataplane/packet/tcp.ts';
import { parseIpv4 } from '../../dataplane/packet/addr.ts';
import {
  cegp,
  CLIENT_IP,
  CLIENT_NODE,
  CLIENT_PORT,
  ECHO_SVC_IP,
  EGRESS_IP,
  EGRESS_IP_TEXT,
  EXTERNAL_SVC_IP,
  EXTERNAL_SVC_PORT,
  fixtureTopology,
  frameChecksumsOk,
  GATEWAY_NODE,
  pkt,
  T0,
  u16,
  u32,
} from './fixtures.ts';

interface Run {
  dp: Dataplane;
  hops: (Omit<Hop, 'frame'> & { frame: Uint8Array })[];
  events: FlowEvent[];
}

function runLab(profile: Profile, withPolicy: boolean, seed = 1): Run {
  const topo = labTopology();
  const hops: Run['hops'] = [];
  const events: FlowEvent[] = [];
  const dp = new Dataplane({
    topology: topo,
    policies: withPolicy ? labPolicy() : [],
    profile,
    seed,
    observer: { hop: (h) => hops.push({ ...h, frame: h.frame.slice() }), event: (e) => events.push(e) },
  });
  let i = 0;
  for (const p of synthLab(topo, new Rng(7), echoModel)) dp.inject(p.frame, 14, p.tsSec, p.tsNsec, i++);
  dp.finish();
  return { dp, hops, events };
}

const NODE_IPS = ['172.18.0.3', '172.18.0.5', '172.18.0.6'];

describe('the lab (k8s-guide-lab.md §5)', () => {
  for (const profile of ['1.10', '1.17'] as const) {
    it(`${profile}: without the policy the echo server sees the three node IPs`, () => {
      const { dp } = runLab(profile, false);
      const seen = dp.summary().seenByServers;
      expect(seen.map((s) => s.answered.trim()).sort()).toEqual(NODE_IPS);
      expect(seen.map((s) => s.client.split(':')[0]).sort()).toEqual(NODE_IPS);
      expect(new Set(seen.map((s) => s.pod.split(':')[0]))).toEqual(new Set(['10.0.0.31', '10.0.1.209', '10.0.2.14']));
    });

    it(`${profile}: with the policy it sees 172.18.0.3 three times`, () => {
      const { dp } = runLab(profile, true);
      const s = dp.summary();
      expect(s.seenByServers.map((x) => x.answered)).toEqual(['172.18.0.3\n', '172.18.0.3\n', '172.18.0.3\n']);
      expect(s.policies.find((p) => p.policy === 'egress-all')?.kind).toBe('hit');
      expect(s.dropsByReason).toEqual([]);
    });

    it(`${profile}: every hop frame verifies with a full checksum recomputation (outer and inner)`, () => {
      for (const pol of [false, true]) {
        const { hops } = runLab(profile, pol);
        expect(hops.length).toBeGreaterThan(20);
        for (const h of hops) expect(frameChecksumsOk(h.frame), `${h.node} ${h.device} ${h.direction}`).toBe(true);
      }
    });
  }

  it('1.10 encapsulates the control-plane pod to its own node; 1.17 does not', () => {
    const selfVxlan = (r: Run) =>
      r.hops.filter(
        (h) =>
          h.node === 'k8s-guide-control-plane' &&
          h.device === 'eth0' &&
          h.direction === 'out' &&
          h.frame.length > 50 &&
          u16(h.frame, 36) === 8472 &&
          u32(h.frame, 26) === parseIpv4('172.18.0.3') &&
          u32(h.frame, 30) === parseIpv4('172.18.0.3'),
      ).length;
    expect(selfVxlan(runLab('1.10', true))).toBeGreaterThan(0);
    expect(selfVxlan(runLab('1.17', true))).toBe(0);
  });

  it('tunnel framing: UDP 8472, checksum 0, TTL 64, VNI = identity on the request, 2 on the reply', () => {
    const { hops } = runLab('1.10', true);
    const outer = hops.filter((h) => h.node === 'k8s-guide-worker' && h.device === 'eth0' && h.frame.length > 50 && h.frame[23] === 17 && u16(h.frame, 36) === 8472);
    const req = outer.find((h) => h.direction === 'out')!;
    const rep = outer.find((h) => h.direction === 'in')!;
    expect(req.frame[22]).toBe(64);
    expect(u16(req.frame, 40)).toBe(0);
    const sport = u16(req.frame, 34);
    expect(sport).toBeGreaterThanOrEqual(32768);
    expect(sport).toBeLessThanOrEqual(60999);
    const vni = (f: Uint8Array) => (f[46]! << 16) | (f[47]! << 8) | f[48]!;
    expect(vni(req.frame)).toBeGreaterThanOrEqual(256);
    expect(vni(rep.frame)).toBe(2);
    // outer MACs node to node on the docker bridge
    expect(Array.from(req.frame.subarray(0, 6))).toEqual([0x02, 0x42, 0xac, 0x12, 0x00, 0x03]);
  });

  it('TTL at each hop: 1.10 gateway leaves at 62 (ipv4_l3 + kernel forward), 1.17 at 62 (kernel on the worker + ipv4_l3), masquerade at 63', () => {
    const ttlOut = (r: Run, node: string) =>
      r.hops.find((h) => h.node === node && h.device === 'eth0' && h.direction === 'out' && u32(h.frame, 30) === parseIpv4('172.18.0.7'))!.frame[22];
    expect(ttlOut(runLab('1.10', true), 'k8s-guide-control-plane')).toBe(62);
    expect(ttlOut(runLab('1.17', true), 'k8s-guide-control-plane')).toBe(63); // the control-plane pod: local gateway in 1.17
    const r17 = runLab('1.17', true);
    const fromWorker = r17.hops.find(
      (h) => h.node === 'k8s-guide-control-plane' && h.device === 'eth0' && h.direction === 'out' && u32(h.frame, 30) === parseIpv4('172.18.0.7') && h.comment?.includes('10.0.1.209'),
    )!;
    expect(fromWorker.frame[22]).toBe(62);
    expect(ttlOut(runLab('1.10', false), 'k8s-guide-worker')).toBe(63);
    // replies delivered to the worker pod: 64 - 1 (gateway) - 1 (local delivery)
    const delivered = runLab('1.10', true).hops.find((h) => h.node === 'k8s-guide-worker' && h.device.startsWith('lxc') && h.direction === 'out')!;
    expect(delivered.frame[22]).toBe(62);
  });

  it('events carry Hubble names, the seed-order functions and the translation', () => {
    const { events } = runLab('1.10', true);
    const toNet = events.find((e) => e.flow.trace_observation_point === 'TO_NETWORK' && e.egresslab.rewrites)!;
    expect(toNet.flow.verdict).toBe('TRANSLATED');
    expect(toNet.flow.IP.source_xlated).toBe('172.18.0.3');
    expect(toNet.egresslab.functions).toEqual(
      expect.arrayContaining(['handle_nat_fwd', 'tail_handle_nat_fwd_ipv4', 'nodeport_nat_ipv4_fwd', 'snat_v4_process', 'snat_v4_new_mapping', 'snat_v4_rewrite_egress']),
    );
    const fromLxc = events.find((e) => e.egresslab.functions?.includes('lookup_ip4_egress_endpoint'))!;
    expect(fromLxc.egresslab.functions!.indexOf('handle_ipv4_from_lxc')).toBeLessThan(fromLxc.egresslab.functions!.indexOf('encap_and_redirect_lxc'));
    expect(events.some((e) => e.flow.trace_observation_point === 'FROM_OVERLAY')).toBe(true);
    expect(events.some((e) => e.flow.trace_observation_point === 'TO_ENDPOINT' && e.flow.is_reply)).toBe(true);
    // all hops of one packet share a packet id; both directions share a flow id
    const ids = new Set(events.filter((e) => e.egresslab.input_index === 0).map((e) => e.egresslab.packet_id));
    expect(ids.size).toBe(1);
    expect(events.every((e) => /^\d+$/.test(e.egresslab.ts_ns))).toBe(true);
  });
});

describe('determinism', () => {
  it('same seed → identical hop bytes and events', () => {
    const a = runLab('1.17', true, 42);
    const b = runLab('1.17', true, 42);
    expect(a.hops.map((h) => Buffer.from(h.frame).toString('hex'))).toEqual(b.hops.map((h) => Buffer.from(h.frame).toString('hex')));
    expect(JSON.stringify(a.events)).toEqual(JSON.stringify(b.events));
  });

  it('different seed → only SNAT ports and ids differ', () => {
    const topo = fixtureTopology();
    const run = (seed: number) => {
      const hops: Uint8Array[] = [];
      const dp = new Dataplane({ topology: topo, policies: cegp(), profile: '1.17', seed, observer: { hop: (h) => hops.push(h.frame.slice()) } });
      // two pods, same source port below the NAT range: both get random ports
      for (const ip of ['192.168.0.1', '192.168.0.2']) {
        dp.inject(pkt({ saddr: parseIpv4(ip), daddr: EXTERNAL_SVC_IP, proto: 6, sport: 1000, dport: EXTERNAL_SVC_PORT, tcpFlags: TCP_SYN }), 14, T0, 0, 0);
      }
      return hops;
    };
    const a = run(1);
    const b = run(2);
    expect(a.length).toBe(b.length);
    let portDiffs = 0;
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!;
      const y = b[i]!;
      expect(x.length).toBe(y.length);
      for (let k = 0; k < x.length; k++) {
        if (x[k] === y[k]) continue;
        // allowed: the SNAT'ed TCP source port and its checksum on the gateway's eth0 frame
        expect([34, 35, 50, 51]).toContain(k);
        portDiffs++;
      }
    }
    expect(portDiffs).toBeGreaterThan(0);
  });
});

describe('conservation and injection', () => {
  it('input + generated = delivered + sent + dropped + ignored over a mixed replay', () => {
    const topo = fixtureTopology({ natPortRange: [60000, 60001] });
    const dp = new Dataplane({ topology: topo, policies: cegp(), profile: '1.17', seed: 3 });
    let t = 0;
    const at = () => t++;
    // requests to the sink: the third runs out of ports (167)
    for (const sport of [1000, 1001, 1002]) {
      dp.inject(pkt({ saddr: CLIENT_IP, daddr: EXTERNAL_SVC_IP, proto: 6, sport, dport: EXTERNAL_SVC_PORT, tcpFlags: TCP_SYN }), 14, T0, at(), 0);
    }
    // echo traffic: answered by the echo host (generated packets)
    dp.inject(pkt({ saddr: CLIENT_IP, daddr: ECHO_SVC_IP, proto: 1, icmpType: 8, icmpId: 7, icmpSeq: 1, payload: new Uint8Array(16) }), 14, T0, at(), 1);
    dp.inject(pkt({ saddr: CLIENT_IP, daddr: ECHO_SVC_IP, proto: 17, sport: 5353, dport: 53, payload: new Uint8Array([1, 2]) }), 14, T0, at(), 2);
    // a recorded reply without a mapping, an unknown source, IPv6, a non-IP record
    dp.inject(pkt({ saddr: EXTERNAL_SVC_IP, daddr: CLIENT_IP, proto: 6, sport: EXTERNAL_SVC_PORT, dport: 9, tcpFlags: TCP_ACK }), 14, T0, at(), 3);
    dp.inject(pkt({ saddr: parseIpv4('9.9.9.9'), daddr: parseIpv4('8.8.8.8'), proto: 6, sport: 1, dport: 2 }), 14, T0, at(), 4);
    const v6 = new Uint8Array(54);
    v6[14] = 0x60;
    dp.inject(v6, 14, T0, at(), 5);
    dp.ignore('not IP: ethertype 0x0806');
    dp.finish();
    const s = dp.summary();
    const c = s.conservation;
    expect(c.input).toBe(9);
    expect(c.generated).toBe(2);
    expect(c.input + c.generated).toBe(c.delivered + c.sent + c.dropped + c.ignored);
    expect(s.dropsByReason).toEqual([{ code: 167, text: 'No mapping for NAT masquerade', name: 'NO_MAPPING_FOR_NAT_MASQUERADE', count: 1 }]);
    expect(s.ignoredByReason).toEqual({
      [IGNORE_IPV6]: 1,
      [IGNORE_REPLY_WITHOUT_MAPPING]: 1,
      'not IP: ethertype 0x0806': 1,
      'source not in topology: 9.9.9.9': 1,
    });
    expect(c.delivered).toBe(2); // the ICMP and UDP echo answers reached the pod
  });

  it('a recorded reply is re-addressed to the translated tuple and delivered to the pod (bytes)', () => {
    const topo = fixtureTopology();
    const frames: Hop[] = [];
    const dp = new Dataplane({
      topology: topo,
      policies: cegp(),
      profile: '1.17',
      seed: 1,
      observer: { hop: (h) => frames.push({ ...h, frame: h.frame.slice() }) },
    });
    dp.inject(pkt({ saddr: CLIENT_IP, daddr: EXTERNAL_SVC_IP, proto: 6, sport: CLIENT_PORT, dport: EXTERNAL_SVC_PORT, tcpFlags: TCP_SYN, seq: 5 }), 14, T0, 0, 0);
    // the reply as the pod recorded it
    dp.inject(pkt({ saddr: EXTERNAL_SVC_IP, daddr: CLIENT_IP, proto: 6, sport: EXTERNAL_SVC_PORT, dport: CLIENT_PORT, tcpFlags: TCP_SYN | TCP_ACK, seq: 77, ack: 6, ttl: 64 }), 14, T0, 1000, 1);
    const atGateway = frames.find((h) => h.node === GATEWAY_NODE && h.device === 'eth0' && h.direction === 'in' && h.frame[23] === 6)!;
    expect(u32(atGateway.frame, 30)).toBe(EGRESS_IP); // re-addressed as the server sent it
    const delivered = frames[frames.length - 1]!;
    expect(delivered.node).toBe(CLIENT_NODE);
    expect(delivered.direction).toBe('out');
    expect(delivered.device.startsWith('lxc')).toBe(true);
    const f = delivered.frame;
    expect(u32(f, 26)).toBe(EXTERNAL_SVC_IP);
    expect(u32(f, 30)).toBe(CLIENT_IP);
    expect(u16(f, 34)).toBe(EXTERNAL_SVC_PORT);
    expect(u16(f, 36)).toBe(CLIENT_PORT);
    expect(f[22]).toBe(62);
    expect(Array.from(f.subarray(0, 6))).toEqual([0x0a, 0, 0, 0, 0, 1]); // to the pod's MAC
    expect(frameChecksumsOk(f)).toBe(true);
    expect(dp.summary().conservation).toMatchObject({ input: 2, delivered: 1, sent: 1, dropped: 0, ignored: 0 });
  });

  it('echo host: SYN-ACK ISN is a function of the client ISN only, answers time-ordered after a 100 µs delay', () => {
    const topo = fixtureTopology();
    const hops: Hop[] = [];
    const dp = new Dataplane({ topology: topo, policies: [], profile: '1.17', seed: 1, observer: { hop: (h) => hops.push({ ...h, frame: h.frame.slice() }) } });
    dp.inject(pkt({ saddr: CLIENT_IP, daddr: ECHO_SVC_IP, proto: 6, sport: CLIENT_PORT, dport: 80, tcpFlags: TCP_SYN, seq: 1234 }), 14, T0, 0, 0);
    dp.finish();
    const synack = hops.find((h) => h.direction === 'out' && h.device.startsWith('lxc'))!;
    expect(u32(synack.frame, 38)).toBe(echoIsn(1234));
    expect(u32(synack.frame, 42)).toBe(1235);
    expect(synack.tsNsec).toBe(100_000);
    for (let i = 1; i < hops.length; i++) {
      const a = hops[i - 1]!;
      const b = hops[i]!;
      expect(a.tsSec * 1e9 + a.tsNsec).toBeLessThanOrEqual(b.tsSec * 1e9 + b.tsNsec);
    }
  });

  it('GC every gcInterval of capture time removes expired CT entries and their NAT pairs', () => {
    const topo = fixtureTopology();
    const dp = new Dataplane({ topology: topo, policies: [], profile: '1.17', seed: 1, gcInterval: 10 });
    dp.inject(pkt({ saddr: CLIENT_IP, daddr: EXTERNAL_SVC_IP, proto: 17, sport: 40000, dport: 53, payload: new Uint8Array(4) }), 14, T0, 0, 0);
    expect(dp.natTable(CLIENT_NODE).size()).toBe(2);
    expect(dp.conntrack(CLIENT_NODE).size()).toBe(1);
    // UDP lifetime 60 s: a packet 100 s later triggers GC first
    dp.inject(pkt({ saddr: parseIpv4('192.168.0.2'), daddr: EXTERNAL_SVC_IP, proto: 17, sport: 40001, dport: 53, payload: new Uint8Array(4) }), 14, T0 + 100, 0, 1);
    expect(dp.natTable(CLIENT_NODE).findOut(17, CLIENT_IP, EXTERNAL_SVC_IP, 40000, 53)).toBe(-1);
    expect(dp.conntrack(CLIENT_NODE).size()).toBe(1);
    expect(dp.gcCount()).toBeGreaterThan(0);
  });

  it('Geneve topology: outer UDP 6081 on the tunnel hops', () => {
    const topo = fixtureTopology({ tunnel: 'geneve' });
    const hops: Hop[] = [];
    const dp = new Dataplane({ topology: topo, policies: cegp(), profile: '1.17', seed: 1, observer: { hop: (h) => hops.push({ ...h, frame: h.frame.slice() }) } });
    dp.inject(pkt({ saddr: CLIENT_IP, daddr: EXTERNAL_SVC_IP, proto: 6, sport: CLIENT_PORT, dport: EXTERNAL_SVC_PORT, tcpFlags: TCP_SYN }), 14, T0, 0, 0);
    const outer = hops.find((h) => h.device === 'eth0' && h.frame[23] === 17)!;
    expect(u16(outer.frame, 36)).toBe(6081);
    expect(hops.some((h) => h.device === 'cilium_geneve')).toBe(true);
    expect(frameChecksumsOk(outer.frame)).toBe(true);
  });
});

describe('summary.json per egress IP', () => {
  it(`lists at most ${MAX_REMOTE_ROWS} remotes, the busiest, and sums the rest in otherRemotes`, () => {
    const dp = new Dataplane({ topology: fixtureTopology(), policies: cegp(), profile: '1.17', seed: 1 });
    const n = MAX_REMOTE_ROWS + 50;
    const remote = (i: number) => (parseIpv4('120.0.0.0') + i) >>> 0;
    for (let i = 0; i < n; i++) dp.inject(pkt({ saddr: CLIENT_IP, daddr: remote(i), proto: 17, sport: 5000, dport: 53, payload: new Uint8Array(4) }), 14, T0, i, i);
    // The last remote gets a second flow: two ports in use, so it must stay listed.
    dp.inject(pkt({ saddr: CLIENT_IP, daddr: remote(n - 1), proto: 17, sport: 5001, dport: 53, payload: new Uint8Array(4) }), 14, T0, n, n);
    dp.finish();
    const [u] = dp.summary().egressIps;
    expect(u!.egressIp).toBe(EGRESS_IP_TEXT);
    expect(u!.remotes).toHaveLength(MAX_REMOTE_ROWS);
    expect(u!.remotes.find((r) => r.remote === 'UDP 120.0.4.25:53')?.inUse).toBe(2);
    const o = u!.otherRemotes!;
    expect([o.remotes, o.inUse, o.allocations, o.failures]).toEqual([50, 50, 50, 0]);
    expect(o.retries[0]).toBe(50);
    const listed = u!.remotes.reduce((a, r) => a + r.allocations, 0);
    expect(listed + o.allocations).toBe(n + 1);
    // The dashboard's view counts them too: the allocations sparkline and the ports pane.
    const snap = { ...dp.snapshot(), input: 'x', progress: 1, pps: 0, paused: false, events: [] } as StatsSnapshot;
    expect(snap.allocationsOverTime[EGRESS_IP_TEXT]).toEqual([n + 1]);
    expect(renderPorts(snap, 120).body.join('\n')).toContain('50 other remotes  allocs 50  collisions 0  failures(167) 0  in use 50');
  });

  it('has no otherRemotes when every remote is listed', () => {
    const dp = new Dataplane({ topology: fixtureTopology(), policies: cegp(), profile: '1.17', seed: 1 });
    dp.inject(pkt({ saddr: CLIENT_IP, daddr: EXTERNAL_SVC_IP, proto: 6, sport: 1000, dport: EXTERNAL_SVC_PORT, tcpFlags: TCP_SYN }), 14, T0, 0, 0);
    dp.finish();
    expect(Object.keys(dp.summary().egressIps[0]!)).toEqual(['egressIp', 'node', 'remotes']);
  });
});
