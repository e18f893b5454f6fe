/**
 * @module tools/replay
 * `egresslab replay <capture|->`: the capture through the modelled dataplane, out as
 * hop-by-hop captures, flow events and summary.json.
 */
import { openSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { ReadStream } from 'node:tty';
import type { Subcommand } from './cli.ts';
import { numberFlag, oneOf, parseFlags } from './args.ts';
import { UsageError } from '../traces/errors.ts';
import type { FlowEvent } from '../traces/events.ts';
import { SCENARIO_FLAGS, SCENARIO_USAGE, scenarioOptions } from './replay-flags.ts';
import { detailFirstPackets, liveEventSample, ReplayControl, runReplay, type ReplayRun } from './replay-core.ts';
import { LiveEvents } from './live-events.ts';
import type { EventSampling } from '../dataplane/engine.ts';
import { eventLine, formatJourney } from '../traces/journey.ts';
import { inertLines } from '../traces/inert.ts';
import { fasterSpeed, slowerSpeed, speedLabel } from '../dashboards/speed.ts';

const USAGE = `usage: egresslab replay <capture|-> [options]

Replays a client-side capture (pcap or pcapng; '-' reads stdin, e.g. tcpdump -w - | ...)
through the modelled egress-gateway dataplane.

what to replay through:
${SCENARIO_USAGE}

outputs:
  --out DIR           write per-node captures, summary.json (and maps/ with --dump-maps)
  --format F          pcapng (one file per node, an interface per device) | pcap (one file
                      per node/device)                    (default pcapng)
  --events FILE       flow events, one JSON object per line (Hubble field names)
  --dump-maps         write maps/<node>.txt: egress map, NAT and CT tables in Cilium's formats
  --journey           record each SNAT allocation's candidate ports in the events (slower;
                      functions and map lookups are in the events without it)

pacing:
  --speed X           pace by capture time, X times real time (0.5 = half speed)
  --topspeed          as fast as possible (the default for files)
  --dash              show the terminal dashboard while replaying

Exit codes: 0 ok; 2 usage or input error (a capture that fails mid-way is replayed and
written up to the failure, then exits 2 naming the byte offset); 128+N when signal N
(Ctrl-C: 130) ended it, with everything replayed so far written.`;

const replay: Subcommand = {
  summary: 'replay a capture through the egress-gateway dataplane; write hop captures, events, summary',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      ...SCENARIO_FLAGS,
      out: { type: 'string' },
      format: { type: 'string' },
      events: { type: 'string' },
      'dump-maps': { type: 'boolean' },
      journey: { type: 'boolean' },
      speed: { type: 'string' },
      topspeed: { type: 'boolean' },
      dash: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UsageError('expected exactly one capture (a path or -)');
    if (values.speed !== undefined && values.topspeed) throw new UsageError('--speed and --topspeed exclude each other');
    const speed = values.topspeed ? undefined : values.speed === undefined ? undefined : numberFlag('speed', values.speed, 1);
    const format = oneOf('format', values.format, ['pcapng', 'pcap'] as const, 'pcapng');
    if (values['dump-maps'] && !values.out) throw new UsageError('--dump-maps needs --out DIR');
    if (values.format !== undefined && !values.out) throw new UsageError('--format sets the captures written with --out DIR: give --out too');

    let stopDash: (() => void) | undefined;
    let dashError: Error | undefined;
    let control: ReplayControl | undefined;
    let onStart: ((run: ReplayRun) => void) | undefined;
    let onEvent: ((ev: FlowEvent) => void) | undefined;
    let eventSample: ((inputIndex: number) => EventSampling) | undefined;
    // The first packets' journey detail, taken after a top-speed run (see below).
    let detailAfter: ((events: FlowEvent[]) => void) | undefined;
    if (values.dash) {
      if (!process.stdout.isTTY) throw new UsageError('--dash needs a terminal (stdout is not a TTY)');
      const { startDashboardThread } = await import('../dashboards/thread.ts');
      // When the capture comes on stdin (tcpdump -w - | egresslab replay - --dash), the keys
      // come from the controlling terminal instead.
      let keys: NodeJS.ReadableStream | undefined;
      if (positionals[0] === '-') {
        try {
          keys = new ReadStream(openSync('/dev/tty', 'r'));
        } catch {
          throw new UsageError('--dash with a capture on stdin needs a controlling terminal (/dev/tty) for the keys');
        }
      }
      control = new ReplayControl(speed);
      const ctl = control;
      // The events pane and the journey view, bounded (tools/live-events.ts).
      const live = new LiveEvents();
      // A file can be read again: its first packets' detail is taken after the run, so a
      // top-speed replay does not carry the detail code (liveEventSample). --events builds
      // every event with its detail anyway.
      const input = positionals[0]!;
      const rereadable = input !== '-' && !values.events && statSync(input, { throwIfNoEntry: false })?.isFile() === true;
      eventSample = liveEventSample(ctl, 100, !rereadable);
      if (rereadable) detailAfter = (detailed) => live.replacePackets(detailed);
      onEvent = (ev) => live.add(ev);
      onStart = (run) => {
        const dash = startDashboardThread({
          input: keys,
          // At top speed every redraw is time taken from the replay: four a second is enough
          // to watch it (the issue allows up to ten); paced, the usual ten.
          refreshMs: speed === undefined ? 250 : 100,
          getSnapshot: () => ({ ...run.snapshot(), events: live.recent().map(eventLine) }),
          controls: {
            pause: () => (ctl.paused = true),
            resume: () => (ctl.paused = false),
            step: () => ctl.step(),
            faster: () => (ctl.speed = fasterSpeed(ctl.speed)),
            slower: () => (ctl.speed = slowerSpeed(ctl.speed)),
            quit: () => {
              ctl.quit = true;
            },
            // Ctrl-C in raw mode is a key: raise the signal, so it ends as a SIGINT does.
            interrupt: () => {
              process.kill(process.pid, 'SIGINT');
            },
            journey: (flowId) => formatJourney(live.flow(flowId), { flowId }),
            speed: () => speedLabel(ctl.speed),
          },
          onError: (err) => {
            dashError = err;
            ctl.quit = true;
          },
        });
        stopDash = () => {
          dash.stop();
          (keys as ReadStream | undefined)?.destroy();
        };
      };
    }
    // Ctrl-C (or a kill) ends the replay as the end of the input would: everything replayed
    // so far is written and the outputs are complete. A live replay reads a pipe without
    // blocking (runReplay); otherwise a read blocked on a pipe is not interrupted, but
    // `tcpdump -w - | egresslab replay -` gets the signal with tcpdump, which closes the
    // pipe, and the replay ends at that end of input. Once only: a second signal
    // has Node's default effect (the process ends, outputs left as temporary files).
    const stopping = new AbortController();
    let stoppedBy: NodeJS.Signals | undefined;
    const onSignal = (sig: NodeJS.Signals): void => {
      stoppedBy = sig;
      stopping.abort();
      if (control) control.quit = true;
    };
    const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    for (const sig of SIGNALS) process.once(sig, onSignal);
    let res: Awaited<ReturnType<typeof runReplay>>;
    try {
      res = await runReplay({
        input: positionals[0]!,
        ...scenarioOptions(values),
        outDir: values.out,
        format,
        events: values.events,
        speed,
        dumpMaps: values['dump-maps'],
        recordJourney: values.journey || values.dash,
        // The screen is the dashboard's: a progress line on stderr would draw over it.
        progress: !values.dash,
        control,
        onStart,
        onEvent,
        eventSample,
        signal: stopping.signal,
      });
    } catch (err) {
      // Give the terminal back before the error is printed.
      stopDash?.();
      for (const sig of SIGNALS) process.removeListener(sig, onSignal);
      throw err;
    }
    if (detailAfter && stoppedBy === undefined && !control?.quit) {
      // A capture that failed mid-way still has its first packets (the second run stops at
      // the same error). If the file cannot be read again (moved, rotated), the journeys
      // keep what the run built: the replay itself is done and its outputs are written.
      try {
        detailAfter(await detailFirstPackets({ input: positionals[0]!, ...scenarioOptions(values) }));
      } catch {
        // Nothing to add.
      }
    }
    if (stopDash) {
      // Leave the final state on screen until the user quits (or a signal says so).
      while (control && !control.quit) await new Promise((r) => setTimeout(r, 50));
      stopDash();
    }
    for (const sig of SIGNALS) process.removeListener(sig, onSignal);
    if (dashError) throw dashError;
    const c = res.summary.conservation;
    const lines = [
      `${res.summary.input}: ${c.input} packets in (${c.generated} generated by hosts): ${c.delivered} delivered, ${c.sent} sent, ${c.dropped} dropped, ${c.ignored} ignored`,
    ];
    for (const d of res.summary.dropsByReason) lines.push(`  dropped ${d.count} x ${d.code} ${d.text}`);
    for (const [reason, n] of Object.entries(res.summary.ignoredByReason)) lines.push(`  ignored ${n} x ${reason}`);
    if (values.out) lines.push(`outputs in ${values.out}: ${res.summary.outputs.join(', ')}`);
    // File and node names are the user's or the topology's: printed inert.
    process.stdout.write(inertLines(lines.join('\n')) + '\n');
    if (res.error) {
      process.stderr.write(`egresslab replay: ${inertLines(res.error.message)}\n`);
      process.stderr.write('everything before that offset was replayed and written\n');
    }
    if (stoppedBy !== undefined) {
      process.stderr.write(`egresslab replay: stopped by ${stoppedBy} after ${res.summary.conservation.input} packets; everything replayed so far was written\n`);
      // The shell's convention for a command ended by a signal: 128 + its number.
      return 128 + (osConstants.signals[stoppedBy] ?? 2);
    }
    return res.exitCode;
  },
};
export default replay;
