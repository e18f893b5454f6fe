/**
 * @module tools/snat
 * `egresslab snat <capture>`: debugging SNAT collisions. Replays the capture once per port
 * allocator and reports, per egress address and remote endpoint, allocations, collisions,
 * the retries histogram and failures (drop 167), then who collided: each connection whose
 * own source port was taken, the connection holding it, and what it got after how many
 * retries. Exits 1 when any allocation failed, so CI can guard a scenario against 167.
 */
import type { Subcommand } from './cli.ts';
import { parseFlags } from './args.ts';
import { UsageError } from '../traces/errors.ts';
import type { FlowEvent } from '../traces/events.ts';
import { parseIpv4, ipToString } from '../dataplane/packet/addr.ts';
import { labPolicy } from '../dataplane/cluster/policy.ts';
import type { Dataplane } from '../dataplane/engine.ts';
import { ALLOCATORS, SCENARIO_FLAGS, SCENARIO_USAGE, scenarioOptions } from './replay-flags.ts';
import { runReplay } from './replay-core.ts';
import { inertLines } from '../traces/inert.ts';

const USAGE = `usage: egresslab snat <capture|-> [--allocators A,B,...] [--limit N] [options]

Replays the capture once per allocator and reports SNAT port allocation: per egress address
and remote ip:port the allocations, collisions (allocations that needed a retry), the
retries histogram and failures (drop 167, No mapping for NAT masquerade), then each
collision: who wanted which port, who held it, and what it got.

  --allocators LIST   comma list of ${ALLOCATORS.join(', ')}  (default: cilium)
  --limit N           collisions listed per allocator (default 20; 0 for none)
  --lab-policy        add the built-in lab policy (egress-all) to the --policy files
${SCENARIO_USAGE.split('\n').filter((l) => !l.includes('--allocator') && !l.includes('linux-random-fully')).join('\n')}

Exit codes: 0 no allocation failed, 1 at least one allocation failed (167), 2 usage or input error.`;

/** One allocation that did not get its first candidate. */
export interface Collision {
  time: string;
  node: string;
  flow: string;
  wanted: number;
  heldBy: string;
  got: number | undefined;
  retries: number;
}

export interface AllocatorReport {
  allocator: string;
  lines: string[];
  failures: number;
  collisions: Collision[];
}

function l4Ports(ev: FlowEvent): [number, number, number] | undefined {
  const l4 = ev.flow.l4;
  if (!l4) return undefined;
  if ('TCP' in l4) return [6, l4.TCP.source_port, l4.TCP.destination_port];
  if ('UDP' in l4) return [17, l4.UDP.source_port, l4.UDP.destination_port];
  return undefined;
}

