/**
 * @module tools/synth
 * `egresslab synth <scenario> --out FILE`: writes a client-side capture (and, where the
 * scenario needs more than the lab has, the topology it is meant to be replayed with).
 */
import { writeFileSync } from 'node:fs';
import type { Subcommand } from './cli.ts';
import { intFlag, oneOf, parseFlags } from './args.ts';
import { UsageError } from '../traces/errors.ts';
import { createPcapWriter } from '../traces/pcap-writer.ts';
import { createPcapngWriter } from '../traces/pcapng-writer.ts';
import type { CaptureWriter } from '../traces/record.ts';
import { LINKTYPE_ETHERNET } from '../traces/record.ts';
import { labTopology, topologyFromText } from '../dataplane/cluster/topology.ts';
import { Rng } from '../dataplane/lib/rng.ts';
import { echoModel } from '../dataplane/external.ts';
import { synthLab } from '../dataplane/synth/lab.ts';
import { synthCollisions } from '../dataplane/synth/collisions.ts';
import { synthExhaustion } from '../dataplane/synth/exhaustion.ts';
import { synthMix } from '../dataplane/synth/mix.ts';
import { labVariantYaml } from '../dataplane/synth/topology-variants.ts';
import type { SynthPacket } from '../dataplane/synth/types.ts';

const SCENARIOS = ['lab', 'collisions', 'exhaustion', 'mix'] as const;
export type Scenario = (typeof SCENARIOS)[number];

const USAGE = `usage: egresslab synth <scenario> --out FILE [options]

Writes a client-side capture (Ethernet frames as tcpdump on the pods' side sees them).

scenarios:
  lab          each net-tshoot pod runs 'wget -q -O - echo' (the seed's lab)
  collisions   N pods, the same source port, one destination ip:port
  exhaustion   more concurrent connections to one remote ip:port than the NAT range holds
  mix          the benchmark's mixed traffic

options:
  --out FILE        capture to write ('-' for stdout)                     (required)
  --topology-out F  where the scenario's topology goes, when it needs one
                    (required with --out -)                   (default FILE.topology.yaml)
  --format F        pcap | pcapng                                         (default pcap)
  --seed N          seed of every random choice                           (default 1)
  --pods N          collisions: pods taking part (more than 3 adds client-N pods and
                    writes FILE.topology.yaml)                            (default 3)
  --port N          collisions: the shared source port                    (default 40000)
  --extra N         exhaustion: connections beyond the range              (default 64)
  --range MIN-MAX   exhaustion: NAT port range of the written topology    (default 32768-65535)
  --packets N       mix: packets                                          (default 1000000)
  --flows N         mix: concurrent flows                                 (default 60000)

Scenarios that need another topology than the built-in lab (collisions with more pods,
exhaustion) write it to FILE.topology.yaml (or --topology-out) and print the replay command
to use it. With --out - there is no FILE to name it after, so --topology-out is required.`;

export interface SynthResult {
  packets: number;
  topologyFile?: string;
}

export interface SynthOptions {
  scenario: Scenario;
  out: string;
  /** Where a scenario's own topology is written. @default `${out}.topology.yaml` (required when out is '-') */
  topologyOut?: string;
  format?: 'pcap' | 'pcapng';
  seed?: number;
  pods?: number;
  port?: number;
  extra?: number;
  range?: { min: number; max: number };
  packets?: number;
  flows?: number;
}

