/**
 * The live dashboard on its own thread (dashboards/thread.ts): the screen comes from the
 * worker, keys and journeys cross between the threads, and stop() hands the terminal back
 * before it returns.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, openSync, readFileSync, rmSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { startDashboardThread, type ThreadDashboardHandle } from '../../dashboards/thread.ts';
import type { StatsSnapshot } from '../../traces/stats.ts';
import { EGRESS_IP, labAfterPolicy, PODS, recorder } from './fixtures.ts';

const cleanup: (() => void)[] = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 15_000;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function screenWhere(d: ThreadDashboardHandle, pred: (s: string) => boolean, what: string): Promise<string> {
  const end = Date.now() + 15_000;
  let s = '';
  while (Date.now() < end) {
    s = await d.screenText();
    if (pred(s)) return s;
    await sleep(30);
  }
  throw new Error(`timed out waiting for ${what}; screen was:\n${s}`);
}

function start(snap: StatsSnapshot, sizeFrom: NodeJS.WriteStream | null = null) {
  const dir = mkdtempSync(join(tmpdir(), 'egresslab-thread-'));
  const screenFile = join(dir, 'screen');
  const fd = openSync(screenFile, 'w');
  const rec = recorder(snap, (id) => [`JOURNEY of ${id}`, 'handle_ipv4_from_lxc']);
  const calls = rec.calls;
  const controls = { ...rec.controls, speed: () => 'top speed' };
  const input = new PassThrough();
  const d = startDashboardThread({ getSnapshot: () => snap, controls, input, fd, sizeFrom, cols: 160, rows: 48, terminal: 'xterm-256color', refreshMs: 20 });
  cleanup.push(() => {
    d.stop();
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  return { d, input, calls, written: () => readFileSync(screenFile, 'latin1') };
}

describe('the dashboard on its own thread', () => {
  it('renders the snapshot the replay thread posts, to the given descriptor', async () => {
    const { d, written } = start(labAfterPolicy());
    const screen = await screenWhere(d, (s) => s.includes('egress-all'), 'the policy pane');
    expect(screen).toMatch(/egress-all\s+172\.18\.0\.0\/16\s+hit\s+172\.18\.0\.3\s+172\.18\.0\.3\s+3\s+9\s+540/);
    for (const p of PODS) expect(screen).toContain(`${EGRESS_IP}:${p.sport}`);
    expect(screen).toContain('top speed');
    // The bytes go to the file descriptor, as they would to the terminal (blessed flushes
    // its buffer on the worker's next turn, so they may follow the screen text shortly).
    await until(() => written().includes('egress-all'), 'the screen bytes');
  });

  it('follows new snapshots', async () => {
    const snap = labAfterPolicy();
    const { d } = start(snap);
    await screenWhere(d, (s) => /pkts 18\b/.test(s), 'the first packet count');
    snap.packets = 4242;
    await screenWhere(d, (s) => /pkts 4242\b/.test(s), 'the new packet count');
  });

  it('turns keys into the replay thread\'s controls, and q into quit', async () => {
    const { d, input, calls } = start(labAfterPolicy());
    await screenWhere(d, (s) => s.includes('egress-all'), 'the first screen');
    input.write(' ');
    input.write('+');
    input.write('-');
    input.write('q');
    const end = Date.now() + 10_000;
    while (!calls.includes('quit') && Date.now() < end) await sleep(20);
    expect(calls).toEqual(['pause', 'faster', 'slower', 'quit']);
  });

  it('asks the replay thread for a flow\'s journey on enter and shows it', async () => {
    const { d, input, calls } = start(labAfterPolicy());
    await screenWhere(d, (s) => s.includes('egress-all'), 'the first screen');
    input.write('\r');
    const screen = await screenWhere(d, (s) => s.includes('JOURNEY of flow-'), 'the journey overlay');
    expect(screen).toContain('handle_ipv4_from_lxc');
    expect(calls.filter((c) => c.startsWith('journey'))).toHaveLength(1);
  });

  it('re-lays out when the terminal is resized', async () => {
    const tty = Object.assign(new EventEmitter(), { isTTY: true, columns: 160, rows: 48 }) as unknown as NodeJS.WriteStream;
    const { d } = start(labAfterPolicy(), tty);
    let screen = await screenWhere(d, (s) => s.includes('egress-all'), 'the first screen');
    expect(Math.max(...screen.split('\n').map((l) => l.length))).toBeGreaterThan(120);
    (tty as { columns: number }).columns = 100;
    (tty as { rows: number }).rows = 40;
    tty.emit('resize');
    screen = await screenWhere(d, (s) => s.split('\n').length === 40, 'a 40-row screen');
    expect(Math.max(...screen.split('\n').map((l) => l.length))).toBeLessThanOrEqual(100);
  });

  it('a failure on the dashboard\'s thread reaches onError, and stop() then returns at once', async () => {
    const errors: Error[] = [];
    const input = new PassThrough();
    // A snapshot without its lists makes the first render throw inside the worker.
    const d = startDashboardThread({
      getSnapshot: () => ({}) as StatsSnapshot,
      controls: { pause() {}, resume() {}, step() {}, faster() {}, slower() {}, quit() {}, journey: () => [] },
      input,
      fd: -1,
      sizeFrom: null,
      cols: 160,
      rows: 48,
      refreshMs: 20,
      onError: (err) => errors.push(err),
    });
    await until(() => errors.length > 0, 'the error');
    expect(errors[0]).toBeInstanceOf(Error);
    expect(errors[0]!.message).toMatch(/^the dashboard failed: .*input/);
    const t0 = Date.now();
    d.stop();
    expect(Date.now() - t0).toBeLessThan(500);
    // The keys are given back: nothing listens on the input any more.
    expect(input.listenerCount('data')).toBe(0);
  });

  it('stop() returns after the screen is closed: the terminal is restored when it returns', async () => {
    const { d, written } = start(labAfterPolicy());
    await screenWhere(d, (s) => s.includes('egress-all'), 'the first screen');
    // The alternate screen is entered on start and left on close (xterm: smcup / rmcup).
    await until(() => written().includes('egress-all'), 'the screen bytes');
    expect(written()).toContain('\x1b[?1049h');
    expect(written()).not.toContain('\x1b[?1049l');
    d.stop();
    expect(written()).toContain('\x1b[?1049l');
  });
});
