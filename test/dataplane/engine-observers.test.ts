/**
 * What the engine does for each kind of observer: events without captures (explain, the
 * live dashboard), captures without events, and sampled events.
 */
import { describe, expect, it } from 'vitest';
import { labPolicy, labTopology } from '../../dataplane/cluster/index.ts';
import { Dataplane, IGNORE_REASONS_NAMED, SAMPLE_DETAIL, SAMPLE_EVENT, SAMPLE_NONE, type EventSampling, type Hop } from '../../dataplane/engine.ts';
import { buildIpv4Frame } from '../../dataplane/packet/build.ts';
import { TCP_SYN } from '../../dataplane/packet/tcp.ts';
import { parseIpv4 } from '../../dataplane/packet/addr.ts';
import type { FlowEvent } from '../../traces/events.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSynth } from '../../tools/synth.ts';
import { runReplay } from '../../tools/replay-core.ts';
import { formatJourney } from '../../traces/journey.ts';

const T0 = 1630324800;
const POD_IP = parseIpv4('10.0.1.209');
const ECHO = parseIpv4('172.18.0.7');

/** A non-first fragment: dropped at from-container, whose tap is on the way in. */
function fragment(): Uint8Array {
  const f = buildIpv4Frame({ saddr: POD_IP, daddr: ECHO, proto: 17, sport: 5000, dport: 80, payload: new Uint8Array(16), df: false });
  // Fragment offset 8 (64 bytes), then fix the header checksum for the changed field.
  f[14 + 6] = 0x00;
  f[14 + 7] = 0x08;
  f[14 + 10] = 0;
  f[14 + 11] = 0;
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (f[14 + i]! << 8) | f[14 + i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  f[14 + 10] = c >> 8;
  f[14 + 11] = c & 0xff;
  return f;
}

function syn(i: number): Uint8Array {
  return buildIpv4Frame({ saddr: POD_IP, daddr: ECHO, proto: 6, sport: 40000 + i, dport: 80, tcpFlags: TCP_SYN, seq: i });
}

describe('engine observers', () => {
  it('an ingress drop with only an event observer emits the drop event (no capture callback needed)', () => {
    const events: FlowEvent[] = [];
    const dp = new Dataplane({ topology: labTopology(), policies: labPolicy(), profile: '1.10', seed: 1, observer: { event: (e) => events.push(e) } });
    dp.inject(fragment(), 14, T0, 0, 0);
    dp.finish();
    const drops = events.filter((e) => e.flow.verdict === 'DROPPED');
    expect(drops).toHaveLength(1);
    expect(drops[0]!.flow.drop_reason).toBe(157);
    expect(dp.summary().dropsByReason).toEqual([expect.objectContaining({ code: 157, count: 1 })]);
  });

  it('eventSample builds events only for accepted packets; captures and counters are unaffected', () => {
    const run = (sample?: (i: number) => EventSampling) => {
      const events: FlowEvent[] = [];
      const hops: string[] = [];
      const dp = new Dataplane({
        topology: labTopology(),
        policies: labPolicy(),
        profile: '1.17',
        seed: 1,
        eventSample: sample,
        observer: { event: (e) => events.push(e), hop: (h: Hop) => hops.push(`${h.node}/${h.device} ${Buffer.from(h.frame).toString('hex')} ${h.comment}`) },
      });
      for (let i = 0; i < 10; i++) dp.inject(syn(i), 14, T0, i * 1000, i);
      dp.finish();
      return { events, hops, summary: dp.summary() };
    };
    const all = run();
    const even = run((i) => (i % 2 === 0 ? SAMPLE_DETAIL : SAMPLE_NONE));
    // Generated packets (the echo host's SYN-ACKs) carry input_index -1.
    expect(new Set(all.events.map((e) => e.egresslab.input_index).filter((i) => i >= 0))).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(new Set(even.events.map((e) => e.egresslab.input_index).filter((i) => i >= 0))).toEqual(new Set([0, 2, 4, 6, 8]));
    expect(even.hops).toEqual(all.hops);
    expect(even.summary).toEqual(all.summary);
  });

  it('SAMPLE_EVENT builds the same events as SAMPLE_DETAIL without the journey detail (functions, lookups, policy, rewrites, snat)', () => {
    const run = (sampling: EventSampling) => {
      const events: FlowEvent[] = [];
      const dp = new Dataplane({ topology: labTopology(), policies: labPolicy(), profile: '1.17', seed: 1, eventSample: () => sampling, observer: { event: (e) => events.push(e) } });
      for (let i = 0; i < 4; i++) dp.inject(syn(i), 14, T0, i * 1000, i);
      dp.finish();
      return events;
    };
    const detail = run(SAMPLE_DETAIL);
    const plain = run(SAMPLE_EVENT);
    expect(detail.some((e) => (e.egresslab.functions?.length ?? 0) > 0 && (e.egresslab.lookups?.length ?? 0) > 0)).toBe(true);
    expect(plain.every((e) => !e.egresslab.functions?.length && !e.egresslab.lookups?.length && !e.egresslab.snat)).toBe(true);
    const strip = (e: FlowEvent) => {
      const { functions: _f, lookups: _l, policy: _p, rewrites: _r, snat: _s, ...rest } = e.egresslab;
      return { ...e, egresslab: rest };
    };
    expect(plain.map(strip)).toEqual(detail.map(strip));
  });
});

describe('the linux allocators', () => {
  it('replies to ports Linux picked below 32768 are translated back to the pod', async () => {
    const { topologyFromText } = await import('../../dataplane/cluster/topology.ts');
    const { labVariantYaml } = await import('../../dataplane/synth/topology-variants.ts');
    const { synthCollisions } = await import('../../dataplane/synth/collisions.ts');
    const { echoModel } = await import('../../dataplane/external.ts');
    const { Rng } = await import('../../dataplane/lib/rng.ts');
    const topo = topologyFromText('<12 pods>', labVariantYaml({ pods: 12 }));
    const run = (allocator: string) => {
      const translated: number[] = [];
      const dp = new Dataplane({
        topology: topo,
        policies: labPolicy(),
        profile: '1.17',
        seed: 3,
        allocator,
        observer: {
          event: (e) => {
            const l4 = e.flow.l4;
            if (e.flow.trace_observation_point === 'TO_NETWORK' && l4 && 'TCP' in l4 && l4.TCP.flags?.SYN) translated.push(l4.TCP.source_port);
          },
        },
      });
      let i = 0;
      for (const p of synthCollisions(topo, new Rng(5), echoModel)) dp.inject(p.frame, 14, p.tsSec, p.tsNsec, i++);
      dp.finish();
      return { translated, summary: dp.summary() };
    };
    const cilium = run('cilium');
    const linux = run('linux');
    // The case under test happens: Linux chose ports outside Cilium's 32768-65535.
    expect(linux.translated.some((p) => p < 32768)).toBe(true);
    // Every pod got its answer, as with Cilium's allocator.
    expect(linux.summary.seenByServers.map((s) => s.pod).sort()).toEqual(cilium.summary.seenByServers.map((s) => s.pod).sort());
    expect(linux.summary.conservation).toEqual(cilium.summary.conservation);
    const gauge = linux.summary.egressIps[0]!.remotes[0]!;
    expect(gauge.rangeSize).toBe(65535 - 1024 + 1);
  });
});

describe('the linux allocators below port 1024', () => {
  it('a pod port below 1024 gets a port in 600-1023 and the echo server\'s answer reaches the pod', () => {
    const POD_PORT = 1000;
    const run = (allocator: string) => {
      const translated: number[] = [];
      const toPod: string[] = [];
      const dp = new Dataplane({
        topology: labTopology(),
        policies: [],
        profile: '1.10',
        seed: 1,
        allocator,
        observer: {
          event: (e) => {
            const l4 = e.flow.l4;
            if (!l4 || !('TCP' in l4)) return;
            if (e.flow.trace_observation_point === 'TO_NETWORK' && e.flow.IP.source === '10.0.1.209') translated.push(l4.TCP.source_port!);
            if (e.flow.trace_observation_point === 'TO_ENDPOINT' && e.flow.IP.destination === '10.0.1.209') toPod.push(Object.keys(l4.TCP.flags ?? {}).join(','));
          },
        },
      });
      dp.inject(buildIpv4Frame({ saddr: POD_IP, daddr: ECHO, proto: 6, sport: POD_PORT, dport: 80, tcpFlags: TCP_SYN, seq: 1 }), 14, T0, 0, 0);
      dp.finish();
      return { translated, toPod };
    };
    for (const allocator of ['linux', 'linux-random-fully']) {
      const r = run(allocator);
      expect(r.translated.length, allocator).toBeGreaterThan(0);
      for (const p of r.translated) {
        expect(p, allocator).toBeGreaterThanOrEqual(600);
        expect(p, allocator).toBeLessThanOrEqual(1023);
      }
      // The SYN-ACK came back through rev-SNAT to the pod, though its port is outside 1024-65535.
      expect(r.toPod, allocator).toContain('SYN,ACK');
    }
  });
});

/**
 * Runs `body` on a small exhaustion capture in a temporary folder: four ports (40000-40003)
 * for six connections, so the last two allocations try every candidate and fail.
 */
async function withSmallExhaustion(body: (cap: string, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'egresslab-exhaustion-'));
  try {
    const cap = join(dir, 'ex.pcap');
    runSynth({ scenario: 'exhaustion', out: cap, seed: 1, range: { min: 40000, max: 40003 }, extra: 2 });
    await body(cap, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SNAT_SIGNAL_THRES', () => {
  it('an allocation past the threshold reports SIGNAL_NAT_FILL_UP in summary.json, its event and explain', async () => {
    await withSmallExhaustion(async (cap) => {
      const events: FlowEvent[] = [];
      const res = await runReplay({
        input: cap,
        topology: `${cap}.topology.yaml`,
        policyObjects: labPolicy(),
        datapath: '1.17',
        progress: false,
        recordJourney: true,
        onEvent: (e) => events.push(e),
      });
      expect(res.summary.signals).toEqual([{ signal: 'SIGNAL_NAT_FILL_UP', node: 'k8s-guide-control-plane', count: 2 }]);
      const signalled = events.filter((e) => e.egresslab.snat?.signal === 'SIGNAL_NAT_FILL_UP');
      expect(signalled.map((e) => [e.flow.verdict, e.flow.drop_reason, e.egresslab.snat!.retries])).toEqual([
        ['DROPPED', 167, 128],
        ['DROPPED', 167, 128],
      ]);
      // Allocations that found a port within the threshold do not signal.
      expect(events.filter((e) => e.egresslab.snat && !e.egresslab.snat.signal).every((e) => e.egresslab.snat!.retries <= 64)).toBe(true);
      const text = formatJourney(signalled.slice(0, 1)).join('\n');
      expect(text).toContain('retries 128; none free; SIGNAL_NAT_FILL_UP (the agent runs CT GC and purges orphan NAT entries)');
    });
  });
});

describe('largeInsnLimit: false (a kernel without HAVE_LARGE_INSN_LIMIT)', () => {
  it('datapath 1.10 gives up after 32 retries instead of 128; 1.17 is unchanged', async () => {
    await withSmallExhaustion(async (cap, dir) => {
      const small = join(dir, 'small.yaml');
      writeFileSync(small, `${readFileSync(`${cap}.topology.yaml`, 'utf8')}\nlargeInsnLimit: false\n`);
      const failedRetries = async (topology: string, datapath: '1.10' | '1.17') => {
        const retries: number[] = [];
        await runReplay({
          input: cap, topology, policyObjects: labPolicy(), datapath, progress: false, recordJourney: true,
          onEvent: (e) => {
            if (e.flow.drop_reason === 167) retries.push(e.egresslab.snat!.retries);
          },
        });
        return retries;
      };
      expect(await failedRetries(`${cap}.topology.yaml`, '1.10')).toEqual([128, 128]);
      expect(await failedRetries(small, '1.10')).toEqual([32, 32]);
      expect(await failedRetries(small, '1.17')).toEqual([128, 128]);
    });
  });
});

describe('a TTL that runs out in the kernel forward', () => {
  it('is dropped (134) by kernel:ip_forward on the pod\'s node, not by the program before it', () => {
    const events: FlowEvent[] = [];
    const dp = new Dataplane({ topology: labTopology(), policies: [], profile: '1.10', seed: 1, observer: { event: (e) => events.push(e) } });
    dp.inject(buildIpv4Frame({ saddr: POD_IP, daddr: ECHO, proto: 6, sport: 40000, dport: 80, tcpFlags: TCP_SYN, ttl: 1 }), 14, T0, 0, 0);
    dp.finish();
    const drops = events.filter((e) => e.flow.verdict === 'DROPPED');
    expect(drops.map((e) => [e.flow.drop_reason, e.egresslab.program, e.node_name, e.flow.Summary])).toEqual([
      [134, 'kernel:ip_forward', 'k8s-guide-worker', 'TTL exceeded in the kernel forward (ip_forward); DROP 134 Invalid packet'],
    ]);
  });
});

describe('inbound connections from the world to a pod', () => {
  const CLIENT = parseIpv4('172.18.0.9');
  const run = (profile: '1.10' | '1.17') => {
    const events: FlowEvent[] = [];
    const dp = new Dataplane({ topology: labTopology(), policies: labPolicy(), profile, seed: 1, observer: { event: (e) => events.push(e) } });
    dp.inject(buildIpv4Frame({ saddr: CLIENT, daddr: POD_IP, proto: 6, sport: 5555, dport: 8080, tcpFlags: TCP_SYN, seq: 1 }), 14, T0, 0, 0);
    dp.inject(buildIpv4Frame({ saddr: POD_IP, daddr: CLIENT, proto: 6, sport: 8080, dport: 5555, tcpFlags: TCP_SYN | 0x10, seq: 9 }), 14, T0, 1000, 1);
    dp.inject(buildIpv4Frame({ saddr: CLIENT, daddr: POD_IP, proto: 1, icmpType: 8, sport: 77 }), 14, T0, 2000, 2);
    dp.finish();
    return { events, summary: dp.summary() };
  };
  it('the SYN (and an echo request) reach the pod; 1.17 sends the SYN-ACK straight out un-NATed, 1.10 tunnels it to the gateway, which SNATs it (cilium#16147)', () => {
    const v117 = run('1.17');
    const toPod = (r: ReturnType<typeof run>) => r.events.filter((e) => e.flow.trace_observation_point === 'TO_ENDPOINT' && e.flow.IP.destination === '10.0.1.209').map((e) => e.egresslab.input_index);
    expect(toPod(v117)).toEqual([0, 2]);
    expect(v117.summary.conservation.ignored).toBe(0);
    const out117 = v117.events.filter((e) => e.egresslab.input_index === 1 && e.flow.trace_observation_point === 'TO_NETWORK');
    expect(out117.map((e) => [e.node_name, e.flow.IP.source, e.flow.IP.source_xlated])).toEqual([['k8s-guide-worker', '10.0.1.209', undefined]]);
    const v110 = run('1.10');
    expect(toPod(v110)).toEqual([0, 2]);
    const out110 = v110.events.filter((e) => e.egresslab.input_index === 1 && e.flow.trace_observation_point === 'TO_NETWORK');
    expect(out110.map((e) => [e.node_name, e.flow.IP.source, e.flow.IP.source_xlated])).toEqual([['k8s-guide-control-plane', '10.0.1.209', '172.18.0.3']]);
  });
});

describe('is_reply, as Hubble sets it', () => {
  it('is absent at the FROM_* points (traced before any CT lookup) and true at the reply\'s TO_* points', () => {
    const events: FlowEvent[] = [];
    const dp = new Dataplane({ topology: labTopology(), policies: labPolicy(), profile: '1.10', seed: 1, observer: { event: (e) => events.push(e) } });
    dp.inject(syn(0), 14, T0, 0, 0);
    dp.finish();
    // The echo server's SYN-ACK on its way back to the pod.
    const synAck = events.filter((e) => e.flow.IP.source === '172.18.0.7' && e.flow.l4 && 'TCP' in e.flow.l4 && e.flow.l4.TCP.flags?.SYN);
    const byPoint = synAck.map((e) => [e.flow.trace_observation_point, e.flow.is_reply]);
    expect(byPoint.length).toBeGreaterThan(2);
    for (const [point, reply] of byPoint) {
      if (String(point).startsWith('FROM_')) expect(reply, String(point)).toBeUndefined();
      else expect(reply, String(point)).toBe(true);
    }
    expect(byPoint).toContainEqual(['TO_ENDPOINT', true]);
    expect(byPoint).toContainEqual(['FROM_NETWORK', undefined]);
    // The pod's own SYN leaves its lxc with no reason yet either.
    expect(events.find((e) => e.egresslab.input_index === 0 && e.flow.trace_observation_point === 'FROM_ENDPOINT')!.flow.is_reply).toBeUndefined();
  });
});

describe('inputs from unknown sources', () => {
  it('are counted by address for the first 16 addresses, then together, so the reasons stay bounded', () => {
    const dp = new Dataplane({ topology: labTopology(), policies: [], profile: '1.10', seed: 1 });
    // 1000 strangers (100.64.x.y) to the echo server, each twice.
    for (let k = 0; k < 2; k++) {
      for (let i = 0; i < 1000; i++) {
        dp.inject(buildIpv4Frame({ saddr: parseIpv4(`100.64.${i >> 8}.${i & 255}`), daddr: ECHO, proto: 17, sport: 1000, dport: 53 }), 14, T0, i, i);
      }
    }
    dp.finish();
    const s = dp.summary();
    expect(s.conservation.ignored).toBe(2000);
    const keys = Object.keys(s.ignoredByReason);
    expect(keys).toHaveLength(17);
    expect(s.ignoredByReason['source not in topology: 100.64.0.0']).toBe(2);
    expect(s.ignoredByReason['source not in topology: 100.64.0.15']).toBe(2);
    expect(s.ignoredByReason['source not in topology: other addresses']).toBe(2000 - 16 * 2);
  });

  it(`reasons of other kinds are named up to ${IGNORE_REASONS_NAMED}, then counted by kind`, () => {
    const dp = new Dataplane({ topology: labTopology(), policies: [], profile: '1.10', seed: 1 });
    // As a LINKTYPE_NULL capture with a new address family in every record would name them.
    for (let i = 0; i < 1000; i++) dp.ignore(`not IP: address family ${1000 + i}`);
    dp.ignore('not IP: ethertype 0x0806');
    dp.finish();
    const s = dp.summary();
    expect(s.conservation.ignored).toBe(1001);
    expect(Object.keys(s.ignoredByReason)).toHaveLength(IGNORE_REASONS_NAMED + 1);
    expect(s.ignoredByReason['not IP: address family 1000']).toBe(1);
    expect(s.ignoredByReason[`not IP: address family ${1000 + IGNORE_REASONS_NAMED - 1}`]).toBe(1);
    expect(s.ignoredByReason['not IP: other']).toBe(1001 - IGNORE_REASONS_NAMED);
  });
});

describe('event flow ids', () => {
  it('forget the least recently seen flow first, so a busy flow keeps its id', () => {
    const events: FlowEvent[] = [];
    const dp = new Dataplane({ topology: labTopology(), policies: [], profile: '1.10', seed: 1, flowIdsKept: 2, observer: { event: (e) => events.push(e) } });
    const pod = parseIpv4('10.0.0.31');
    let i = 0;
    // Flows A, B, A, C (C pushes out B, the least recently seen), then A and B again.
    const send = (sport: number): string => {
      const at = events.length;
      dp.inject(buildIpv4Frame({ saddr: pod, daddr: ECHO, proto: 17, sport, dport: 9999, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02' }), 14, T0, i, i++);
      return events[at]!.egresslab.flow_id;
    };
    const a = send(1000);
    const b = send(2000);
    expect(send(1000)).toBe(a);
    const c = send(3000);
    expect(new Set([a, b, c]).size).toBe(3);
    expect(send(1000)).toBe(a);
    const b2 = send(2000);
    expect(b2).not.toBe(b);
  });
});

describe('recorded replies of un-NATed flows', () => {
  it('a reply to a flow that left un-NATed (nonMasqueradeCIDRs) is delivered to the pod, not ignored', async () => {
    const { topologyFromText } = await import('../../dataplane/cluster/topology.ts');
    const { LAB_TOPOLOGY_YAML } = await import('../../dataplane/cluster/lab.ts');
    const topo = topologyFromText('<no-masq>', LAB_TOPOLOGY_YAML.replace('nonMasqueradeCIDRs: []', 'nonMasqueradeCIDRs: [192.168.50.0/24]'));
    const SERVER = parseIpv4('192.168.50.10');
    const hops: string[] = [];
    const dp = new Dataplane({ topology: topo, policies: [], profile: '1.17', seed: 1, observer: { hop: (h: Hop) => hops.push(`${h.node}/${h.device} ${h.direction}`) } });
    const out = buildIpv4Frame({ saddr: POD_IP, daddr: SERVER, proto: 6, sport: 40000, dport: 443, tcpFlags: TCP_SYN, seq: 1 });
    dp.inject(out, 14, T0, 0, 0);
    // Left from the pod's node with the pod's own address.
    expect(dp.summary().conservation.sent).toBe(1);
    const reply = buildIpv4Frame({ saddr: SERVER, daddr: POD_IP, proto: 6, sport: 443, dport: 40000, tcpFlags: TCP_SYN | 0x10, seq: 9, ack: 2 });
    dp.inject(reply, 14, T0, 1000, 1);
    dp.finish();
    const c = dp.summary().conservation;
    expect(c.ignored).toBe(0);
    expect(c.delivered).toBe(1);
    expect(hops.at(-1)).toMatch(/^k8s-guide-worker\/lxc[0-9a-f]+ out$/);
  });

  it('a reply to a flow nobody sent is still ignored as reply without mapping', () => {
    const dp = new Dataplane({ topology: labTopology(), policies: [], profile: '1.17', seed: 1 });
    const reply = buildIpv4Frame({ saddr: parseIpv4('192.168.50.10'), daddr: POD_IP, proto: 6, sport: 443, dport: 40000, tcpFlags: TCP_SYN | 0x10 });
    dp.inject(reply, 14, T0, 0, 0);
    dp.finish();
    expect(dp.summary().ignoredByReason).toEqual({ 'reply without mapping': 1 });
  });
});
