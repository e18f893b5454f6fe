/**
 * The live dashboard's event sampling at top speed (tools/replay-core.ts liveEventSample):
 * the first packets always have their events with the detail, so a short capture (the
 * lab's 15 packets, replayed in well under the 100 ms sampling interval) still fills the
 * events pane and has journeys; later packets are sampled by wall time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labPolicy } from '../../dataplane/cluster/policy.ts';
import { SAMPLE_DETAIL, SAMPLE_EVENT, SAMPLE_NONE } from '../../dataplane/engine.ts';
import type { FlowEvent } from '../../traces/events.ts';
import { detailFirstPackets, liveEventSample, ReplayControl, runReplay } from '../../tools/replay-core.ts';
import { runSynth } from '../../tools/synth.ts';

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
});
