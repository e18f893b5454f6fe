/**
 * @module tools/bench
 * `npm run bench`: generates the 1M-packet mixed capture (seeded), then times every job as
 * a whole process (start-up included, as shared/design/performance.md measures the peers)
 * with /usr/bin/time for peak RSS, beside editcap, tshark and tcprewrite where installed.
 * Each job runs --runs times interleaved with its peer (A B A B ...), and ratios are taken
 * pair by pair so drift of a noisy machine cancels out. Writes bench-out/results.md.
 *
 * Options: --packets N (1000000), --flows N (60000), --runs N (3), --only job,job
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runSynth } from './synth.ts';

const { values } = parseArgs({
  options: {
    packets: { type: 'string' },
    flows: { type: 'string' },
    runs: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});
const PACKETS = Number(values.packets ?? 1_000_000);
const FLOWS = Number(values.flows ?? 60_000);
const RUNS = Number(values.runs ?? 3);
const OUT = resolve(values.out ?? 'bench-out');
const ONLY = values.only ? new Set(values.only.split(',')) : undefined;
mkdirSync(OUT, { recursive: true });

const TIME = '/usr/bin/time';
const hasTime = existsSync(TIME);
// Jobs run from the bundle `npm run build` makes (what `npx egresslab` runs), rebuilt here so
// it matches the sources.
spawnSync(process.execPath, [resolve('tools/build.mjs')], { stdio: 'inherit' });
const NODE_JOB = existsSync(resolve('dist/bench-job.mjs'))
  ? [process.execPath, resolve('dist/bench-job.mjs')]
  : [process.execPath, '--import', 'tsx', resolve('tools/bench-job.ts')];
const NODE_CAPTURE_JOB = existsSync(resolve('dist/bench-capture.mjs'))
  ? [process.execPath, resolve('dist/bench-capture.mjs')]
  : [process.execPath, '--import', 'tsx', resolve('tools/bench-capture.ts')];
const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

interface Run {
  wall: number;
  rssMiB: number;
  stdout: string;
}

function runOnce(argv: string[]): Run {
  const timeFile = join(OUT, 'time.txt');
  const cmd = hasTime ? [TIME, '-f', '%e %M', '-o', timeFile, ...argv] : argv;
  const t0 = performance.now();
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', maxBuffer: 64 << 20 });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  let rssMiB = NaN;
  if (hasTime) {
    const [, rss] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-2);
    rssMiB = Number(rss) / 1024;
  }
  return { wall, rssMiB, stdout: r.stdout };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Row {
  tool: string;
  job: string;
  walls: number[];
  rss: number;
  packets: number;
  /** The job reads the input capture (MB/s is input bytes over wall time). */
  readsInput: boolean;
  extra?: string;
}
const rows: Row[] = [];
const ratios: string[] = [];

/**
 * Runs A (ours) and optionally B (a peer) interleaved; records both and the paired ratio.
 * `inner`: a time (seconds) both jobs report in their JSON `extra`; its paired ratio is
 * printed too (the dashboard's cost to the replay itself, without process start-up and exit).
 */
function measure(name: string, a: string[], peer?: { tool?: string; name: string; argv: string[]; inner?: string }, packets = PACKETS, readsInput = true, tool = 'egresslab'): Run {
  if (ONLY && !ONLY.has(name)) return { wall: NaN, rssMiB: NaN, stdout: '{}' };
  const aw: number[] = [];
  const bw: number[] = [];
  let ar = 0;
  let br = 0;
  const ai: number[] = [];
  const bi: number[] = [];
  const innerOf = (r: Run): number => Number((JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { extra?: Record<string, unknown> }).extra?.[peer!.inner!]);
  let last: Run = { wall: 0, rssMiB: 0, stdout: '' };
  runOnce(a); // warm-up (page cache, tsx compile cache)
  if (peer) runOnce(peer.argv);
  for (let i = 0; i < RUNS; i++) {
    last = runOnce(a);
    aw.push(last.wall);
    ar = Math.max(ar, last.rssMiB);
    if (peer) {
      const p = runOnce(peer.argv);
      bw.push(p.wall);
      br = Math.max(br, p.rssMiB);
      if (peer.inner) {
        ai.push(innerOf(last));
        bi.push(innerOf(p));
      }
    }
  }
  let extra: string | undefined;
  try {
    const j = JSON.parse(last.stdout.trim().split('\n').pop() ?? '{}') as { extra?: Record<string, unknown> };
    if (j.extra) extra = Object.entries(j.extra).map(([k, v]) => `${k}=${v}`).join(' ');
  } catch {
    /* peers print nothing parseable */
  }
  rows.push({ tool, job: name, walls: aw, rss: ar, packets, readsInput, extra });
  if (peer) {
    rows.push({ tool: peer.tool ?? peer.name.split(' ')[0]!, job: peer.name, walls: bw, rss: br, packets, readsInput });
    const pr = aw.map((w, i) => w / bw[i]!);
    ratios.push(`- ${name} / ${peer.name}: **${median(pr).toFixed(2)}** [${Math.min(...pr).toFixed(2)}–${Math.max(...pr).toFixed(2)}] (wall time; below 1 means egresslab is faster)`);
    if (peer.inner) {
      const ir = ai.map((x, i) => x / bi[i]!);
      ratios.push(
        `- ${name} / ${peer.name}, ${peer.inner} (in the job, without process start-up and exit): **${median(ir).toFixed(2)}** [${Math.min(...ir).toFixed(2)}–${Math.max(...ir).toFixed(2)}]; medians ${median(ai).toFixed(3)} s / ${median(bi).toFixed(3)} s`,
      );
    }
  }
  process.stderr.write(`  ${name}: median ${median(aw).toFixed(3)} s\n`);
  return last;
}

