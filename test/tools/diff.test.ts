import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gatewayFrames, podFrames, tmpDir, writeCapture } from '../traces/diff-fixtures.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'tools/bin.mjs'), 'diff', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('egresslab diff (CLI)', () => {
  const d = tmpDir('cli');
  afterAll(() => fs.rmSync(d, { recursive: true, force: true }));
  const frames = podFrames(30);
  const e = writeCapture(path.join(d, 'e.pcap'), frames);
  const same = writeCapture(path.join(d, 'same.pcapng'), frames, { format: 'pcapng', byteOrder: 'be', resolution: 'ns' });
  const fewer = writeCapture(path.join(d, 'fewer.pcap'), frames.slice(0, 29));
  const g1 = writeCapture(path.join(d, 'g1.pcap'), gatewayFrames([40000, 40001]));
  const g2 = writeCapture(path.join(d, 'g2.pcap'), gatewayFrames([50000, 50001]));
  const g3 = writeCapture(path.join(d, 'g3.pcap'), gatewayFrames([50000, 50000]));

  it('exits 0 when the captures are the same', () => {
    const r = cli(e, same);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^same: /);
  });

  it('exits 1 with a text report when they differ', () => {
    const r = cli(e, fewer);
    expect(r.code).toBe(1);
    expect(r.out).toContain('missing  expected #30');
    expect(r.out).not.toContain('\x1b[');
  });

  it('prints the documented JSON shape with --json', () => {
    const r = cli('--json', e, fewer);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ same: false, interfaces: [{ status: 'compared', missing: 1 }], summary: { missing: 1, identical: 29 } });
    expect(j.packets[0]).toMatchObject({ kind: 'missing', expected: { frame: 30, flow: '10.0.1.202:40002 -> 172.18.0.7:80 TCP' } });
  });

  it('--canon-ports accepts a consistent renaming and rejects two flows on one port', () => {
    expect(cli(g1, g2).code).toBe(1);
    expect(cli('--canon-ports', g1, g2).code).toBe(0);
    const r = cli('--canon-ports', g1, g3);
    expect(r.code).toBe(1);
    expect(r.out).toContain('inconsistent');
  });

  it('--ignore and --ts-tolerance are parsed', () => {
    const shifted = writeCapture(path.join(d, 'shifted.pcap'), frames.map((f) => ({ ...f, tsNsec: f.tsNsec + 2000 })));
    expect(cli(e, shifted).code).toBe(1);
    expect(cli('--ts-tolerance', '2us', e, shifted).code).toBe(0);
    expect(cli('--ignore', 'ts,ipv4.id', e, shifted).code).toBe(0);
  });

  it('exits 2 on usage and input errors', () => {
    const bad = cli('--bogus', e, same);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/bogus/);
    expect(cli(e).code).toBe(2);
    expect(cli('--ts-tolerance', '5', e, same).code).toBe(2);
    // A misspelt --ignore entry would otherwise ignore nothing, silently.
    const typo = cli('--ignore', 'tss', e, same);
    expect(typo.code).toBe(2);
    expect(typo.err).toContain("--ignore: unknown layer or field 'tss' in 'tss'");
    expect(cli('--ignore', 'inner.ipv5.ttl', e, same).code).toBe(2);
    expect(cli('--ignore', 'inner.ipv4.ttl,vlan#2,frame.bytes,linktype,summary.input', e, same).code).toBe(0);
    const missing = cli(e, path.join(d, 'nope.pcap'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/nope\.pcap: byte offset 0: cannot open/);
    const notCapture = cli(e, path.join(root, 'package.json'));
    expect(notCapture.code).toBe(2);
    expect(notCapture.err).toMatch(/package\.json: byte offset 0: bad magic/);
  });
});
