/**
 * `npm run bench` runs each job as its own process (tools/bench-job.ts). Its figures are not
 * tested here (no timing assertions); what is: every job runs to the end on a small capture,
 * exits by itself and reports the counts it measured. A short capture once left the
 * dashboard job waiting for ever (the loop never yielded, the dashboard started after the
 * replay had ended and its timer kept the process alive).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKETS = 500;
let dir = '';
let cap = '';

type JobResult = { packets: number; bytes: number; extra?: Record<string, number> };

function job(...args: string[]): JobResult {
  return run('tools/bench-job.ts', args);
}

function captureJob(...args: string[]): JobResult {
  return run('tools/bench-capture.ts', args);
}

function run(entry: string, args: string[]): JobResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, entry), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  expect(r.error, `${entry} ${args[0]} did not end by itself`).toBeUndefined();
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as JobResult;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'egresslab-bench-'));
  cap = join(dir, 'mix.pcap');
  const r = spawnSync(process.execPath, [join(ROOT, 'tools/bin.mjs'), 'synth', 'mix', '--packets', String(PACKETS), '--flows', '20', '--seed', '1', '--out', cap], { encoding: 'utf8' });
  expect(r.status).toBe(0);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('bench-job on a 500-packet capture', () => {
  it('read, decode and read+write count every record', () => {
    const read = captureJob('read', cap);
    expect(read.packets).toBe(PACKETS);
    expect(read.bytes).toBeGreaterThan(PACKETS * 40);
    expect(captureJob('decode', cap)).toMatchObject({ packets: PACKETS, bytes: read.bytes });
    expect(captureJob('readwrite', cap, join(dir, 'rw.pcap'), 'pcap')).toMatchObject({ packets: PACKETS, bytes: read.bytes });
  });

  it('the dataplane, replay and dashboard jobs replay every packet, with the same conservation', () => {
    // The counts, without the job's own timing (replayS).
    const counts = (r: ReturnType<typeof job>) => {
      const { replayS, ...rest } = r.extra!;
      expect(replayS).toBeGreaterThan(0);
      return rest;
    };
    const alone = job('dataplane', cap);
    expect(alone.packets).toBe(PACKETS);
    const e = counts(alone);
    expect(e['delivered']! + e['sent']! + e['dropped']! + e['ignored']!).toBeGreaterThanOrEqual(PACKETS);
    const out = join(dir, 'out');
    expect(counts(job('replay', cap, out))).toEqual(e);
    expect(readdirSync(out).filter((f) => f.endsWith('.pcapng')).length).toBeGreaterThan(0);
    expect(counts(job('replay-dash', cap))).toEqual(e);
  });

  it('new connections and state per flow report their measures', () => {
    const nc = job('newconn', '1000', '5000');
    expect(nc.packets).toBe(5000);
    expect(nc.extra).toMatchObject({ failures: 0, liveFlows: 1000 });
    expect(nc.extra!['connsPerSec']).toBeGreaterThan(0);
    const st = job('state', '10000');
    expect(st.extra).toMatchObject({ flows: 10000 });
    expect(st.extra!['typedArrayBytesPerFlow']).toBeGreaterThan(0);
  });
});
