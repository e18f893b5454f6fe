/**
 * Helpers for the end-to-end CLI suites: run `node tools/bin.mjs ...` as a real process,
 * list and read output folders, read captures back with our reader, run tshark.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { openCapture } from '../../traces/open.ts';
import type { CaptureInterface, CaptureRecord } from '../../traces/record.ts';
import type { Summary } from '../../traces/stats.ts';
import type { FlowEvent } from '../../traces/events.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = path.join(ROOT, 'tools/bin.mjs');
export const SEED_FILE = fileURLToPath(new URL('../../../shared/seed/000_4c96b75b898f33b1.txt', import.meta.url));
export const EGRESS_ALL = path.join(ROOT, 'examples/policies/egress-all.yaml');
export const CEGP_EXCLUDED = path.join(ROOT, 'examples/policies/cegp-excluded.yaml');
export const LAB_TOPOLOGY = path.join(ROOT, 'examples/lab-topology.yaml');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout undecoded (cliAsync only), for captures written to '-'. */
  stdoutBytes?: Buffer;
}

/** Runs the CLI as a real process (the unit under test). */
export function cli(args: string[], o: { input?: Buffer; cwd?: string } = {}): RunResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: o.cwd ?? ROOT,
    input: o.input,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like cli() but fails the test with both streams when the exit code is not 0. */
export function ok(args: string[], o: { input?: Buffer; cwd?: string } = {}): RunResult {
  const r = cli(args, o);
  if (r.code !== 0) throw new Error(`egresslab ${args.join(' ')} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r;
}

export function tempDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `egresslab-${name}-`));
}

/** Every file under dir (relative paths, sorted). */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  if (fs.existsSync(dir)) walk(dir, '');
  return out.sort();
}

/** No temporary file of the temp-and-rename writers anywhere under dir. */
export function expectNoTempFiles(dir: string): void {
  expect(listFiles(dir).filter((f) => /\.tmp-\d+$|\.tmp$/.test(f))).toEqual([]);
}

export function readSummary(dir: string): Summary {
  return JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8')) as Summary;
}

export function readEvents(file: string): FlowEvent[] {
  const text = fs.readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.trimEnd().split('\n').map((l) => JSON.parse(l) as FlowEvent);
}

export interface ReadBack {
  interfaces: CaptureInterface[];
  records: CaptureRecord[];
}

/** Reads a whole capture with our reader (traces/open.ts), copying each record's bytes. */
export function readCapture(file: string): ReadBack {
  const r = openCapture(file);
  const records: CaptureRecord[] = [];
  try {
    for (let rec = r.next(); rec !== null; rec = r.next()) records.push({ ...rec, data: rec.data.slice() });
    return { interfaces: r.info.interfaces, records };
  } finally {
    r.close();
  }
}

/** input + generated = delivered + sent + dropped + ignored, and the per-reason counts add up. */
export function expectConservation(s: Summary): void {
  const c = s.conservation;
  expect(c.input + c.generated, JSON.stringify(c)).toBe(c.delivered + c.sent + c.dropped + c.ignored);
  expect(s.dropsByReason.reduce((a, d) => a + d.count, 0)).toBe(c.dropped);
  expect(Object.values(s.ignoredByReason).reduce((a, n) => a + n, 0)).toBe(c.ignored);
  for (const d of s.dropsByReason) expect(d.count).toBeGreaterThan(0);
}

export const TSHARK = '/usr/bin/tshark';
export const HAVE_TSHARK = fs.existsSync(TSHARK);
if (!HAVE_TSHARK) {
  process.stderr.write(`NOTE: ${TSHARK} is missing: the tshark cross-checks are skipped (CI installs it: apt-get install tshark)\n`);
}

/**
 * tshark -T fields over a capture with checksum validation on and VXLAN on 8472; one array
 * of field values per frame (multi-occurrence fields joined by ',').
 */
export function tsharkFields(file: string, fields: string[], filter?: string): string[][] {
  const args = [
    '-r', file, '-n',
    '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
    '-d', 'udp.port==8472,vxlan',
    '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,',
    ...fields.flatMap((f) => ['-e', f]),
  ];
  if (filter) args.push('-Y', filter);
  const r = spawnSync(TSHARK, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`tshark failed (${r.status}): ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('|'));
}

/** cli() without blocking, so independent invocations overlap (each one mostly waits on startup). */
export function cliAsync(args: string[], o: { input?: Buffer; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: o.cwd ?? ROOT, env: { ...process.env, FORCE_COLOR: '0' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const bytes = Buffer.concat(out);
      resolve({ code, stdout: bytes.toString('utf8'), stdoutBytes: bytes, stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(o.input ?? Buffer.alloc(0));
  });
}

/** Runs jobs with at most `limit` at a time, results in order. */
export async function pooled<T>(jobs: (() => Promise<T>)[], limit = 3): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}
