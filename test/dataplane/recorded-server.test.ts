/**
 * A capture taken in the pods (tcpdump on each lxc) already holds the echo server's answers.
 * Replayed, the server must not answer again (no generated packet, no duplicate SYN-ACK to
 * the pod), and summary.json's seenByServers still says what the server saw: the address
 * after SNAT, with `answered` empty since the model did not answer.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labPolicy } from '../../dataplane/cluster/policy.ts';
import { openCapture } from '../../traces/open.ts';
import { createPcapWriter } from '../../traces/pcap-writer.ts';
import { runReplay } from '../../tools/replay-core.ts';
import { runSynth } from '../../tools/synth.ts';

const dir = mkdtempSync(join(tmpdir(), 'egresslab-recorded-server-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a pod-side capture with the server\'s answers in it', () => {
  it('is replayed without answers of the model, and the server\'s view is still recorded', async () => {
    // The lab, replayed once with the echo server answering: its pods' lxc taps are what
    // tcpdump in each pod would have written.
    const lab = join(dir, 'lab.pcap');
    runSynth({ scenario: 'lab', out: lab, seed: 1 });
    const first = join(dir, 'first');
    await runReplay({ input: lab, outDir: first, progress: false });
    const frames: { sec: number; nsec: number; data: Uint8Array }[] = [];
    for (const f of readdirSync(first).filter((n) => n.endsWith('.pcapng'))) {
      const r = openCapture(join(first, f));
      for (let rec = r.next(); rec; rec = r.next()) {
        // Ingress taps on the lxc: what the pod sent and what it received.
        if (r.info.interfaces[rec.ifIndex]!.name?.includes('/lxc')) frames.push({ sec: rec.tsSec, nsec: rec.tsNsec, data: rec.data.slice() });
      }
      r.close();
    }
    frames.sort((a, b) => a.sec - b.sec || a.nsec - b.nsec);
    const pods = join(dir, 'pods.pcap');
    const w = createPcapWriter(pods, { resolution: 'ns' });
    const ifId = w.addInterface({ name: 'any', linkType: 1, resolution: 'ns' });
    for (const f of frames) w.writePacket(ifId, f.sec, f.nsec, f.data);
    w.close();

    const res = await runReplay({ input: pods, policyObjects: labPolicy(), progress: false });
    const s = res.summary;
    expect(s.conservation.generated).toBe(0);
    expect(s.seenByServers.map((x) => [x.server, x.client.split(':')[0], x.answered])).toEqual([
      ['172.18.0.7:80', '172.18.0.3', ''],
      ['172.18.0.7:80', '172.18.0.3', ''],
      ['172.18.0.7:80', '172.18.0.3', ''],
    ]);
  });
});
