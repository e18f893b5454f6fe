/**
 * @module tools/lab
 * `npm start` (`egresslab lab`): the seed's lab, end to end, in a few seconds. Synthesises
 * the three net-tshoot pods' `wget -q -O - echo`, replays it without and with the lab's
 * CiliumEgressNATPolicy, and prints what the echo server answered each pod, the egress map
 * as the seed's bpftool dump, the gateway's NAT table, and where the captures are.
 */
import { join } from 'node:path';
import type { Subcommand } from './cli.ts';
import { intFlag, oneOf, parseFlags } from './args.ts';
import { makeOutputDir } from './output-dir.ts';
import { labPolicy } from '../dataplane/cluster/policy.ts';
import { labTopology } from '../dataplane/cluster/topology.ts';
import { compileEgressPolicyMap, formatBpftoolDump } from '../dataplane/lib/egress-gateway.ts';
import type { Summary } from '../traces/stats.ts';
import { runSynth } from './synth.ts';
import { runReplay } from './replay-core.ts';

const USAGE = `usage: egresslab lab [--out DIR] [--seed N] [--datapath 1.10|1.17]

Runs the built-in k8s-guide lab twice, without and with the lab's egress policy, and
prints what the seed shows. Outputs go to DIR/before and DIR/after (default DIR: out).`;

function answers(s: Summary, topoPods: Map<string, string>): string[] {
  return s.seenByServers.map((x) => {
    const podIp = x.pod.split(':')[0]!;
    const pod = topoPods.get(podIp) ?? podIp;
    return `  ${pod.padEnd(44)} ${x.answered.trim()}`;
  });
}

const lab: Subcommand = {
  summary: "the seed's lab end to end (what npm start runs)",
  usage: USAGE,
  async run(argv) {
    const { values } = parseFlags(argv, { out: { type: 'string' }, seed: { type: 'string' }, datapath: { type: 'string' } }, false);
    const out = values.out ?? 'out';
    const seed = intFlag('seed', values.seed, 1, 0, 0xffffffff);
    const datapath = oneOf('datapath', values.datapath, ['1.10', '1.17'] as const, '1.10');
    makeOutputDir(out);
    const input = join(out, 'lab.pcap');
    runSynth({ scenario: 'lab', out: input, seed });
    const topo = labTopology();
    const pods = new Map(topo.endpoints.map((e) => [e.ipText, `${e.name} (${e.node})`]));
    const common = { input, seed, datapath, dumpMaps: true, progress: false } as const;
    const before = await runReplay({ ...common, outDir: join(out, 'before'), events: join(out, 'before', 'events.jsonl') });
    const after = await runReplay({ ...common, outDir: join(out, 'after'), events: join(out, 'after', 'events.jsonl'), policyObjects: labPolicy() });
    const policy = labPolicy()[0]!;
    const map = compileEgressPolicyMap(topo, labPolicy(), datapath, 'k8s-guide-worker2');
    const gateway = after.dataplane.natTable('k8s-guide-control-plane');
    const lines = [
      `egresslab: the k8s-guide egress lab, Cilium ${datapath} datapath, seed ${seed}`,
      '',
      '$ kubectl -n default get pod -l name=net-tshoot -o name | xargs -I{} kubectl -n default exec {} -- wget -q -O - echo',
      "before the policy (default local egress: each pod masqueraded to its own node's IP):",
      ...answers(before.summary, pods),
      `after 'make egress-setup' (${policy.kind} ${policy.name}: ${policy.destinationCidrs.map((c) => c.text).join(', ')} via ${after.summary.policies[0]?.egressIp ?? '172.18.0.3'}):`,
      ...answers(after.summary, pods),
      '',
      `$ bpftool map dump pinned /sys/fs/bpf/tc/globals/${map.name}    # on k8s-guide-worker2`,
      formatBpftoolDump(map).trimEnd(),
      '',
      '$ cilium bpf nat list    # on k8s-guide-control-plane, the gateway',
      gateway.format(after.dataplane.clock(), datapath).trimEnd(),
      '',
      `captures: ${join(out, 'before')}/*.pcapng and ${join(out, 'after')}/*.pcapng (one per node, an interface per device),`,
      `events.jsonl and summary.json beside them, maps/ with every node's tables. To look at the gateway:`,
      `  tshark -r ${join(out, 'after', 'k8s-guide-control-plane.pcapng')} -d udp.port==8472,vxlan -T fields -e frame.interface_name -e ip.src -e ip.dst -e tcp.srcport -e frame.comment`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    return before.exitCode || after.exitCode;
  },
};
export default lab;