/** Replays once with `allocator` and gathers the report. */
export async function snatReport(input: string, allocator: string, scenario: ReturnType<typeof scenarioOptions>, labPolicies: boolean, limit: number): Promise<AllocatorReport> {
  const collisions: Collision[] = [];
  let dp: Dataplane | undefined;
  const res = await runReplay({
    input,
    ...scenario,
    allocator,
    policyObjects: labPolicies ? labPolicy() : undefined,
    recordJourney: true,
    progress: false,
    onStart: (run) => {
      dp = run.dataplane;
    },
    onEvent: (ev) => {
      const s = ev.egresslab.snat;
      if (!s || s.candidates.length === 0) return;
      const wanted = s.candidates[0]!;
      if (s.chosen === wanted) return;
      const ports = l4Ports(ev);
      let heldBy = '?';
      if (ports && dp && ev.flow.IP.source_xlated) {
        // The reverse entry of the first candidate names the connection that holds it.
        const nat = dp.natTable(ev.node_name);
        const slot = nat.findIn(ports[0], parseIpv4(ev.flow.IP.destination), ports[2], parseIpv4(ev.flow.IP.source_xlated), wanted);
        if (slot >= 0) heldBy = `${ipToString(nat.toAddrOf(slot))}:${nat.toPortOf(slot)}`;
      } else if (ports && dp && s.chosen === undefined) {
        // A failed allocation has no translated address on its event: try the egress
        // addresses this node allocates towards that remote.
        const nat = dp.natTable(ev.node_name);
        const dst = parseIpv4(ev.flow.IP.destination);
        heldBy = 'another mapping';
        for (const u of nat.remoteUsage()) {
          if (u.proto !== ports[0] || u.remoteAddr !== dst || u.remotePort !== ports[2]) continue;
          const slot = nat.findIn(ports[0], dst, ports[2], u.egressAddr, wanted);
          if (slot >= 0) {
            heldBy = `${ipToString(nat.toAddrOf(slot))}:${nat.toPortOf(slot)}`;
            break;
          }
        }
      }
      // At TO_NETWORK the event carries the pre-SNAT address (as Hubble's orig_ip) but the
      // packet's post-SNAT port; the rewrite list has the pod's own port.
      const sportRewrite = (ev.egresslab.rewrites ?? []).map((r) => /^sport (\d+) -> /.exec(r)).find((m) => m !== null);
      const podPort = sportRewrite ? Number(sportRewrite[1]) : ports?.[1];
      collisions.push({
        time: ev.flow.time,
        node: ev.node_name,
        flow: `${ev.flow.IP.source}:${podPort ?? ''} -> ${ev.flow.IP.destination}:${ports?.[2] ?? ''}`,
        wanted,
        heldBy,
        got: s.chosen,
        retries: s.retries,
      });
    },
  });
  const lines: string[] = [];
  const name = res.summary.allocator;
  lines.push(`allocator ${name} (datapath ${res.summary.datapath}, seed ${res.summary.seed})`);
  let failures = 0;
  const histText = (retries: number[]): string =>
    retries.map((n, i) => (n ? `${i}${i === retries.length - 1 ? '+' : ''}:${n}` : '')).filter(Boolean).join(' ') || '-';
  for (const e of res.summary.egressIps) {
    for (const r of e.remotes) {
      failures += r.failures;
      lines.push(
        `  ${e.egressIp} (${e.node}) -> ${r.remote}: ${r.allocations} allocations, ${r.collisions} collisions, ${r.failures} failures (167), ${r.inUse}/${r.rangeSize} ports in use; retries ${histText(r.retries)}`,
      );
    }
    const o = e.otherRemotes;
    if (o && o.remotes > 0) {
      failures += o.failures;
      lines.push(
        `  ${e.egressIp} (${e.node}) -> ${o.remotes} other remotes (not listed one by one): ${o.allocations} allocations, ${o.collisions} collisions, ${o.failures} failures (167), ${o.inUse} ports in use; retries ${histText(o.retries)}`,
      );
    }
  }
  if (res.summary.egressIps.length === 0) lines.push('  no SNAT allocations');
  for (const g of res.summary.signals) lines.push(`  ${g.node}: ${g.signal} sent ${g.count} ${g.count === 1 ? 'time' : 'times'} (allocations past SNAT_SIGNAL_THRES retries)`);
  const shown = collisions.slice(0, limit);
  if (shown.length) lines.push('  collisions:');
  for (const c of shown) {
    const outcome = c.got === undefined ? `DROP 167 after ${c.retries} retries` : `got ${c.got} after ${c.retries} ${c.retries === 1 ? 'retry' : 'retries'}`;
    lines.push(`    ${c.time} ${c.node}: ${c.flow} wanted ${c.wanted}, held by ${c.heldBy}; ${outcome}`);
  }
  if (collisions.length > shown.length) lines.push(`    ... ${collisions.length - shown.length} more`);
  if (res.error) throw res.error;
  return { allocator: name, lines, failures, collisions };
}

const snat: Subcommand = {
  summary: 'debug SNAT collisions: who collided, retries, exhaustion, per allocator',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      ...SCENARIO_FLAGS,
      allocators: { type: 'string' },
      limit: { type: 'string' },
      'lab-policy': { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UsageError('expected exactly one capture (a path or -)');
    if (values.allocator !== undefined) throw new UsageError('use --allocators (a list) with snat');
    const allocators = (values.allocators ?? 'cilium').split(',').map((a) => a.trim());
    for (const a of allocators) {
      if (!(ALLOCATORS as readonly string[]).includes(a)) throw new UsageError(`--allocators: unknown allocator '${a}' (known: ${ALLOCATORS.join(', ')})`);
    }
    if (positionals[0] === '-' && allocators.length > 1) throw new UsageError('stdin can be replayed once only: give one allocator, or a file');
    const limit = values.limit === undefined ? 20 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 0) throw new UsageError(`--limit takes a whole number, got '${values.limit}'`);
    const scenario = scenarioOptions(values);
    let failures = 0;
    const out: string[] = [];
    for (const a of allocators) {
      const r = await snatReport(positionals[0]!, a, scenario, values['lab-policy'] === true, limit);
      failures += r.failures;
      out.push(...r.lines, '');
    }
    process.stdout.write(inertLines(out.join('\n')));
    return failures > 0 ? 1 : 0;
  },
};
export default snat;
