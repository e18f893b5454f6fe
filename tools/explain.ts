/**
 * @module tools/explain
 * `egresslab explain`: one packet's (or one flow's) journey through the dataplane, hop by
 * hop, in the order the seed walks it.
 */
import type { Subcommand } from './cli.ts';
import { intFlag, parseFlags } from './args.ts';
import { UsageError } from '../traces/errors.ts';
import type { FlowEvent } from '../traces/events.ts';
import { parseIpv4 } from '../dataplane/packet/addr.ts';
import { labPolicy } from '../dataplane/cluster/policy.ts';
import { SCENARIO_FLAGS, SCENARIO_USAGE, scenarioOptions } from './replay-flags.ts';
import { runReplay } from './replay-core.ts';
import { formatJourney } from '../traces/journey.ts';
import { inertLines } from '../traces/inert.ts';

const USAGE = `usage: egresslab explain <capture|-> (--packet N | --flow 'SRC:PORT->DST:PORT/proto') [options]

Replays the capture and prints the journey of input packet N (0-based), or of every packet
of a flow (named by its original, pod-side tuple; proto tcp, udp or icmp; ports may be
omitted for icmp): program, observation point, Cilium functions, map lookups with keys and
results, rewrites and verdicts.

${SCENARIO_USAGE}
  --lab-policy        add the built-in lab policy (egress-all) to the --policy files`;

export interface FlowSpec {
  saddr: string;
  sport: number | undefined;
  daddr: string;
  dport: number | undefined;
  proto: 'TCP' | 'UDP' | 'ICMP';
}

export function parseFlowSpec(text: string): FlowSpec {
  const m = /^\s*([\d.]+)(?::(\d+))?\s*->\s*([\d.]+)(?::(\d+))?\s*\/\s*(tcp|udp|icmp)\s*$/i.exec(text);
  if (!m) throw new UsageError(`--flow takes 'SRC:PORT->DST:PORT/proto', got '${text}'`);
  for (const a of [m[1]!, m[3]!]) {
    try {
      parseIpv4(a);
    } catch {
      throw new UsageError(`--flow: '${a}' is not an IPv4 address`);
    }
  }
  const proto = m[5]!.toUpperCase() as FlowSpec['proto'];
  if (proto !== 'ICMP' && (m[2] === undefined || m[4] === undefined)) throw new UsageError(`--flow: ${proto} needs both ports`);
  return { saddr: m[1]!, sport: m[2] === undefined ? undefined : Number(m[2]), daddr: m[3]!, dport: m[4] === undefined ? undefined : Number(m[4]), proto };
}

function matches(ev: FlowEvent, f: FlowSpec): boolean {
  const ip = ev.flow.IP;
  if (ip.source !== f.saddr || ip.destination !== f.daddr) return false;
  const l4 = ev.flow.l4;
  if (!l4) return false;
  if (f.proto === 'TCP') return 'TCP' in l4 && l4.TCP.source_port === f.sport && l4.TCP.destination_port === f.dport;
  if (f.proto === 'UDP') return 'UDP' in l4 && l4.UDP.source_port === f.sport && l4.UDP.destination_port === f.dport;
  return 'ICMPv4' in l4;
}

const explain: Subcommand = {
  summary: "a packet's or a flow's journey, hop by hop (programs, map lookups, rewrites, verdicts)",
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { ...SCENARIO_FLAGS, packet: { type: 'string' }, flow: { type: 'string' }, 'lab-policy': { type: 'boolean' } });
    if (positionals.length !== 1) throw new UsageError('expected exactly one capture (a path or -)');
    if ((values.packet === undefined) === (values.flow === undefined)) throw new UsageError('give exactly one of --packet N and --flow SPEC');
    const packet = values.packet === undefined ? undefined : intFlag('packet', values.packet, 0);
    const flow = values.flow === undefined ? undefined : parseFlowSpec(values.flow);
    const picked: FlowEvent[] = [];
    let flowId: string | undefined;
    const res = await runReplay({
      input: positionals[0]!,
      ...scenarioOptions(values),
      policyObjects: values['lab-policy'] ? labPolicy() : undefined,
      recordJourney: true,
      progress: false,
      onEvent: (ev) => {
        if (packet !== undefined) {
          if (ev.egresslab.input_index === packet) picked.push(ev);
          return;
        }
        if (flowId === undefined && matches(ev, flow!)) flowId = ev.egresslab.flow_id;
        if (flowId !== undefined && ev.egresslab.flow_id === flowId) picked.push(ev);
      },
    });
    if (picked.length === 0) {
      process.stderr.write(
        packet !== undefined
          ? `egresslab explain: the capture has no packet ${packet} (it has ${res.summary.conservation.input})\n`
          : `egresslab explain: no packet of flow ${inertLines(values.flow!)} in the capture\n`,
      );
      return res.error ? 2 : 1;
    }
    // Policy, node and pod names come from the YAML files: printed inert.
    process.stdout.write(inertLines(formatJourney(picked).join('\n')) + '\n');
    if (res.error) {
      process.stderr.write(`egresslab explain: ${inertLines(res.error.message)}\n`);
      return 2;
    }
    return 0;
  },
};
export default explain;
