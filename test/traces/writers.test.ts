/**
 * Writers: what writePacket stores (timestamps in the output resolution, comments,
 * direction flags, interface blocks), temp file + rename, abort, stdout, and the exact
 * blocks of the replay's writeFrame for every shape of comment.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { createPcapWriter } from '../../traces/pcap-writer.ts';
import { createPcapngWriter } from '../../traces/pcapng-writer.ts';
import { DIRECTION_INBOUND, DIRECTION_OUTBOUND } from '../../traces/record.ts';
import { OutputError } from '../../traces/errors.ts';
import { Bytes, epb, readAll, tmpDir, type Opt } from './capture-helpers.ts';

const dir = tmpDir('writers');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const pkt = (len: number, seed = 1): Uint8Array => Uint8Array.from({ length: len }, (_, i) => (i * 5 + seed) & 0xff);
const times: [number, number][] = [
  [0, 0],
  [1_700_000_000, 123_456_789],
  [4_294_967_295, 999_999_999],
  [1_234_567_890, 1],
];

describe('pcap writer', () => {
  for (const resolution of ['us', 'ns'] as const) {
    for (const byteOrder of ['le', 'be'] as const) {
      it(`writes ${resolution} ${byteOrder} records that read back with the output resolution`, () => {
        const f = path.join(dir, `p-${resolution}-${byteOrder}.pcap`);
        const w = createPcapWriter(f, { resolution, byteOrder });
        expect(w.addInterface({ name: 'eth0', linkType: 113, snaplen: 9000 })).toBe(0);
        times.forEach(([s, ns], i) => w.writePacket(0, s, ns, pkt(40 + i, i), { origLen: 1000 + i }));
        expect(fs.existsSync(f)).toBe(false); // only the temporary exists before close()
        expect(fs.existsSync(`${f}.tmp-${process.pid}`)).toBe(true);
        w.close();
        expect(fs.existsSync(`${f}.tmp-${process.pid}`)).toBe(false);
        const r = readAll(f);
        expect(r.info).toMatchObject({ format: 'pcap', byteOrder });
        expect(r.info.interfaces[0]).toMatchObject({ linkType: 113, snaplen: 9000, tsresol: { base: 10, exp: resolution === 'ns' ? 9 : 6 } });
        expect(r.records.map((x) => [x.tsSec, x.tsNsec, x.origLen, x.data.length])).toEqual(
          times.map(([s, ns], i) => [s, resolution === 'ns' ? ns : Math.floor(ns / 1000) * 1000, 1000 + i, 40 + i]),
        );
        expect(r.records.every((x, i) => x.data.equals(pkt(40 + i, i)))).toBe(true);
      });
    }
  }

  it('writes an existing FIFO (or device) in place instead of renaming over it', async () => {
    const fifo = path.join(dir, 'out.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const cat = spawn('cat', [fifo]);
    const chunks: Buffer[] = [];
    cat.stdout.on('data', (c: Buffer) => chunks.push(c));
    const exited = new Promise((resolve) => cat.on('close', resolve));
    const w = createPcapWriter(fifo, { resolution: 'us' });
    for (let i = 0; i < 100; i++) w.writePacket(0, i, 0, pkt(100, i));
    w.close();
    await exited;
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
    expect(fs.readdirSync(dir).filter((x) => x.includes('.tmp-'))).toEqual([]);
    const f = path.join(dir, 'from-fifo.pcap');
    fs.writeFileSync(f, Buffer.concat(chunks));
    expect(readAll(f).records.length).toBe(100);
  });

  it('holds exactly one interface', () => {
    const w = createPcapWriter(path.join(dir, 'one.pcap'), { resolution: 'us' });
    w.addInterface({ name: 'a', linkType: 1 });
    expect(() => w.addInterface({ name: 'b', linkType: 1 })).toThrow(OutputError);
    w.abort();
  });

  it('abort() removes the temporary and never creates the target', () => {
    const f = path.join(dir, 'aborted.pcap');
    const w = createPcapWriter(f, { resolution: 'us' });
    for (let i = 0; i < 5000; i++) w.writePacket(0, i, 0, pkt(400));
    w.abort();
    expect(fs.existsSync(f)).toBe(false);
    expect(fs.readdirSync(dir).filter((x) => x.startsWith('aborted'))).toEqual([]);
  });

  it('writes a large file in chunks and records bigger than the buffer', () => {
    const f = path.join(dir, 'big.pcap');
    const w = createPcapWriter(f, { resolution: 'us', snaplen: 4 << 20 });
    for (let i = 0; i < 3000; i++) w.writePacket(0, i, i * 1000, pkt(1500, i));
    w.writePacket(0, 9999, 0, pkt(3 << 20));
    w.close();
    const r = readAll(f);
    expect(r.records.length).toBe(3001);
    expect(r.records[2999]!.data.equals(pkt(1500, 2999))).toBe(true);
    expect(r.records[3000]!.data.length).toBe(3 << 20);
  });
});

describe('pcapng writer', () => {
  for (const byteOrder of ['le', 'be'] as const) {
    it(`writes IDBs, EPBs with comments and direction (${byteOrder})`, () => {
      const f = path.join(dir, `n-${byteOrder}.pcapng`);
      const w = createPcapngWriter(f, { byteOrder, comment: 'lab run' });
      const a = w.addInterface({ name: 'k8s-guide-worker/eth0', description: 'underlay', linkType: 1, resolution: 'ns' });
      const b = w.addInterface({ name: 'lxc0123456789a', linkType: 1, resolution: 'us', snaplen: 65535 });
      expect([a, b]).toEqual([0, 1]);
      w.writePacket(a, 1_700_000_000, 123_456_789, pkt(60), { comment: 'SNAT 10.0.0.31:40000 -> 172.18.0.3:40000', direction: DIRECTION_OUTBOUND });
      w.writePacket(b, 1_700_000_000, 123_456_789, pkt(61), { direction: DIRECTION_INBOUND, origLen: 100 });
      w.writePacket(a, 4_294_967_295, 999_999_999, pkt(1));
      w.writePacket(b, 4_294_967_295, 999_999_999, new Uint8Array(0));
      w.close();
      const r = readAll(f);
      expect(r.error).toBeNull();
      expect(r.info.byteOrder).toBe(byteOrder);
      expect(r.info.interfaces.map((i) => [i.name, i.description, i.linkType, i.snaplen, i.tsresol.exp])).toEqual([
        ['k8s-guide-worker/eth0', 'underlay', 1, 262144, 9],
        ['lxc0123456789a', undefined, 1, 65535, 6],
      ]);
      expect(r.records.map((x) => [x.ifIndex, x.tsSec, x.tsNsec, x.data.length, x.origLen, x.comments, x.flags])).toEqual([
        [0, 1_700_000_000, 123_456_789, 60, 60, ['SNAT 10.0.0.31:40000 -> 172.18.0.3:40000'], DIRECTION_OUTBOUND],
        [1, 1_700_000_000, 123_456_000, 61, 100, undefined, DIRECTION_INBOUND],
        [0, 4_294_967_295, 999_999_999, 1, 1, undefined, undefined],
        [1, 4_294_967_295, 999_999_000, 0, 0, undefined, undefined],
      ]);
    });
  }

  it('converts timestamps exactly for copied tsresol and tsoffset', () => {
    const f = path.join(dir, 'resol.pcapng');
    const w = createPcapngWriter(f);
    const ifs = [
      w.addInterface({ name: 'bin20', linkType: 1, tsresol: { base: 2, exp: 20 } }),
      w.addInterface({ name: 'ms', linkType: 1, tsresol: { base: 10, exp: 3 }, tsoffset: 1_000_000 }),
      w.addInterface({ name: '100ps', linkType: 1, tsresol: { base: 10, exp: 10 } }),
    ];
    for (const i of ifs) w.writePacket(i, 1_700_000_000, 500_000_000, pkt(4));
    // 10^-12 s units cannot hold 2023 in 64 bits; nor can a time before the tsoffset.
    const ps = w.addInterface({ name: 'ps', linkType: 1, tsresol: { base: 10, exp: 12 } });
    expect(() => w.writePacket(ps, 1_700_000_000, 0, pkt(4))).toThrow(/does not fit/);
    expect(() => w.writePacket(ifs[1]!, 10, 0, pkt(4))).toThrow(/does not fit/);
    w.close();
    const r = readAll(f);
    expect(r.info.interfaces.map((i) => [i.tsresol, i.tsoffset])).toEqual([
      [{ base: 2, exp: 20 }, 0],
      [{ base: 10, exp: 3 }, 1_000_000],
      [{ base: 10, exp: 10 }, 0],
      [{ base: 10, exp: 12 }, 0],
    ]);
    expect(r.records.map((x) => [x.tsSec, x.tsNsec])).toEqual([
      [1_700_000_000, 500_000_000],
      [1_700_000_000, 500_000_000],
      [1_700_000_000, 500_000_000],
    ]);
  });

  it('refuses an interface of an earlier section or one never added', () => {
    const w = createPcapngWriter(path.join(dir, 'sec.pcapng'));
    const a = w.addInterface({ name: 'a', linkType: 1 });
    w.startSection({ byteOrder: 'be' });
    expect(() => w.writePacket(a, 0, 0, pkt(1))).toThrow(/earlier section/);
    expect(() => w.writePacket(7, 0, 0, pkt(1))).toThrow(/never added/);
    w.abort();
  });

  it("writes stdout for '-' (no temporary file)", () => {
    const script = `
      import { createPcapngWriter } from ${JSON.stringify(new URL('../../traces/pcapng-writer.ts', import.meta.url).href)};
      const w = createPcapngWriter('-');
      const i = w.addInterface({ name: 'eth0', linkType: 1 });
      for (let n = 0; n < 3000; n++) w.writePacket(i, n, 0, new Uint8Array(500).fill(n & 0xff));
      w.close();`;
    const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd(), maxBuffer: 1 << 26 });
    expect(out.stderr.toString()).toBe('');
    const f = path.join(dir, 'from-stdout.pcapng');
    fs.writeFileSync(f, out.stdout);
    const r = readAll(f);
    expect(r.error).toBeNull();
    expect(r.records.length).toBe(3000);
    expect(r.records[2999]!.data[0]).toBe(2999 & 0xff);
    expect(fs.readdirSync(dir).filter((x) => x.includes('.tmp-'))).toEqual([]);
  });
});

describe('pcapng writeFrame (the replay\'s hops)', () => {
  for (const le of [true, false]) {
    it(`stores every comment shape exactly (${le ? 'le' : 'be'}): empty, ASCII of each padding, non-ASCII, lone surrogate, 65535 units`, () => {
      const f = path.join(dir, `frames-${le ? 'le' : 'be'}.pcapng`);
      const w = createPcapngWriter(f, { byteOrder: le ? 'le' : 'be' });
      const id = w.addInterface({ name: 'n/eth0', linkType: 1, resolution: 'us' });
      const comments = [undefined, '', 'a', 'ab', 'abc', 'abcd', 'SNAT 10.0.0.31:40000 -> 172.18.0.3:40000', 'café', 'via → gateway', '😀', 'x\uD800y', 'a'.repeat(0xffff), '\u00ff'];
      const mem = pkt(300, 3);
      const expected: Buffer[] = [];
      comments.forEach((c, i) => {
        const len = i % 6;
        const off = 7 + i;
        const direction = i % 3;
        w.writeFrame(id, 1_700_000_000 + i, 1000 * i + 999, mem, off, len, c, direction);
        const opts: Opt[] = [];
        if (c !== undefined) opts.push([1, c]);
        if (direction !== 0) opts.push([2, new Bytes(le).u32(direction).build()]);
        expected.push(epb(le, 0, BigInt(1_700_000_000 + i) * 1_000_000n + BigInt(i), mem.subarray(off, off + len), len, opts));
      });
      // Too long once UTF-8 encoded: refused, and nothing of it is written.
      expect(() => w.writeFrame(id, 0, 0, mem, 0, 4, 'é'.repeat(0x8000), 0)).toThrow(/longer than 65535 bytes/);
      w.close();
      const bytes = fs.readFileSync(f);
      const u32 = (o: number) => (le ? bytes.readUInt32LE(o) : bytes.readUInt32BE(o));
      const first = u32(4) + u32(u32(4) + 4);
      expect(bytes.subarray(first).equals(Buffer.concat(expected))).toBe(true);
    });
  }
});
