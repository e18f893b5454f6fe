/**
 * @module tools/diff
 * `egresslab diff EXPECTED ACTUAL`: the semantic capture diff (traces/diff) with the
 * dissector from dataplane/packet wired in. Exit 0 same, 1 different, 2 usage or input error.
 */
import { parseArgs } from 'node:util';
import type { Subcommand } from './cli.ts';
import { EXIT_DIFFERENT, EXIT_OK, UsageError } from '../traces/errors.ts';
import { flagError } from './args.ts';
import { DEFAULT_MAX_REPORT, diffPaths, formatJson, formatText, parseDuration, parseIgnoreList } from '../traces/diff/index.ts';
import { dissect } from '../dataplane/packet/dissect.ts';
import { LAYER_NAMES } from '../dataplane/packet/layer.ts';

const usage = `usage: egresslab diff EXPECTED ACTUAL [options]

Compares two captures (pcap or pcapng, any byte order or timestamp resolution: the content
is compared, not the container), or two replay output folders (each capture file by name,
pcapng interfaces by if_name, and summary.json field by field).

Packets are matched per interface in order, re-synchronising after insertions and
deletions; matched packets are compared layer by layer. Each difference names the packet
(frame number, time, flow) and the field: 'layer.field: expected -> actual' (ipv4.src,
tcp.sport, vxlan.vni, inner.ipv4.ttl...), plus ts, caplen, origlen and comment (pcapng
packet comment). Checksums are fields like any other (ipv4.checksum, tcp.checksum).

options:
  --ignore FIELDS      comma list of fields not compared: layer.field (any depth),
                       inner.layer.field, a whole layer (ipv4), ts, comment, caplen,
                       origlen, linktype, frame (bytes of an undecoded frame); in folder
                       mode also summary.<path> (e.g. summary.input). An unknown layer
                       is a usage error
  --ts-tolerance DUR   timestamps this close are equal: 0 (default), 500us, 1ms, 2s
  --canon-ports        translated (client-side) ports are equal up to a consistent
                       one-to-one renaming per local address and remote ip:port; the L4
                       checksum then compares as checksum_ok. Two flows on one port differ.
  --json               print the report as JSON: {same, interfaces, packets, summary, ...}
  --max-report N       list at most N packet differences (default ${DEFAULT_MAX_REPORT}; counts stay complete)
  -h, --help           this text

exit codes: 0 same, 1 different, 2 usage or input error`;

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        ignore: { type: 'string', multiple: true },
        'ts-tolerance': { type: 'string' },
        'canon-ports': { type: 'boolean' },
        json: { type: 'boolean' },
        'max-report': { type: 'string' },
      },
    });
  } catch (err) {
    throw flagError(err);
  }
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  if (positionals.length !== 2) throw new UsageError(`expected two inputs (EXPECTED ACTUAL), got ${positionals.length}`);
  const ignore = (values.ignore ?? []).flatMap((t) => parseIgnoreList(t, LAYER_NAMES));
  const tsToleranceNs = values['ts-tolerance'] !== undefined ? parseDuration(values['ts-tolerance']) : 0;
  let maxReport = DEFAULT_MAX_REPORT;
  if (values['max-report'] !== undefined) {
    const t = values['max-report'];
    if (!/^\d+$/.test(t)) throw new UsageError(`--max-report: not a count: '${t}'`);
    maxReport = Number(t);
  }
  const report = diffPaths(positionals[0]!, positionals[1]!, {
    dissect,
    ignore,
    tsToleranceNs,
    canonPorts: values['canon-ports'] === true,
    maxReport,
  });
  const color = !values.json && process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
  process.stdout.write((values.json ? formatJson(report) : formatText(report, { color })) + '\n');
  return report.same ? EXIT_OK : EXIT_DIFFERENT;
}

const diff: Subcommand = {
  summary: 'compare two captures or replay output folders field by field (exit 1 if different)',
  usage,
  run,
};
export default diff;
