/**
 * @module tools/maps
 * `egresslab maps`: the egress policy map a topology and its policies compile to, as
 * `bpftool map dump` prints it or as `cilium bpf egress list` does; with `--replay` also
 * the NAT and conntrack tables a capture leaves behind, as `cilium bpf nat list` and
 * `cilium bpf ct list global` print them.
 */
import type { Subcommand } from './cli.ts';
import { oneOf, parseFlags } from './args.ts';
import { UsageError } from '../traces/errors.ts';
import { labPolicy } from '../dataplane/cluster/policy.ts';
import { compileEgressPolicyMap, formatBpftoolDump, formatCiliumEgressList } from '../dataplane/lib/egress-gateway.ts';
import { SCENARIO_FLAGS, SCENARIO_USAGE, scenarioOptions } from './replay-flags.ts';
import { loadScenario, runReplay } from './replay-core.ts';
import { inertLines } from '../traces/inert.ts';

const USAGE = `usage: egresslab maps [options]

Prints the egress policy map as each node's agent writes it. With no --topology and no
--policy: the built-in lab with the lab's policy (egress-all), which prints the seed's
three 'bpftool map dump' lines.

${SCENARIO_USAGE.replace(`(default: none, the lab's "before")`, '(default: the lab\'s egress-all when no --topology)')}
  --format F          bpftool | cilium (cilium bpf egress list, the profile's version)  (default bpftool)
  --node NAME         only this node (default: every node; one dump when they all agree)
  --replay CAPTURE    replay a capture first, then also print the NAT and CT tables
  --table T           with --replay: egress | nat | ct | all  (default all)`;

const maps: Subcommand = {
  summary: "print the egress policy map (bpftool / cilium formats); NAT and CT tables after a replay",
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      ...SCENARIO_FLAGS,
      format: { type: 'string' },
      node: { type: 'string' },
      replay: { type: 'string' },
      table: { type: 'string' },
    }, false);
    void positionals;
    const format = oneOf('format', values.format, ['bpftool', 'cilium'] as const, 'bpftool');
    const table = oneOf('table', values.table, ['egress', 'nat', 'ct', 'all'] as const, 'all');
    if (values.table && !values.replay) throw new UsageError('--table needs --replay CAPTURE');
    const builtIn = values.topology === undefined && (values.policy ?? []).length === 0;
    const sc = scenarioOptions(values);
    const { topology, policies, profile } = loadScenario({ ...sc, policyObjects: builtIn ? labPolicy() : undefined });
    const nodes = values.node ? [values.node] : topology.nodes.map((n) => n.name);
    if (values.node && !topology.nodes.some((n) => n.name === values.node)) {
      throw new UsageError(`--node ${values.node}: no such node in ${topology.file} (nodes: ${topology.nodes.map((n) => n.name).join(', ')})`);
    }
    const out: string[] = [];
    if (table === 'egress' || table === 'all') {
      const texts = nodes.map((node) => {
        const map = compileEgressPolicyMap(topology, policies, profile, node);
        return format === 'bpftool' ? formatBpftoolDump(map) : formatCiliumEgressList(map, profile);
      });
      if (texts.every((t) => t === texts[0])) out.push(texts[0]!);
      else nodes.forEach((node, i) => out.push(`# ${node}`, texts[i]!));
    }
    if (values.replay) {
      const res = await runReplay({ input: values.replay, ...sc, policyObjects: builtIn ? labPolicy() : undefined, datapath: profile, progress: false });
      const now = res.dataplane.clock();
      for (const node of nodes) {
        if (table === 'nat' || table === 'all') out.push(`# ${node}: cilium bpf nat list`, res.dataplane.natTable(node).format(now, profile));
        if (table === 'ct' || table === 'all') out.push(`# ${node}: cilium bpf ct list global`, res.dataplane.conntrack(node).format(now, profile));
      }
      if (res.error) {
        process.stdout.write(inertLines(out.join('\n')).replace(/\n*$/, '\n'));
        process.stderr.write(`egresslab maps: ${inertLines(res.error.message)}\n`);
        return 2;
      }
    }
    process.stdout.write(inertLines(out.join('\n')).replace(/\n*$/, '\n'));
    return 0;
  },
};
export default maps;