// --- input ---------------------------------------------------------------------------
const input = join(OUT, `mix-${PACKETS}-${FLOWS}.pcap`);
if (!existsSync(input)) {
  process.stderr.write(`generating ${input} (${PACKETS} packets, ${FLOWS} flows, seed 1)...\n`);
  runSynth({ scenario: 'mix', out: input, packets: PACKETS, flows: FLOWS, seed: 1 });
}
const inputBytes = statSync(input).size;
const pcapng = join(OUT, `mix-${PACKETS}-${FLOWS}.pcapng`);
if (!existsSync(pcapng)) runOnce([...NODE_CAPTURE_JOB, 'readwrite', input, pcapng, 'pcapng']);
process.stderr.write(`input: ${input}, ${(inputBytes / 1e6).toFixed(1)} MB; ${RUNS} runs per job after a warm-up\n`);

// --- capture I/O (issue 2) -------------------------------------------------------------
measure('read', [...NODE_CAPTURE_JOB, 'read', input]);
const editcap = have('editcap') ? { name: 'editcap in /dev/null', argv: ['editcap', input, '/dev/null'] } : undefined;
measure('read+decode to L4', [...NODE_CAPTURE_JOB, 'decode', input], editcap);
// What every Node process pays before any of our code runs, and the part of it the
// environment adds: Node 20 loads NODE_EXTRA_CA_CERTS at start-up (~40 ms on the project
// machine), where editcap pays nothing. The decode job again without it tells the two apart.
measure('node start-up (node -e 0)', [process.execPath, '-e', '0'], undefined, 0, false, 'node');
if (process.env['NODE_EXTRA_CA_CERTS']) {
  measure('read+decode to L4, NODE_EXTRA_CA_CERTS unset', ['env', '-u', 'NODE_EXTRA_CA_CERTS', ...NODE_CAPTURE_JOB, 'decode', input], editcap && { ...editcap, tool: 'editcap' });
}
measure('read+write pcap', [...NODE_CAPTURE_JOB, 'readwrite', input, join(OUT, 'rw.pcap')], have('tshark') ? { name: 'tshark -r -F pcap -w', argv: ['tshark', '-r', input, '-F', 'pcap', '-w', join(OUT, 'rw-tshark.pcap')] } : undefined);

// --- dataplane (issue 3) ---------------------------------------------------------------
measure('dataplane alone (no output)', [...NODE_JOB, 'dataplane', input]);
measure('new connections, 100k live', [...NODE_JOB, 'newconn', '100000', '1000000'], undefined, 1_000_000, false);
measure('CT+NAT state, 1M flows', [...NODE_JOB, 'state', '1000000'], undefined, 0, false);

// --- whole replay with every hop capture written (issue 4) --------------------------------
const replayOut = join(OUT, 'replay');
rmSync(replayOut, { recursive: true, force: true });
measure(
  'replay with every hop capture',
  [...NODE_JOB, 'replay', input, replayOut],
  have('tcprewrite') ? { name: 'tcprewrite --srcipmap --fixcsum', argv: ['tcprewrite', `--infile=${input}`, `--outfile=${join(OUT, 'tcprw.pcap')}`, '--srcipmap=10.0.0.0/8:172.18.0.3/32', '--fixcsum'] } : undefined,
);

// --- diff (issue 5): two 1M captures, same content, different containers ---------------
const readBoth = { tool: 'egresslab', name: 'read both files', argv: ['sh', '-c', `${NODE_CAPTURE_JOB.join(' ')} read ${input} && ${NODE_CAPTURE_JOB.join(' ')} read ${pcapng}`] };
measure('diff pcap vs pcapng', ['node', 'tools/bin.mjs', 'diff', input, pcapng], readBoth);
measure('diff --canon-ports', ['node', 'tools/bin.mjs', 'diff', input, pcapng, '--canon-ports'], readBoth);

// --- dashboard cost (issue 6) --------------------------------------------------------
measure('replay with live dashboard', [...NODE_JOB, 'replay-dash', input], { tool: 'egresslab', name: 'replay without dashboard', argv: [...NODE_JOB, 'dataplane', input], inner: 'replayS' });

// --- report --------------------------------------------------------------------------
const lines = [
  `Input: ${PACKETS} packets, ${FLOWS} flows, ${(inputBytes / 1e6).toFixed(1)} MB (egresslab synth mix --seed 1). Node ${process.version}. ${RUNS} runs after a warm-up; whole-process wall time including start-up; peak RSS from /usr/bin/time.`,
  '',
  '| tool | job | median wall s [min–max] | packets/s | MB/s | peak RSS MiB | notes |',
  '| --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => {
    const m = median(r.walls);
    const pps = r.packets ? `${(r.packets / m / 1e6).toFixed(2)} M` : '–';
    const mbs = r.readsInput ? (inputBytes / 1e6 / m).toFixed(0) : '–';
    return `| ${r.tool} | ${r.job} | ${m.toFixed(3)} [${Math.min(...r.walls).toFixed(3)}–${Math.max(...r.walls).toFixed(3)}] | ${pps} | ${mbs} | ${r.rss.toFixed(0)} | ${r.extra ?? ''} |`;
  }),
  '',
  'Paired ratios (median [min–max] of per-pair ratios):',
  ...ratios,
];
const text = lines.join('\n') + '\n';
writeFileSync(join(OUT, 'results.md'), text);
process.stdout.write(text);
