/**
 * @module dashboards/thread
 * Runs the live dashboard on a worker thread (thread-worker.ts). The replay's thread builds
 * a StatsSnapshot every `refreshMs` and posts it; blessed's start-up, the redraws and their
 * garbage run on the worker. On this project's 2-vCPU machine that took a few points off the
 * dashboard's cost to a replay at top speed (side by side: 16-26% of its wall time in the
 * same thread, 13-18% on its own; README, Benchmarks, which also says what the rest is).
 *
 * This side owns the terminal's input: raw mode, keys (forwarded as bytes) and size changes.
 * The worker writes the screen to the output's file descriptor itself.
 */
import { writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { Worker } from 'node:worker_threads';
import type { StatsSnapshot } from '../traces/stats.ts';
import type { DashboardControls } from './dashboard.ts';

/** workerData of the dashboard's thread. */
export interface ThreadInit {
  /** File descriptor the screen is written to; -1 discards it. */
  fd: number;
  cols: number;
  rows: number;
  terminal: string;
  refreshMs: number;
  /** One Int32 the worker sets to 1 once the screen is closed. */
  done: SharedArrayBuffer;
}

/** Messages to the dashboard's thread. */
export type ToDashboard =
  | { t: 'snap'; snap: StatsSnapshot; speed: string }
  | { t: 'key'; data: Uint8Array }
  | { t: 'resize'; cols: number; rows: number }
  | { t: 'journey'; flowId: string; lines: string[] }
  | { t: 'text' }
  | { t: 'stop' };

/** Messages from the dashboard's thread. */
export type FromDashboard =
  | { t: 'ctl'; op: 'pause' | 'resume' | 'step' | 'faster' | 'slower' | 'quit' | 'interrupt' }
  | { t: 'journey'; flowId: string }
  | { t: 'text'; text: string }
  | { t: 'error'; message: string; stack: string };

export interface ThreadDashboardOptions {
  getSnapshot(): StatsSnapshot;
  controls: DashboardControls;
  /** Keys; raw mode is set on it when it is a TTY. @default process.stdin */
  input?: NodeJS.ReadableStream;
  /** The screen's descriptor, -1 to discard. @default 1 (stdout) */
  fd?: number;
  /** Size changes are followed on this stream when it is a TTY; null: cols x rows, fixed. @default process.stdout */
  sizeFrom?: NodeJS.WriteStream | null;
  /** Terminal size when `sizeFrom` reports none. */
  cols?: number;
  rows?: number;
  /** terminfo name; @default $TERM */
  terminal?: string;
  /** Snapshot and redraw period. @default 100 */
  refreshMs?: number;
  /** Called if the dashboard's thread fails; the screen is gone by then. */
  onError?(err: Error): void;
}

export interface ThreadDashboardHandle {
  /** Closes the screen (waiting up to a second for the thread to restore the terminal). */
  stop(): void;
  /** The screen as plain text, as DashboardHandle.screenText (for tests). */
  screenText(): Promise<string>;
}

/** Where the worker's code is: the bundle's own entry, or the sources through tsx. */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('./thread-worker-tsx.mjs', import.meta.url)
    : new URL('./dash-worker.mjs', import.meta.url);
}

/**
 * Starts the dashboard on its own thread.
 * @example
 * const d = startDashboardThread({ getSnapshot: () => run.snapshot(), controls });
 * // later
 * d.stop();
 */
export function startDashboardThread(o: ThreadDashboardOptions): ThreadDashboardHandle {
  const input = (o.input ?? process.stdin) as NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(on: boolean): unknown };
  const sizeFrom = o.sizeFrom === undefined ? process.stdout : o.sizeFrom;
  const refreshMs = Math.max(10, o.refreshMs ?? 100);
  const done = new SharedArrayBuffer(4);
  const init: ThreadInit = {
    fd: o.fd ?? 1,
    cols: sizeFrom?.columns || o.cols || 80,
    rows: sizeFrom?.rows || o.rows || 24,
    terminal: o.terminal ?? process.env['TERM'] ?? 'xterm',
    refreshMs,
    done,
  };
  const worker = new Worker(workerUrl(), { workerData: init });
  // The replay's end, not the dashboard, decides when the process exits.
  worker.unref();
  const send = (m: ToDashboard): void => worker.postMessage(m);
  const speed = (): string => (o.controls.speed ? o.controls.speed() : '');
  let stopped = false;
  const texts: ((text: string) => void)[] = [];

  const push = (): void => send({ t: 'snap', snap: o.getSnapshot(), speed: speed() });
  push();
  const timer = setInterval(push, refreshMs);
  // Like the worker, the snapshots never keep the process alive by themselves.
  timer.unref();

  const failed = (err: Error): void => {
    if (stopped) return;
    release();
    // The worker died with the screen up: leave the alternate screen, show the cursor and
    // reset the colours (xterm's rmcup, cnorm, sgr0: what every terminal the dashboard runs
    // in understands), so the error that follows is readable.
    if (init.fd >= 0 && isatty(init.fd)) {
      try {
        writeSync(init.fd, '\x1b[?1049l\x1b[?25h\x1b[0m\n');
      } catch {
        // The terminal is gone too: nothing to restore.
      }
    }
    o.onError?.(err);
    void worker.terminate();
  };
  worker.on('error', failed);

  worker.on('message', (m: FromDashboard) => {
    if (m.t === 'ctl') {
      if (m.op === 'interrupt') (o.controls.interrupt ?? o.controls.quit)();
      else o.controls[m.op]();
    }
    else if (m.t === 'text') texts.shift()?.(m.text);
    else if (m.t === 'error') failed(Object.assign(new Error(`the dashboard failed: ${m.message}`), { stack: m.stack }));
    else if (m.t === 'journey') {
      void Promise.resolve()
        .then(() => o.controls.journey(m.flowId))
        .catch((err: unknown) => [`journey of ${m.flowId} failed: ${err instanceof Error ? err.message : String(err)}`])
        .then((lines) => {
          if (!stopped) send({ t: 'journey', flowId: m.flowId, lines });
        });
    }
  });

  const onKey = (data: Buffer | string): void => send({ t: 'key', data: typeof data === 'string' ? Buffer.from(data) : data });
  if (input.isTTY && input.setRawMode) input.setRawMode(true);
  input.on('data', onKey);
  input.resume();
  const onResize = (): void => {
    if (sizeFrom) send({ t: 'resize', cols: sizeFrom.columns, rows: sizeFrom.rows });
  };
  if (sizeFrom?.isTTY) sizeFrom.on('resize', onResize);

  function release(): void {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    input.removeListener('data', onKey);
    if (input.isTTY && input.setRawMode) input.setRawMode(false);
    input.pause();
    if (sizeFrom?.isTTY) sizeFrom.removeListener('resize', onResize);
  }

  return {
    stop(): void {
      if (stopped) return;
      send({ t: 'stop' });
      // Synchronous on purpose: callers print a summary (or an error) right after, and that
      // must land on the restored terminal, not inside the dashboard's screen.
      Atomics.wait(new Int32Array(done), 0, 0, 1000);
      release();
      void worker.terminate();
    },
    screenText(): Promise<string> {
      return new Promise((resolve) => {
        texts.push(resolve);
        send({ t: 'text' });
      });
    },
  };
}
