/**
 * @module tools/replay-core
 * The replay job without the command line: read a capture as a stream, hand each record to
 * the dataplane, write what every observation device saw (one pcapng per node, or one pcap
 * per node and device), the flow-event log and `summary.json`. `replay`, `npm start`, the
 * golden tests, `explain` and the benchmark all run through here.
 */
import { mkdirSync, closeSync, fstatSync, openSync, writeSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { CaptureError, ConfigError, OutputError } from '../traces/errors.ts';
import { decodeLinkType, openCapture, WOULD_BLOCK, type L3Location } from '../traces/open.ts';
import { createPcapWriter, type PcapWriter } from '../traces/pcap-writer.ts';
import { createPcapngWriter, type PcapngWriter } from '../traces/pcapng-writer.ts';
import {
  DIRECTION_INBOUND,
  DIRECTION_OUTBOUND,
  LINKTYPE_ETHERNET,
} from '../traces/record.ts';
import { formatFlowEvent, type FlowEvent } from '../traces/events.ts';
import type { StatsSnapshot, Summary } from '../traces/stats.ts';
import { labTopology, loadTopology, type Topology } from '../dataplane/cluster/topology.ts';
import {
  loadPolicies,
  policiesSelectingNothing,
  profileForPolicies,
  type EgressPolicy,
  type Profile,
} from '../dataplane/cluster/policy.ts';
import { formatBpftoolDump } from '../dataplane/lib/egress-gateway.ts';
import { Dataplane, SAMPLE_DETAIL, SAMPLE_EVENT, SAMPLE_NONE, type EventSampling, type Hop } from '../dataplane/engine.ts';
import { checkOutputFile, clearPreviousOutputs, makeOutputDir } from './output-dir.ts';
import { inertLines } from '../traces/inert.ts';

export interface ReplayOptions {
  /** Capture path, or '-' for stdin. */
  input: string;
  /** Topology YAML. @default the built-in lab */
  topology?: string;
  /** Policy YAML files. @default none (the lab's "before") */
  policies?: string[];
  /** Already-loaded policies (used by `npm start` for the built-in lab policy). */
  policyObjects?: EgressPolicy[];
  /** Datapath profile. @default from the policy kind; '1.10' (the seed's) without policies */
  datapath?: Profile;
  /** @default 1 */
  seed?: number;
  /** Output folder; nothing is written when absent. */
  outDir?: string;
  /** @default 'pcapng' */
  format?: 'pcapng' | 'pcap';
  /** Flow-event log (JSON lines) path. */
  events?: string;
  /** SNAT port allocator: cilium (the profile's), linux, linux-random-fully. */
  allocator?: string;
  /** Pace by capture time (1 = real time); undefined = top speed. */
  speed?: number;
  /** Write `maps/<node>.txt` (egress map, NAT and CT tables) at the end. */
  dumpMaps?: boolean;
  /** CT garbage collection interval in seconds of capture time. @default 300 */
  gcInterval?: number;
  /** Progress line on stderr (only when stderr is a terminal). @default true */
  progress?: boolean;
  /** Keep per-hop journeys (map lookups, SNAT candidates) in the events. */
  recordJourney?: boolean;
  /** Extra event consumer (explain, the dashboard's event strip). */
  onEvent?: (ev: FlowEvent) => void;
  /** Build events only for the input packets this accepts (see DataplaneOptions.eventSample). */
  eventSample?: (inputIndex: number) => EventSampling;
  /** Live control (the dashboard): pause, step, speed. */
  control?: ReplayControl;
  /** Called once the dataplane exists (the dashboard reads snapshots through it). */
  onStart?: (run: ReplayRun) => void;
  /**
   * Stops the replay early (e.g. on SIGINT): the loop ends after the packet in hand and the
   * outputs are finished as at the end of the input. The loop gives the event loop a turn at
   * least every 50 ms so that a signal handler can run.
   */
  signal?: AbortSignal;
  /** Warnings on stderr about the scenario (e.g. excludedCIDRs under 1.10). @default true */
  warnings?: boolean;
}

/** What a live consumer may ask of a running replay. */
export class ReplayControl {
  paused = false;
  quit = false;
  private steps = 0;
  /** Packets per second of capture time multiplier; undefined = top speed. */
  speed: number | undefined;
  constructor(speed?: number) {
    this.speed = speed;
  }
  step(): void {
    this.steps++;
  }
  /** Consumes one step if one was asked for. */
  takeStep(): boolean {
    if (this.steps === 0) return false;
    this.steps--;
    return true;
  }
}

/**
 * Opens process.stdin when it is a pipe, which sets the descriptor non-blocking (libuv does
 * so for every pipe it manages); nothing reads through that stream. False for anything else
 * (a file redirected to stdin never blocks; a terminal is not a capture).
 */
function makeStdinNonBlocking(): boolean {
  try {
    if (!fstatSync(0).isFIFO() && !fstatSync(0).isSocket()) return false;
  } catch {
    return false;
  }
  void process.stdin;
  return true;
}

/** At top speed the loop looks at the clock every this many records... */
const YIELD_CHECK = 2048;
/** ...and gives the event loop (screen, keys) a turn when this many ms have passed. */
const YIELD_MS = 20;

/**
 * Paces a live replay by capture time, anchored to a reference packet (tcpreplay's drift
 * fix: deadlines are computed from the anchor, never accumulated). A pause, a step or a
 * change of speed re-anchors, so resuming does not burst to catch up.
 */
class Pacer {
  private anchorCapture: number | undefined;
  private anchorWall = 0;
  private anchorSpeed: number | undefined;
  private sinceYield = 0;
  private yieldedAt = -Infinity;
  constructor(private readonly control: ReplayControl) {}

  /**
   * The common case without a promise: at top speed, running, and not yet due to yield, the
   * record may go now (true); otherwise (false) the caller awaits hold(). An await per packet
   * cost the live replay a third of its throughput.
   */
  ready(): boolean {
    const c = this.control;
    if (c.quit || c.paused || c.speed !== undefined || this.sinceYield + 1 >= YIELD_CHECK) return false;
    this.sinceYield++;
    return true;
  }

  /** Waits until the record at (sec, nsec) is due; false when the user asked to quit. */
  async hold(sec: number, nsec: number): Promise<boolean> {
    const c = this.control;
    const t = sec + nsec / 1e9;
    for (;;) {
      if (c.quit) return false;
      if (c.paused) {
        this.anchorCapture = undefined;
        if (c.takeStep()) return true;
        await sleep(20);
        continue;
      }
      if (c.speed === undefined) {
        // Top speed, but let the dashboard render and keys arrive between batches. The clock
        // is read once a batch and the loop yields at most every YIELD_MS: a yield per batch
        // (~500 a second) cost the live replay about 3% throughput.
        if (++this.sinceYield >= YIELD_CHECK) {
          this.sinceYield = 0;
          const now = performance.now();
          if (now - this.yieldedAt >= YIELD_MS) {
            await yieldToLoop();
            this.yieldedAt = performance.now();
          }
        }
        return true;
      }
      if (this.anchorCapture === undefined || this.anchorSpeed !== c.speed) {
        this.anchorCapture = t;
        this.anchorWall = performance.now();
        this.anchorSpeed = c.speed;
      }
      const wait = this.anchorWall + ((t - this.anchorCapture) / c.speed) * 1000 - performance.now();
      if (wait <= 1) return true;
      await sleep(Math.min(wait, 50));
    }
  }
}

/** Input packets whose events a top-speed live replay always builds (see liveEventSample). */
export const FIRST_SAMPLED = 64;

/**
 * The live dashboard's event sampling: at top speed, building every hop's event would cost
 * more than the replay itself, so one packet's events are taken every 100 ms of wall time
 * (the panes' counters come from the dataplane and stay exact), without their journey
 * detail (see SAMPLE_EVENT). Two or three packets per redraw at top speed (every 250 ms) keep
 * the events pane moving; every 20 ms cost the replay about 3% more, because the code that
 * builds events runs too rarely to be optimised. The first FIRST_SAMPLED packets always
 * have their events: a short capture (the lab's 15 packets) ends before the first 100 ms and
 * would show none. With their detail when `firstDetail`; without it the replay runs ~8%
 * faster (once the detail code has run, V8 keeps it in the hot programs), and a replay of a
 * file gets the detail afterwards from detailFirstPackets(). Paced, paused or stepping:
 * every packet, with the detail.
 */
export function liveEventSample(control: ReplayControl, everyMs = 100, firstDetail = true): (inputIndex: number) => EventSampling {
  let last = -Infinity;
  let n = 0;
  const first = firstDetail ? SAMPLE_DETAIL : SAMPLE_EVENT;
  return () => {
    if (control.speed !== undefined || control.paused) return SAMPLE_DETAIL;
    if (++n <= FIRST_SAMPLED) return first;
    // The clock is read every 64th packet only: reading it per packet shows in profiles.
    if ((n & 63) !== 0) return SAMPLE_NONE;
    const now = performance.now();
    if (now - last < everyMs) return SAMPLE_NONE;
    last = now;
    return SAMPLE_EVENT;
  };
}

/**
 * The events of the first `n` input packets of a capture file (and of the answers generated
 * before the next one), with their journey detail: the same replay again, from the start,
 * stopped after them. Every packet among them had its events in the live run too, so the
 * packet and flow ids are the same and these can stand in for the live run's events (which
 * a top-speed run built without the detail, see liveEventSample).
 */
export async function detailFirstPackets(o: ReplayOptions, n = FIRST_SAMPLED): Promise<FlowEvent[]> {
  const events: FlowEvent[] = [];
  const stop = new AbortController();
  let done = false;
  // Counted per packet injected, as liveEventSample counts (records that are not IP are
  // not injected and not counted), so the same packets are the first n.
  let injected = 0;
  await runReplay({
    ...o,
    outDir: undefined,
    events: undefined,
    dumpMaps: false,
    progress: false,
    // The live run said it already.
    warnings: false,
    speed: undefined,
    control: undefined,
    onStart: undefined,
    signal: stop.signal,
    recordJourney: true,
    onEvent: (ev) => {
      if (!done) events.push(ev);
    },
    eventSample: () => {
      if (++injected <= n) return SAMPLE_DETAIL;
      // Answers flushed from here on follow this packet's choice, as in the live run; they
      // are not among the first packets' events.
      done = true;
      stop.abort();
      return SAMPLE_NONE;
    },
  });
  return events;
}

/** A running replay, as the dashboard sees it. */
export interface ReplayRun {
  readonly dataplane: Dataplane;
  snapshot(): StatsSnapshot;
}

export interface ReplayResult {
  summary: Summary;
  /** 0 ok; 2 when the capture failed mid-way (everything before it was replayed and written). */
  exitCode: number;
  /** The capture error, if the input ended in one. */
  error?: CaptureError;
  dataplane: Dataplane;
}

/** Loads topology and policies and checks them together; ConfigError on any problem. */
export function loadScenario(o: Pick<ReplayOptions, 'topology' | 'policies' | 'policyObjects' | 'datapath' | 'warnings'>): {
  topology: Topology;
  policies: EgressPolicy[];
  profile: Profile;
} {
  const topology = o.topology ? loadTopology(o.topology) : labTopology();
  const policies = [...(o.policyObjects ?? [])];
  for (const f of o.policies ?? []) {
    const loaded = loadPolicies(f);
    // An empty file (or one of comments only) is a mistake, not "no policy": say so.
    if (loaded.length === 0) throw new ConfigError(f, undefined, undefined, 'the file holds no egress policy (empty, comments only or an empty List)');
    policies.push(...loaded);
  }
  const idle = policiesSelectingNothing(topology, policies);
  if (idle.length > 0) {
    const p = policies.find((x) => x.name === idle[0])!;
    const at = p.selectorsAt ?? { field: 'spec', line: p.line };
    throw new ConfigError(p.file, at.line, at.field, `policy '${p.name}' selects no endpoint of topology ${topology.file}`);
  }
  const profile = o.datapath ?? (policies.length > 0 ? profileForPolicies(policies) : '1.10');
  // A cross-version replay keeps going, but a field the profile cannot express is said.
  if (profile === '1.10' && o.warnings !== false) {
    for (const p of policies) {
      if (p.excludedCidrs.length > 0) {
        process.stderr.write(
          `egresslab: warning: ${inertLines(p.file)}:${p.line}: policy '${p.name}': excludedCIDRs have no effect with datapath 1.10 (Cilium 1.10 has no excluded CIDRs)\n`,
        );
      }
    }
  }
  return { topology, policies, profile };
}

/** Buffered append-only text file, written to a temporary name and renamed when complete. */
class LineFile {
  private readonly fd: number;
  private readonly tmp: string;
  private parts: string[] = [];
  private size = 0;
  constructor(readonly path: string) {
    this.tmp = `${path}.tmp-${process.pid}`;
    // A folder at the final name would only fail at the rename, after the whole job.
    checkOutputFile(path);
    try {
      this.fd = openSync(this.tmp, 'w');
    } catch (err) {
      throw new OutputError(`${path}: cannot create ${this.tmp}: ${(err as Error).message}`, { cause: err });
    }
  }
  line(s: string): void {
    this.parts.push(s, '\n');
    this.size += s.length + 1;
    if (this.size > 1 << 20) this.flush();
  }
  private flush(): void {
    if (this.parts.length) writeSync(this.fd, this.parts.join(''));
    this.parts = [];
    this.size = 0;
  }
  close(): void {
    try {
      this.flush();
      closeSync(this.fd);
      renameSync(this.tmp, this.path);
    } catch (err) {
      this.abort();
      throw new OutputError(`${this.path}: cannot finish: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Removes the temporary file; the final name is never created. */
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    rmSync(this.tmp, { force: true });
  }
}

/**
 * Output captures, created on first use so a device that saw nothing leaves no file (pcap)
 * or an empty interface (pcapng). Writers and interface ids sit in arrays indexed by the
 * hop's node and device positions, so a hop costs no string key or Map lookup.
 */
class HopWriters {
  /** pcapng: per node index, its writer and the interface id per device index. */
  private readonly perNode: ({ writer: PcapngWriter; ifIds: number[]; byName: Map<string, number> } | undefined)[] = [];
  /** pcap: per node index, per device index, the file's writer. */
  private readonly perDevice: (PcapWriter | undefined)[][] = [];
  /** pcap writers of devices the node did not list (deviceIndex -1), by node/device name. */
  private readonly perDeviceByName = new Map<string, PcapWriter>();
  readonly files: string[] = [];
  constructor(
    private readonly outDir: string,
    private readonly format: 'pcapng' | 'pcap',
    private readonly resolution: 'us' | 'ns',
    private readonly dp: Dataplane,
  ) {}

  write(h: Hop): void {
    if (this.format === 'pcapng') {
      const n = this.perNode[h.nodeIndex] ?? this.openNode(h);
      let id = h.deviceIndex >= 0 ? n.ifIds[h.deviceIndex] : n.byName.get(h.device);
      if (id === undefined) {
        id = n.writer.addInterface({ name: `${h.node}/${h.device}`, linkType: LINKTYPE_ETHERNET, resolution: this.resolution });
        n.byName.set(h.device, id);
      }
      const direction = h.direction === 'in' ? DIRECTION_INBOUND : DIRECTION_OUTBOUND;
      n.writer.writeFrame(id, h.tsSec, h.tsNsec, h.buf, h.frameOff, h.frameLen, h.comment, direction);
    } else {
      const row = this.perDevice[h.nodeIndex] ?? (this.perDevice[h.nodeIndex] = []);
      let w = h.deviceIndex >= 0 ? row[h.deviceIndex] : this.perDeviceByName.get(`${h.node}/${h.device}`);
      if (!w) {
        w = this.openDevice(h);
        if (h.deviceIndex >= 0) row[h.deviceIndex] = w;
        else this.perDeviceByName.set(`${h.node}/${h.device}`, w);
      }
      w.writeFrame(h.tsSec, h.tsNsec, h.buf, h.frameOff, h.frameLen);
    }
  }

  private openNode(h: Hop): { writer: PcapngWriter; ifIds: number[]; byName: Map<string, number> } {
    const file = `${h.node}.pcapng`;
    const writer = createPcapngWriter(join(this.outDir, file), { comment: `egresslab replay: node ${h.node}` });
    const ifIds: number[] = [];
    const byName = new Map<string, number>();
    // Every observation device of the node gets an interface up front, in a fixed order
    // (the order of devices(), which the hop's deviceIndex refers to).
    for (const d of this.dp.devices(h.node)) {
      const id = writer.addInterface({ name: `${h.node}/${d.name}`, description: d.kind, linkType: LINKTYPE_ETHERNET, resolution: this.resolution });
      ifIds.push(id);
      byName.set(d.name, id);
    }
    const n = { writer, ifIds, byName };
    if (h.nodeIndex >= 0) this.perNode[h.nodeIndex] = n;
    this.files.push(file);
    return n;
  }

  private openDevice(h: Hop): PcapWriter {
    const key = `${h.node}/${h.device}`;
    mkdirSync(join(this.outDir, h.node), { recursive: true });
    const file = `${h.node}/${h.device}.pcap`;
    const w = createPcapWriter(join(this.outDir, file), { resolution: this.resolution, linkType: LINKTYPE_ETHERNET });
    w.addInterface({ name: key, linkType: LINKTYPE_ETHERNET });
    this.files.push(file);
    return w;
  }

  private writers(): (PcapngWriter | PcapWriter)[] {
    const out: (PcapngWriter | PcapWriter)[] = [];
    for (const n of this.perNode) if (n) out.push(n.writer);
    for (const row of this.perDevice) if (row) for (const w of row) if (w) out.push(w);
    out.push(...this.perDeviceByName.values());
    return out;
  }

  close(): void {
    for (const w of this.writers()) w.close();
    this.files.sort();
  }

  abort(): void {
    for (const w of this.writers()) w.abort();
  }
}

function formatRate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : `${Math.round(n)}`;
}

/** Runs a replay to the end of the input. ConfigError/UsageError propagate (exit 2, nothing written). */
export async function runReplay(o: ReplayOptions): Promise<ReplayResult> {
  const { topology, policies, profile } = loadScenario(o);
  const seed = o.seed ?? 1;
  const reader = openCapture(o.input);
  const inputName = o.input === '-' ? '-' : o.input;
  const nsInput = reader.info.interfaces.some((i) => i.tsresol.base === 10 ? i.tsresol.exp > 6 : i.tsresol.exp > 20);
  const resolution = nsInput ? 'ns' : 'us';

  let hopWriters: HopWriters | undefined;
  let events: LineFile | undefined;
  const onEvent = o.onEvent;
  const dp: Dataplane = new Dataplane({
    topology,
    policies,
    profile,
    seed,
    allocator: o.allocator,
    gcInterval: o.gcInterval,
    recordJourney: o.recordJourney,
    // A sampled event log would be incomplete: with --events every packet's events are built.
    eventSample: o.events ? undefined : o.eventSample,
    observer: {
      hop: o.outDir ? (h) => hopWriters!.write(h) : undefined,
      event: o.events || onEvent ? (ev) => {
        events?.line(formatFlowEvent(ev));
        onEvent?.(ev);
      } : undefined,
    },
  });
  // Outputs are set up before the first record; if one cannot be, nothing is left behind.
  let createdDir: string | undefined;
  try {
    // Checked before the output folder is created, so a bad --events leaves nothing behind.
    if (o.events) checkOutputFile(o.events);
    if (o.outDir) {
      createdDir = makeOutputDir(o.outDir);
      if (createdDir === undefined) clearPreviousOutputs(o.outDir);
      hopWriters = new HopWriters(o.outDir, o.format ?? 'pcapng', resolution, dp);
    }
    if (o.events) events = new LineFile(o.events);
  } catch (err) {
    reader.close();
    if (createdDir !== undefined) rmSync(createdDir, { recursive: true, force: true });
    throw err;
  }

  const control = o.control ?? (o.speed !== undefined ? new ReplayControl(o.speed) : undefined);
  const showProgress = o.progress !== false && process.stderr.isTTY === true;
  const started = performance.now();
  const abort = o.signal;
  let yieldedAt = started;
  // How often the loop looks at the clock for `signal`: every packet from a pipe (a live
  // capture trickles in), every 64th from a file.
  const abortMask = abort === undefined ? -1 : reader.size === undefined ? 0 : 63;
  let packets = 0;
  let pps = 0;
  let lastReport = started;
  let lastPackets = 0;
  const pacer = control ? new Pacer(control) : undefined;
  let drops = 0;

  // The dashboard asks at most ten times a second; its rate is measured between its own asks.
  let snapAt = started;
  let snapPackets = 0;
  let snapPps = 0;
  // Port strips scan the whole NAT map: refreshed once a second, reused in between.
  let strips: StatsSnapshot['portStrips'] = [];
  let stripsAt = -Infinity;
  const snapshot = (): StatsSnapshot => {
    const fresh = performance.now() - stripsAt >= 1000;
    const s = dp.snapshot({ strips: fresh });
    if (fresh) {
      strips = s.portStrips;
      stripsAt = performance.now();
    }
    s.portStrips = strips;
    const now = performance.now();
    if (now - snapAt >= 250) {
      snapPps = ((packets - snapPackets) * 1000) / (now - snapAt);
      snapAt = now;
      snapPackets = packets;
    }
    return {
      ...s,
      input: inputName,
      progress: reader.size ? reader.position / reader.size : undefined,
      pps: snapPps,
      paused: control?.paused ?? false,
      finished,
    };
  };
  let finished = false;
  o.onStart?.({ dataplane: dp, snapshot });

  const loc: L3Location = { l3Offset: 0, ethertype: 0, reason: '' };
  let error: CaptureError | undefined;
  // A live replay of a pipe (`tcpdump -w - | egresslab replay - --dash`) must not block its
  // thread waiting for the next packet: the screen's snapshots, the keys and the pacing all
  // run on the event loop. stdin becomes non-blocking (Node does that to a pipe when it
  // opens process.stdin, which is then never read from), and a read with nothing there
  // waits on the event loop instead.
  const cooperative = control !== undefined && o.input === '-' && reader.size === undefined && makeStdinNonBlocking();
  if (cooperative) reader.cooperative = true;
  try {
    for (;;) {
      if (control?.quit) break;
      let rec: ReturnType<typeof reader.next>;
      if (cooperative) {
        try {
          rec = reader.next();
        } catch (err) {
          if (err !== WOULD_BLOCK) throw err;
          await sleep(10);
          if (abort?.aborted) break;
          continue;
        }
      } else rec = reader.next();
      if (rec === null) break;
      packets++;
      // A live run holds each record until it is due (or stepped to); the record stays valid
      // meanwhile because the reader is not advanced.
      if (pacer && !pacer.ready() && !(await pacer.hold(rec.tsSec, rec.tsNsec))) break;
      if (decodeLinkType(rec, loc)) {
        // The record is not looked at again: the dataplane may rewrite it where the reader
        // holds it, and no per-record view is made.
        dp.injectRecord(rec.buf, rec.dataOffset, rec.dataOffset + rec.caplen, loc.l3Offset, rec.tsSec, rec.tsNsec, rec.index);
      } else {
        dp.ignore(loc.reason);
      }
      if (abortMask >= 0 && (packets & abortMask) === 0) {
        if (abort!.aborted) break;
        if (performance.now() - yieldedAt >= 50) {
          await yieldToLoop();
          yieldedAt = performance.now();
          if (abort!.aborted) break;
        }
      }
      if ((packets & 4095) === 0) {
        const now = performance.now();
        if (now - lastReport >= 500) {
          pps = ((packets - lastPackets) * 1000) / (now - lastReport);
          lastReport = now;
          lastPackets = packets;
          if (showProgress) {
            drops = dp.summary().conservation.dropped;
            const pos = reader.size ? `${((100 * reader.position) / reader.size).toFixed(1)}%` : `${reader.position} bytes`;
            process.stderr.write(`\r${pos}  ${packets} packets  ${formatRate(pps)} pkt/s  ${drops} dropped   `);
          }
        }
      }
    }
  } catch (err) {
    if (err instanceof CaptureError) error = err;
    else {
      hopWriters?.abort();
      events?.abort();
      throw err;
    }
  } finally {
    reader.close();
  }
  dp.finish();
  finished = true;
  if (showProgress) process.stderr.write('\r\x1b[K');

  const outputs: string[] = [];
  try {
    hopWriters?.close();
  } catch (err) {
    hopWriters?.abort();
    events?.abort();
    throw err;
  }
  if (hopWriters) outputs.push(...hopWriters.files);
  events?.close();
  if (o.outDir && o.dumpMaps) {
    try {
      mkdirSync(join(o.outDir, 'maps'), { recursive: true });
    } catch (err) {
      throw new OutputError(`${join(o.outDir, 'maps')}: cannot create: ${(err as Error).message}`, { cause: err });
    }
    for (const node of dp.nodeNames()) {
      const file = `maps/${node}.txt`;
      writeText(join(o.outDir, file), formatMapsDump(dp, node, profile));
      outputs.push(file);
    }
  }
  const { tool, ...counters } = dp.summary();
  const summary: Summary = { tool, input: inputName, ...counters, outputs: [...outputs, ...(o.outDir ? ['summary.json'] : [])] };
  if (o.outDir) writeText(join(o.outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  return { summary, exitCode: error ? 2 : 0, error, dataplane: dp };
}

/** Text of `maps/<node>.txt`: the three tables in the CLI formats of the profile's Cilium. */
export function formatMapsDump(dp: Dataplane, node: string, profile: Profile): string {
  const now = dp.clock();
  const egress = dp.egressMap(node);
  return [
    `# ${node}: bpftool map dump pinned /sys/fs/bpf/tc/globals/${egress.name}`,
    formatBpftoolDump(egress),
    `# ${node}: cilium bpf nat list`,
    dp.natTable(node).format(now, profile),
    `# ${node}: cilium bpf ct list global`,
    dp.conntrack(node).format(now, profile),
    '',
  ].join('\n');
}

function writeText(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    writeSync(fd, text);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new OutputError(`${path}: cannot write: ${(err as Error).message}`, { cause: err });
  }
}
