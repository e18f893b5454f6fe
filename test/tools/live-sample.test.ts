/**
 * The live dashboard's event sampling at top speed (tools/replay-core.ts liveEventSample):
 * the first packets always have their events with the detail, so a short capture (the
 * lab's 15 packets, replayed in well under the 100 ms sampling interval) still fills the
 * events pane and has journeys; later packets are sampled by wall time.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { labPolicy } from '../../dataplane/cluster/policy.ts';
import { SAMPLE_DETAIL, SAMPLE_EVENT, SAMPLE_NONE } from '../../dataplane/engine.ts';
import type { FlowEvent } from '../../traces/events.ts';
import { detailFirstPackets, liveEventSample, ReplayControl, runReplay } from '../../tools/replay-core.ts';
import { runSynth } from '../../tools/synth.ts';
import { openCapture } from '../../traces/open.ts';
import { createPcapWriter } from '../../traces/pcap-writer.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('liveEventSample at top speed', () => {
  it('takes the first 64 packets with their detail, then samples by time', () => {
    const sample = liveEventSample(new ReplayControl(), 1e9);
    const first = Array.from({ length: 64 }, (_, i) => sample(i));
    expect(first.every((s) => s === SAMPLE_DETAIL)).toBe(true);
    // The interval has not passed since the 64th: nothing for a while.
    const next = Array.from({ length: 1000 }, (_, i) => sample(64 + i));
    expect(next.filter((s) => s !== SAMPLE_NONE).length).toBeLessThanOrEqual(1);
  });

  it('without firstDetail, takes the first 64 packets without their detail', () => {
    const sample = liveEventSample(new ReplayControl(), 1e9, false);
    expect(Array.from({ length: 64 }, (_, i) => sample(i)).every((s) => s === SAMPLE_EVENT)).toBe(true);
    expect(sample(64)).toBe(SAMPLE_NONE);
  });

  it('detailFirstPackets gives the same packets\' events with their detail, under the same ids', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egresslab-sample-'));
    try {
      const cap = join(dir, 'lab.pcap');
      runSynth({ scenario: 'lab', out: cap, seed: 1 });
      const control = new ReplayControl();
      const live: FlowEvent[] = [];
      await runReplay({ input: cap, policyObjects: labPolicy(), progress: false, control, recordJourney: true, onEvent: (e) => live.push(e), eventSample: liveEventSample(control, 100, false) });
      expect(new Set(live.filter((e) => e.egresslab.input_index >= 0).map((e) => e.egresslab.input_index)).size).toBe(15);
      expect(live.some((e) => (e.egresslab.functions ?? []).length > 0)).toBe(false);
      const detailed = await detailFirstPackets({ input: cap, policyObjects: labPolicy(), progress: false });
      expect(detailed.some((e) => (e.egresslab.functions ?? []).includes('snat_v4_new_mapping'))).toBe(true);
      // Event for event the same packets, flows, points and verdicts: only the detail differs.
      const key = (e: FlowEvent) => [e.egresslab.packet_id, e.egresslab.flow_id, e.egresslab.input_index, e.flow.trace_observation_point, e.flow.verdict].join(' ');
      expect(detailed.map(key)).toEqual(live.map(key));
      // Stopped after the first n inputs.
      const two = await detailFirstPackets({ input: cap, policyObjects: labPolicy(), progress: false }, 2);
      expect(new Set(two.map((e) => e.egresslab.input_index).filter((i) => i >= 0))).toEqual(new Set([0, 1]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a lab replay at top speed has every packet\'s events and their journeys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egresslab-sample-'));
    try {
      const cap = join(dir, 'lab.pcap');
      runSynth({ scenario: 'lab', out: cap, seed: 1 });
      const control = new ReplayControl();
      const events: FlowEvent[] = [];
      await runReplay({ input: cap, policyObjects: labPolicy(), progress: false, control, recordJourney: true, onEvent: (e) => events.push(e), eventSample: liveEventSample(control) });
      expect(new Set(events.filter((e) => e.egresslab.input_index >= 0).map((e) => e.egresslab.input_index)).size).toBe(15);
      expect(events.some((e) => (e.egresslab.functions ?? []).includes('snat_v4_new_mapping'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('detailFirstPackets counts injected packets as the live sampler does, and stops at a capture error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egresslab-sample-'));
    try {
      const lab = join(dir, 'lab.pcap');
      runSynth({ scenario: 'lab', out: lab, seed: 1 });
      // The lab with an ARP frame first: not injected, so not one of the first n.
      const withArp = join(dir, 'arp.pcap');
      const w = createPcapWriter(withArp, { resolution: 'us' });
      const ifId = w.addInterface({ name: 'any', linkType: 1, resolution: 'us' });
      const arp = new Uint8Array(42);
      arp[12] = 0x08;
      arp[13] = 0x06;
      w.writePacket(ifId, 1630324800, 0, arp);
      const r = openCapture(lab);
      for (let rec = r.next(); rec; rec = r.next()) w.writePacket(ifId, rec.tsSec, rec.tsNsec, rec.data.slice());
      r.close();
      w.close();
      const control = new ReplayControl();
      const live: FlowEvent[] = [];
      const sample = liveEventSample(control, 1e9, false);
      // Two packets' events per the live rule, as if FIRST_SAMPLED were 2.
      await runReplay({ input: withArp, policyObjects: labPolicy(), progress: false, control, recordJourney: true, onEvent: (e) => live.push(e), eventSample: (i) => (i <= 2 ? sample(i) : SAMPLE_NONE) });
      const detailed = await detailFirstPackets({ input: withArp, policyObjects: labPolicy(), progress: false }, 2);
      const inputs = (l: FlowEvent[]) => [...new Set(l.map((e) => e.egresslab.input_index).filter((i) => i >= 0))];
      expect(inputs(detailed)).toEqual([1, 2]);
      expect(detailed.map((e) => e.egresslab.packet_id)).toEqual(live.filter((e) => e.egresslab.input_index <= 2).map((e) => e.egresslab.packet_id));
      // A capture cut in its third record: the first two packets' events, no exception.
      const cut = join(dir, 'cut.pcap');
      const bytes = readFileSync(lab);
      writeFileSync(cut, bytes.subarray(0, 24 + 2 * (16 + 74) + 30));
      const partial = await detailFirstPackets({ input: cut, policyObjects: labPolicy(), progress: false });
      expect(inputs(partial)).toEqual([0, 1]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('detailFirstPackets does not repeat the scenario\'s warnings', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egresslab-sample-'));
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const lab = join(dir, 'lab.pcap');
      runSynth({ scenario: 'lab', out: lab, seed: 1 });
      const policies = [join(ROOT, 'examples/policies/cegp-excluded.yaml')];
      await runReplay({ input: lab, policies, datapath: '1.10', progress: false });
      const warned = spy.mock.calls.filter((c) => String(c[0]).includes('excludedCIDRs have no effect')).length;
      expect(warned).toBeGreaterThan(0);
      spy.mockClear();
      await detailFirstPackets({ input: lab, policies, datapath: '1.10', progress: false });
      expect(spy.mock.calls.filter((c) => String(c[0]).includes('excludedCIDRs have no effect'))).toEqual([]);
    } finally {
      spy.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
