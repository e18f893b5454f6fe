/**
 * @module tools/bench-job
 * One benchmark job per process, so the parent (`tools/bench.ts`) can take whole-process
 * wall time and peak RSS with /usr/bin/time, as the peer tools are measured. Prints one
 * JSON line: { packets, bytes, extra? }. The capture jobs (read, decode, read+write) are in
 * tools/bench-capture.ts.
 */
import { openSync } from 'node:fs';
import { PassThrough } from 'node:stream';

type Result = { packets: number; bytes: number; extra?: Record<string, number | string> };

async function replay(file: string, outDir: string | undefined, dash: boolean): Promise<Result> {
  // Loaded here, not at the top: the other jobs must not pay for what they do not run.
  const { detailFirstPackets, liveEventSample, ReplayControl, runReplay } = await import('./replay-core.ts');
  const { labPolicy } = await import('../dataplane/cluster/policy.ts');
  let stop: (() => void) | undefined;
  const control = dash ? new ReplayControl() : undefined;
  // Loaded before the replay starts, as `replay --dash` does: a capture too short to make the
  // loop yield would otherwise end before the dashboard exists.
  const { startDashboardThread } = dash ? await import('../dashboards/thread.ts') : { startDashboardThread: undefined };
  // The replay's own time, from before the dashboard starts to after it stopped: without
  // Node's start-up and exit, which do not depend on the dashboard.
  const t0 = performance.now();
  const res = await runReplay({
    input: file,
    outDir,
    progress: false,
    // The egress-gateway dataplane the issues name: the lab's "after" (egress-all through
    // worker2), so worker pods' traffic is tunnelled to the gateway and SNATed there.
    policyObjects: labPolicy(),
    // As `replay --dash` does: a live control makes the loop yield so the screen can render.
    control,
    recordJourney: dash,
    onEvent: dash ? () => {} : undefined,
    // As `replay FILE --dash`: the first packets' detail is taken after the run (below).
    eventSample: control ? liveEventSample(control, 100, false) : undefined,
    onStart: startDashboardThread
      ? (run) => {
          const d = startDashboardThread({
            getSnapshot: () => run.snapshot(),
            controls: { pause() {}, resume() {}, step() {}, faster() {}, slower() {}, quit() {}, journey: () => [] },
            input: new PassThrough(),
            // A 160x48 terminal whose screen is written to /dev/null (the write calls are paid).
            fd: openSync('/dev/null', 'w'),
            sizeFrom: null,
            cols: 160,
            rows: 48,
            // As `replay --dash` redraws at top speed.
            refreshMs: 250,
          });
          stop = () => d.stop();
        }
      : undefined,
  });
  // `replay --dash` of a file then replays its first packets again for their journeys.
  if (dash) await detailFirstPackets({ input: file, progress: false, policyObjects: labPolicy() });
  stop?.();
  const replayS = (performance.now() - t0) / 1000;
  const c = res.summary.conservation;
  return { packets: c.input, bytes: 0, extra: { delivered: c.delivered, sent: c.sent, dropped: c.dropped, ignored: c.ignored, replayS: Number(replayS.toFixed(3)) } };
}

/** New connections per second through CT create + SNAT with `live` flows kept live. */
async function newConnections(live: number, total: number): Promise<Result> {
  // On demand, as in replay(): the capture jobs load nothing of the dataplane.
  const { Conntrack, ctOptionsFor, CT_EGRESS } = await import('../dataplane/lib/conntrack.ts');
  const { NatTable, newSnatResult, IPPROTO_TCP } = await import('../dataplane/lib/nat.ts');
  const { Rng } = await import('../dataplane/lib/rng.ts');
  // CT sized for the live set: older flows fall out by LRU eviction, as in a busy agent.
  const ct = new Conntrack(ctOptionsFor('1.17', { maxTcp: 131072 }), '1.17');
  const nat = new NatTable(524288, '1.17');
  const rng = new Rng(1);
  const out = newSnatResult();
  const target = { addr: 0xac120003, minPort: 32768, maxPort: 65535, needsCt: true, fromEndpoint: false };
  const pod = (i: number) => (0x0a000000 | (i % 4000)) >>> 0;
  const t0 = performance.now();
  let failures = 0;
  for (let i = 0; i < total; i++) {
    const saddr = pod(i);
    const sport = 1024 + ((i / 4000) | 0) % 60000;
    const daddr = (0x01010000 | (i % 4096)) >>> 0;
    if (i >= live) {
      const j = i - live;
      nat.deleteMapping4(IPPROTO_TCP, pod(j), (0x01010000 | (j % 4096)) >>> 0, 1024 + ((j / 4000) | 0) % 60000, 443);
    }
    ct.create4(IPPROTO_TCP, saddr, daddr, sport, 443, CT_EGRESS, 0x02, 60, i / 1e5, 256);
    if (nat.snatV4Nat(IPPROTO_TCP, saddr, daddr, sport, 443, target, i / 1e5, rng, out) !== 0) failures++;
  }
  const s = (performance.now() - t0) / 1000;
  return { packets: total, bytes: 0, extra: { connsPerSec: Math.round(total / s), failures, liveFlows: live } };
}

const [job, ...args] = process.argv.slice(2);
let result: Result;
switch (job) {
  case 'dataplane': result = await replay(args[0]!, undefined, false); break;
  case 'replay': result = await replay(args[0]!, args[1]!, false); break;
  case 'replay-dash': result = await replay(args[0]!, undefined, true); break;
  case 'newconn': result = await newConnections(Number(args[0] ?? 100_000), Number(args[1] ?? 1_000_000)); break;
  case 'state': {
    const { stateBytesPerFlow } = await import('../dataplane/lib/conntrack.ts');
    const m = stateBytesPerFlow(Number(args[0] ?? 1_000_000));
    result = { packets: 0, bytes: 0, extra: m as unknown as Record<string, number> };
    break;
  }
  default:
    process.stderr.write(`bench-job: unknown job '${job}'\n`);
    process.exit(2);
}
process.stdout.write(JSON.stringify(result) + '\n');
// No process.exit() shortcut past Node's teardown: the CLI does not take one either, and a
// whole-process figure should be what a user's command costs.
