/**
 * Real-world packets through the programs: every IPv4 packet of tcpdump's test corpus (odd
 * options, truncated and malformed L4 headers, fragments, tunnels, GSO super-packets),
 * re-addressed once from a lab pod and once to one, with checksums made valid, through both
 * profiles with the lab's policy. Nothing may throw, conservation must hold, and no hop frame
 * may carry a checksum the model broke (the outer packet, and the inner one of the model's
 * own encapsulation).
 */
import { describe, expect, it } from 'vitest';
import { labPolicy, labTopology } from '../../dataplane/cluster/index.ts';
import { Dataplane, type Hop } from '../../dataplane/engine.ts';
import { decapFrame, type DecapResult } from '../../dataplane/lib/encap.ts';
import { TUNNEL_VXLAN } from '../../dataplane/lib/encap.ts';
import { parseIpv4 } from '../../dataplane/packet/addr.ts';
import { fillChecksums, ipv4HeaderChecksumOk, l4ChecksumStatus } from '../../dataplane/packet/checksum.ts';
import { decodeFrame, type L3Location } from '../../traces/linktype.ts';
import { corpusFiles, corpusPath, readAll } from '../traces/capture-helpers.ts';

const PODS = [parseIpv4('10.0.1.209'), parseIpv4('10.0.0.31')];
const NODE_IPS = new Set(['172.18.0.3', '172.18.0.5', '172.18.0.6'].map(parseIpv4));

/** IPv4 payloads of the corpus, as Ethernet frames (made once, shared by both profiles). */
function corpusIpv4(): { ip: Uint8Array; sec: number; nsec: number; where: string }[] {
  const out: { ip: Uint8Array; sec: number; nsec: number; where: string }[] = [];
  const loc: L3Location = { l3Offset: 0, ethertype: 0, reason: '' };
  for (const f of corpusFiles()) {
    for (const rec of readAll(corpusPath(f)).records) {
      if (!decodeFrame(rec.linkType, rec.data, 0, rec.data.length, loc) || loc.ethertype !== 0x0800) continue;
      const ip = rec.data.subarray(loc.l3Offset);
      if (ip.length >= 20) out.push({ ip, sec: rec.tsSec, nsec: rec.tsNsec, where: `${f}#${rec.index}` });
    }
  }
  return out;
}

const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** What is wrong with a hop frame's checksums, or ''. */
function checksumFault(f: Uint8Array): string {
  if (f.length < 34 || f[12] !== 0x08 || f[13] !== 0x00) return '';
  if (!ipv4HeaderChecksumOk(f, 14)) return 'IPv4 header checksum';
  if (l4ChecksumStatus(f, 14) === 'bad') return 'L4 checksum';
  // The model's own tunnel (node to node; a corpus VXLAN packet a pod sent goes elsewhere):
  // its inner packet too.
  const d: DecapResult = { innerOff: 0, vni: 0, outerSaddr: 0 };
  if (NODE_IPS.has(u32(f, 26)) && NODE_IPS.has(u32(f, 30)) && decapFrame(f, 0, f.length, TUNNEL_VXLAN, 8472, d)) {
    const inner = f.subarray(d.innerOff);
    if (!ipv4HeaderChecksumOk(inner, 14)) return 'inner IPv4 header checksum';
    if (l4ChecksumStatus(inner, 14) === 'bad') return 'inner L4 checksum';
  }
  return '';
}

describe('the tcpdump corpus through the dataplane', () => {
  const packets = corpusIpv4();

  it('has IPv4 packets to send', () => {
    expect(packets.length).toBeGreaterThan(4000);
  });

  for (const profile of ['1.10', '1.17'] as const) {
    it(`${profile}: no exception, conservation holds, no checksum broken`, () => {
      const faults: string[] = [];
      let where = '';
      const dp = new Dataplane({
        topology: labTopology(),
        policies: labPolicy(),
        profile,
        seed: 1,
        observer: {
          event: () => {},
          hop: (h: Hop) => {
            const fault = checksumFault(h.frame);
            if (fault && faults.length < 10) faults.push(`${where} at ${h.node}/${h.device}: ${fault}`);
          },
        },
      });
      let i = 0;
      for (const p of packets) {
        for (const toPod of [false, true]) {
          const fr = new Uint8Array(14 + p.ip.length);
          fr.set(p.ip, 14);
          fr[12] = 0x08;
          const pod = PODS[i % 2]!;
          fr.set([pod >>> 24, (pod >>> 16) & 255, (pod >>> 8) & 255, pod & 255], 14 + (toPod ? 16 : 12));
          fillChecksums(fr, 14);
          where = `${p.where} ${toPod ? 'to' : 'from'} a pod`;
          dp.inject(fr, 14, p.sec, p.nsec, i++);
        }
      }
      dp.finish();
      const c = dp.summary().conservation;
      expect(c.input).toBe(2 * packets.length);
      expect(c.input + c.generated).toBe(c.delivered + c.sent + c.dropped + c.ignored);
      // Most of them go somewhere: the model does not just refuse what it does not know.
      expect(c.sent).toBeGreaterThan(packets.length / 4);
      expect(faults).toEqual([]);
    });
  }
});
