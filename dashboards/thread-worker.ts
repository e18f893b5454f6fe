/**
 * @module dashboards/thread-worker
 * The live dashboard's own thread (started by thread.ts): blessed, the panes and the
 * redraws run here, on another core than the replay. The screen is written straight to the
 * terminal's file descriptor; keys, terminal sizes and snapshots arrive as messages.
 */
import { writeSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import type { StatsSnapshot } from '../traces/stats.ts';
import { startDashboard, type DashboardHandle } from './dashboard.ts';
import type { FromDashboard, ToDashboard, ThreadInit } from './thread.ts';

const init = workerData as ThreadInit;
const port = parentPort!;
const post = (m: FromDashboard): void => port.postMessage(m);
const done = new Int32Array(init.done);
const nap = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of `bytes` to the terminal. A TTY's descriptor may be non-blocking (libuv sets
 * it so for the main thread's stdout): a full terminal buffer gives EAGAIN, so wait and retry.
 */
function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off, bytes.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(nap, 0, 0, 1);
    }
  }
}

const output = Object.assign(
  new Writable({
    decodeStrings: true,
    write(chunk: Buffer, _enc, cb) {
      try {
        if (init.fd >= 0) writeAll(init.fd, chunk);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  }),
  { columns: init.cols, rows: init.rows, isTTY: true },
);
const input = new PassThrough();

let snap: StatsSnapshot | undefined;
let speed = '';
let dash: DashboardHandle | undefined;
const journeys = new Map<string, (lines: string[]) => void>();

function stop(): void {
  try {
    dash?.stop();
  } finally {
    // The replay's thread waits on this (Atomics.wait) so the terminal is restored before it
    // prints or exits.
    Atomics.store(done, 0, 1);
    Atomics.notify(done, 0);
    // Ends this thread now (in a worker, process.exit ends only the worker), so its teardown
    // runs while the replay's thread prints; the process's exit would otherwise wait for it.
    process.exit(0);
  }
}

port.on('message', (m: ToDashboard) => {
  try {
    handle(m);
  } catch (err) {
    // Reported, not thrown: an exception inside a message listener is not always a worker
    // 'error' in the parent. The screen is closed first so the message can be read.
    try {
      dash?.stop();
    } catch {
      // Already broken: the parent resets the terminal.
    }
    const e = err instanceof Error ? err : new Error(String(err));
    post({ t: 'error', message: e.message, stack: e.stack ?? '' });
    port.close();
  }
});

function handle(m: ToDashboard): void {
  switch (m.t) {
    case 'snap':
      snap = m.snap;
      speed = m.speed;
      // The first snapshot starts the screen: the panes never render without one.
      dash ??= startDashboard({
        getSnapshot: () => snap!,
        controls: {
          pause: () => post({ t: 'ctl', op: 'pause' }),
          resume: () => post({ t: 'ctl', op: 'resume' }),
          step: () => post({ t: 'ctl', op: 'step' }),
          faster: () => post({ t: 'ctl', op: 'faster' }),
          slower: () => post({ t: 'ctl', op: 'slower' }),
          quit: () => post({ t: 'ctl', op: 'quit' }),
          interrupt: () => post({ t: 'ctl', op: 'interrupt' }),
          journey: (flowId) =>
            new Promise<string[]>((resolve) => {
              journeys.set(flowId, resolve);
              post({ t: 'journey', flowId });
            }),
          speed: () => speed,
        },
        input,
        output,
        terminal: init.terminal,
        refreshMs: init.refreshMs,
        cols: init.cols,
        rows: init.rows,
      });
      break;
    case 'key':
      input.write(Buffer.from(m.data));
      break;
    case 'resize':
      output.columns = m.cols;
      output.rows = m.rows;
      output.emit('resize');
      break;
    case 'journey': {
      const resolve = journeys.get(m.flowId);
      journeys.delete(m.flowId);
      resolve?.(m.lines);
      break;
    }
    case 'text':
      post({ t: 'text', text: dash ? dash.screenText() : '' });
      break;
    case 'stop':
      stop();
      break;
  }
}
