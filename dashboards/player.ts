/**
 * @module dashboards/player
 * Offline mode's pace: reads a saved event log line by line (streaming, never the whole
 * file) and feeds it to an EventAccumulator at the capture's pace times a multiplier, or at
 * top speed, with pause, single-packet step and speed changes. As tcpreplay's fix for
 * drifting multipliers (appneta/tcpreplay#1004), every deadline is computed from one anchor
 * (wall time, capture time) rather than from accumulated deltas; the anchor is reset on
 * resume, step and speed change.
 */
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { FlowEvent } from '../traces/events.ts';
import type { StatsSnapshot } from '../traces/stats.ts';
import type { EventAccumulator } from './accumulate.ts';
import { fasterSpeed, slowerSpeed, speedLabel } from './speed.ts';

export interface PlayerOptions {
  /** Events file (JSON lines). */
  file: string;
  accumulator: EventAccumulator;
  /** Capture-time multiplier. @default 1 */
  speed?: number;
  /** Ignore capture time, go as fast as possible (yielding to the UI). @default false */
  topSpeed?: boolean;
  /** Start paused (step with `n`, resume with space). @default false */
  paused?: boolean;
  /** Wall clock in ms; injectable for tests. @default performance.now */
  now?: () => number;
}

/** Events processed at top speed before yielding to the event loop (keys, rendering). */
const BATCH = 2000;

function tsOf(ev: FlowEvent): number {
  const ns = ev.egresslab?.ts_ns;
  if (typeof ns === 'string' && /^\d+$/.test(ns)) return (ns.length > 9 ? Number(ns.slice(0, -9)) : 0) + Number(ns.slice(-9)) / 1e9;
  const t = Date.parse(ev.flow?.time ?? ev.time);
  return Number.isFinite(t) ? t / 1000 : 0;
}

export class EventPlayer {
  private readonly o: PlayerOptions;
  private readonly now: () => number;
  private readonly size: number;
  private speedX: number;
  private top: boolean;
  private paused: boolean;
  private stepCredits = 0;
  private stopped = false;
  private finished = false;
  private needAnchor = true;
  private anchorWall = 0;
  private anchorTs = 0;
  private wake: (() => void) | undefined;
  private bytes = 0;
  private packets = 0;
  private lastPacket = '';
  private ppsSample = { t: 0, n: 0, pps: 0 };
  private stream: ReturnType<typeof createReadStream> | undefined;
  private lineNo = 0;
  /** Line number (from 1) of the first line that is not a flow event, if any. */
  firstBadLine: number | undefined;

  constructor(o: PlayerOptions) {
    this.o = o;
    this.now = o.now ?? (() => performance.now());
    this.size = statSync(o.file).size;
    // As given, as the live replay keeps --speed: the +/- steps never go the wrong way.
    this.speedX = o.speed ?? 1;
    this.top = o.topSpeed ?? false;
    this.paused = o.paused ?? false;
  }

  /** Reads and plays the whole file; resolves when it is done or stop() was called. */
  async run(): Promise<void> {
    this.stream = createReadStream(this.o.file);
    const rl = createInterface({ input: this.stream, crlfDelay: Infinity });
    let sinceYield = 0;
    try {
      for await (const line of rl) {
        if (this.stopped) break;
        this.lineNo++;
        this.bytes += Buffer.byteLength(line) + 1;
        let ev: unknown;
        try {
          ev = JSON.parse(line);
        } catch {
          if (line.trim() !== '') {
            this.o.accumulator.addLine(line); // counts it as a bad line
            this.firstBadLine ??= this.lineNo;
          }
          continue;
        }
        const x = (ev as { egresslab?: { packet_id?: unknown; input_index?: unknown } })?.egresslab;
        const pid = x?.packet_id;
        if (typeof pid === 'string' && pid !== this.lastPacket) {
          this.lastPacket = pid;
          // Paused, `n` steps one input packet with the answers the hosts generated after it
          // (input_index -1), as the live replay does: those do not wait for a step of their own.
          const generated = typeof x?.input_index === 'number' && x.input_index < 0;
          if (!(generated && this.paused)) await this.gate(tsOf(ev as FlowEvent));
          if (this.stopped) break;
          this.packets++;
        }
        if (!this.o.accumulator.addLine(line) && line.trim() !== '') this.firstBadLine ??= this.lineNo;
        if (this.top && !this.paused && ++sinceYield >= BATCH) {
          sinceYield = 0;
          await new Promise<void>((r) => setImmediate(r));
        }
      }
    } finally {
      rl.close();
      this.stream.destroy();
      this.finished = true;
    }
  }

  /** Waits until the packet starting at capture time `ts` may be played. */
  private async gate(ts: number): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      if (this.paused) {
        if (this.stepCredits > 0) {
          this.stepCredits--;
          this.needAnchor = true;
          return;
        }
        await this.sleep(1000);
        continue;
      }
      if (this.top) return;
      if (this.needAnchor) {
        this.needAnchor = false;
        this.anchorWall = this.now();
        this.anchorTs = ts;
        return;
      }
      const due = this.anchorWall + ((ts - this.anchorTs) * 1000) / this.speedX;
      const wait = due - this.now();
      if (wait <= 0) return;
      // Short sleeps so pause, step and speed changes take effect at once.
      await this.sleep(Math.min(wait, 100));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  pause(): void {
    this.paused = true;
    this.poke();
  }
  resume(): void {
    this.paused = false;
    this.needAnchor = true;
    this.poke();
  }
  /** Plays one more input packet (all its events) while paused. */
  step(): void {
    this.paused = true;
    this.stepCredits++;
    this.poke();
  }
  faster(): void {
    if (!this.top) this.speedX = fasterSpeed(this.speedX)!;
    this.needAnchor = true;
    this.poke();
  }
  slower(): void {
    if (this.top) this.top = false;
    else this.speedX = slowerSpeed(this.speedX);
    this.needAnchor = true;
    this.poke();
  }
  stop(): void {
    this.stopped = true;
    this.poke();
    this.stream?.destroy();
  }
  isPaused(): boolean {
    return this.paused;
  }
  speedLabel(): string {
    return speedLabel(this.top ? undefined : this.speedX);
  }
  /** Input packets started so far. */
  packetsPlayed(): number {
    return this.packets;
  }

  snapshot(): StatsSnapshot {
    const t = this.now();
    const s = this.ppsSample;
    if (t - s.t >= 1000) {
      s.pps = s.t === 0 ? 0 : ((this.packets - s.n) * 1000) / (t - s.t);
      s.t = t;
      s.n = this.packets;
    }
    return this.o.accumulator.snapshot({
      progress: this.size > 0 ? Math.min(1, this.bytes / this.size) : undefined,
      pps: this.paused || this.finished ? 0 : s.pps,
      paused: this.paused,
      finished: this.finished,
    });
  }
}