/** Generates a scenario into a capture file; used by the CLI, `npm start`, the benchmark and the tests. */
export function runSynth(o: SynthOptions): SynthResult {
  const topoPath = o.topologyOut ?? (o.out === '-' ? undefined : `${o.out}.topology.yaml`);
  if (topoPath === undefined && needsTopology(o)) {
    // Checked before anything is written: a capture streamed without its topology replays
    // against the lab, which has neither the extra pods nor the sink host.
    throw new UsageError(`synth ${o.scenario} with --out - needs --topology-out FILE: the capture is meant to be replayed with a topology the built-in lab does not have`);
  }
  const rng = new Rng(o.seed ?? 1);
  let topoYaml: string | undefined;
  let gen: Iterable<SynthPacket>;
  switch (o.scenario) {
    case 'lab':
      gen = synthLab(labTopology(), rng, echoModel);
      break;
    case 'collisions': {
      const pods = o.pods ?? 3;
      if (pods > 3) topoYaml = labVariantYaml({ pods });
      const topo = topoYaml ? topologyFromText(topoPath!, topoYaml) : labTopology();
      gen = synthCollisions(topo, rng, echoModel, { sourcePort: o.port ?? 40000, pods });
      break;
    }
    case 'exhaustion': {
      topoYaml = labVariantYaml({ pods: 4, sink: { name: 'sink', ip: '172.18.0.8', port: 443 }, natPortRange: o.range });
      const topo = topologyFromText(topoPath!, topoYaml);
      gen = synthExhaustion(topo, rng, { extra: o.extra ?? 64 });
      break;
    }
    case 'mix':
      gen = synthMix(labTopology(), rng, { packets: o.packets, flows: o.flows });
      break;
  }
  // The topology goes first: in `synth ... --out - | egresslab replay - --topology T`, replay
  // reads T as it starts, while this process is still writing the capture.
  let topologyFile: string | undefined;
  if (topoYaml !== undefined) {
    topologyFile = topoPath!;
    writeFileSync(topologyFile, `# Written by: egresslab synth ${o.scenario} (seed ${o.seed ?? 1})\n${topoYaml}`);
  }
  const writer: CaptureWriter =
    o.format === 'pcapng'
      ? createPcapngWriter(o.out)
      : createPcapWriter(o.out, { resolution: 'us', linkType: LINKTYPE_ETHERNET });
  const ifId = writer.addInterface({ name: 'eth0', linkType: LINKTYPE_ETHERNET, resolution: 'us', description: `egresslab synth ${o.scenario}` });
  let n = 0;
  try {
    for (const p of gen) {
      writer.writePacket(ifId, p.tsSec, p.tsNsec, p.frame);
      n++;
    }
  } catch (err) {
    writer.abort();
    throw err;
  }
  writer.close();
  return { packets: n, topologyFile };
}

/** Scenarios whose capture only makes sense with a topology of their own (see runSynth). */
function needsTopology(o: SynthOptions): boolean {
  return o.scenario === 'exhaustion' || (o.scenario === 'collisions' && (o.pods ?? 3) > 3);
}

function parseRange(text: string | undefined): { min: number; max: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)-(\d+)$/.exec(text);
  if (!m) throw new UsageError(`--range takes MIN-MAX, got '${text}'`);
  const [min, max] = [Number(m[1]), Number(m[2])];
  if (min < 1 || max > 65535 || min > max) throw new UsageError(`--range must satisfy 1 <= MIN <= MAX <= 65535, got ${text}`);
  return { min, max };
}

/** The scenario-specific options and the scenarios that take them. */
const SCENARIO_OPTIONS: Record<string, readonly Scenario[]> = {
  pods: ['collisions'],
  port: ['collisions'],
  extra: ['exhaustion'],
  range: ['exhaustion'],
  packets: ['mix'],
  flows: ['mix'],
};

const synth: Subcommand = {
  summary: 'write a synthetic client-side capture (lab, collisions, exhaustion, mix)',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      out: { type: 'string' },
      'topology-out': { type: 'string' },
      format: { type: 'string' },
      seed: { type: 'string' },
      pods: { type: 'string' },
      port: { type: 'string' },
      extra: { type: 'string' },
      range: { type: 'string' },
      packets: { type: 'string' },
      flows: { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('expected exactly one scenario');
    if (!(SCENARIOS as readonly string[]).includes(positionals[0]!)) {
      throw new UsageError(`unknown scenario '${positionals[0]}' (scenarios: ${SCENARIOS.join(', ')})`);
    }
    const scenario = positionals[0] as Scenario;
    if (!values.out) throw new UsageError('--out FILE is required');
    // An option the scenario does not use is a mistake (`synth lab --packets 5` wrote 15).
    for (const [flag, used] of Object.entries(SCENARIO_OPTIONS)) {
      if (values[flag as keyof typeof values] !== undefined && !used.includes(scenario)) {
        throw new UsageError(`--${flag} does not apply to scenario '${scenario}' (it is an option of ${used.join(', ')})`);
      }
    }
    const res = runSynth({
      scenario,
      out: values.out,
      topologyOut: values['topology-out'],
      format: oneOf('format', values.format, ['pcap', 'pcapng'] as const, 'pcap'),
      seed: intFlag('seed', values.seed, 1, 0, 0xffffffff),
      pods: intFlag('pods', values.pods, 3, 1, 603),
      port: intFlag('port', values.port, 40000, 1, 65535),
      extra: intFlag('extra', values.extra, 64, 0, 10_000_000),
      range: parseRange(values.range),
      packets: intFlag('packets', values.packets, 1_000_000, 1, 100_000_000),
      flows: intFlag('flows', values.flows, 60_000, 1, 1_000_000),
    });
    if (values.out !== '-') process.stderr.write(`wrote ${res.packets} packets to ${values.out}\n`);
    if (res.topologyFile) {
      process.stderr.write(`wrote the topology it needs to ${res.topologyFile}\n`);
      process.stderr.write(`replay it with: egresslab replay ${values.out} --topology ${res.topologyFile} [--policy FILE]\n`);
    }
    return 0;
  },
};
export default synth;
