/**
 * Ctrl-C on a replay: the outputs hold everything replayed so far, complete (no temporary
 * files, summary.json written, captures readable to the end), and the exit code says a
 * signal ended it (128 + 2). From a pipe the replay ends when the writer closes it, as
 * tcpdump does on the same Ctrl-C.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, expectConservation, expectNoTempFiles, readCapture, readSummary, tempDir, ok } from './cli-run.ts';

const dir = tempDir('signal');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const big = path.join(dir, 'mix.pcap');
const lab = path.join(dir, 'lab.pcap');
const labNg = path.join(dir, 'lab.pcapng');
const PACKETS = 300_000;

beforeAll(() => {
  ok(['synth', 'mix', '--packets', String(PACKETS), '--flows', '500', '--out', big]);
  ok(['synth', 'lab', '--out', lab]);
  ok(['synth', 'lab', '--out', labNg, '--format', 'pcapng']);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, done, out: () => stdout, err: () => stderr };
}

describe('replay stopped by a signal', () => {
  it('from a file: stops early, writes complete outputs for what it replayed, exits 130', async () => {
    const out = path.join(dir, 'file');
    const events = path.join(dir, 'file.jsonl');
    const r = run(['replay', big, '--out', out, '--events', events]);
    // The output folder exists once the replay has started.
    const end = Date.now() + 20_000;
    while (!fs.existsSync(out) && Date.now() < end) await sleep(20);
    await sleep(200);
    r.child.kill('SIGINT');
    const { code, signal } = await r.done;
    expect(signal).toBeNull();
    expect(code).toBe(130);
    expect(r.err()).toMatch(/stopped by SIGINT after \d+ packets; everything replayed so far was written/);
    expectNoTempFiles(out);
    expect(fs.existsSync(`${events}.tmp-${r.child.pid}`)).toBe(false);
    const s = readSummary(out);
    expectConservation(s);
    expect(s.conservation.input).toBeGreaterThan(0);
    expect(s.conservation.input).toBeLessThan(PACKETS);
    // Every capture reads to its end (readCapture throws on a truncated or bad record).
    const records = fs.readdirSync(out).filter((n) => n.endsWith('.pcapng')).map((f) => readCapture(path.join(out, f)).records.length);
    expect(records.length).toBeGreaterThan(0);
    expect(records.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(s.conservation.input);
    expect(fs.readFileSync(events, 'utf8').endsWith('\n')).toBe(true);
  });

  for (const format of ['pcap', 'pcapng'] as const) {
    it(`a live (paced) replay of a stalled ${format} pipe waits on the event loop: a signal ends it while the writer still holds the pipe`, async () => {
      const out = path.join(dir, `live-${format}`);
      const input = format === 'pcap' ? lab : labNg;
      const r = run(['replay', '-', '--speed', '1000', '--out', out]);
      const bytes = fs.readFileSync(input);
      // The file header (pcapng: section and interface blocks) and the first four packets.
      let end = 24;
      if (format === 'pcap') for (let i = 0; i < 4; i++) end += 16 + bytes.readUInt32LE(end + 8);
      else {
        end = 0;
        for (let packets = 0; packets < 4; ) {
          if (bytes.readUInt32LE(end) === 6) packets++;
          end += bytes.readUInt32LE(end + 4);
        }
      }
      r.child.stdin.write(bytes.subarray(0, end));
      const until = Date.now() + 20_000;
      while (!fs.existsSync(out) && Date.now() < until) await sleep(20);
      await sleep(1000);
      r.child.kill('SIGINT');
      // Blocked in a read, it would wait for the writer: give it 10 s, then fail.
      const res = await Promise.race([r.done, sleep(10_000).then(() => null)]);
      r.child.stdin.destroy();
      if (res === null) r.child.kill('SIGKILL');
      expect(res).not.toBeNull();
      expect(res!.code).toBe(130);
      expectNoTempFiles(out);
      expect(readSummary(out).conservation.input).toBe(4);
    });
  }

  it('from a pipe (not live): survives the signal while the read waits, and finishes its outputs', async () => {
    const out = path.join(dir, 'pipe');
    const r = run(['replay', '-', '--out', out]);
    const bytes = fs.readFileSync(lab);
    // The whole lab but its last record, then the pipe stays open as a live capture would.
    const cut = bytes.length - 60;
    r.child.stdin.write(bytes.subarray(0, cut));
    // The output folder is made once the replay runs (its signal handlers are in place).
    const end = Date.now() + 20_000;
    while (!fs.existsSync(out) && Date.now() < end) await sleep(20);
    await sleep(300);
    r.child.kill('SIGINT');
    await sleep(300);
    // Still running: it waits for the writer, which now sends the rest and closes.
    expect(r.child.exitCode).toBeNull();
    r.child.stdin.end(bytes.subarray(cut));
    const { code, signal } = await r.done;
    // The last record comes in one write: replayed either way. The handler may run before
    // the end of input is seen (then 130) or not (then 0): both finish the outputs.
    expect(signal).toBeNull();
    expect([0, 130]).toContain(code);
    expectNoTempFiles(out);
    expect(readSummary(out).conservation.input).toBe(15);
  });
});
