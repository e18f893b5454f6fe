/**
 * Bad input through the real CLI: unknown flags, missing files, bad YAML semantics, bad flag
 * values, unwritable outputs: a message naming the file/flag (and line) on stderr, exit 2,
 * and nothing written half. Captures that fail mid-way: everything before the failure is
 * replayed and written, the error names the byte offset, exit 2.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EGRESS_ALL, cli, cliAsync, expectConservation, expectNoTempFiles, listFiles, ok, pooled, readCapture, readEvents, readSummary, tempDir } from './cli-run.ts';

const dir = tempDir('bad-input');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const LAB = path.join(dir, 'lab.pcap');
const LAB_NG = path.join(dir, 'lab.pcapng');

// Small fixtures. The topology's pod b claims node w1 but its address is in gw's CIDR.
const OUTSIDE = path.join(dir, 'outside-cidr.yaml');
const OUTSIDE_YAML = `clusterName: tiny
clusterCIDR: 10.0.0.0/8
nodes:
  - name: gw
    ip: 172.18.0.3
    podCIDR: 10.0.0.0/24
  - name: w1
    ip: 172.18.0.5
    podCIDR: 10.0.1.0/24
endpoints:
  - name: a
    namespace: default
    labels: { app: a }
    ip: 10.0.0.10
    node: gw
  - name: b
    namespace: default
    labels: { app: b }
    ip: 10.0.0.20
    node: w1
externalHosts:
  - name: echo
    ip: 172.18.0.7
    ports: [80]
    behaviour: echo
`;
const NOBODY = path.join(dir, 'selects-nothing.yaml');
const NOBODY_YAML = `# selects a label no pod of the lab has
apiVersion: cilium.io/v2alpha1
kind: CiliumEgressNATPolicy
metadata:
  name: nobody
spec:
  egress:
  - podSelector:
      matchLabels:
        app: nosuch
  destinationCIDRs:
  - 172.18.0.0/16
  egressSourceIP: "172.18.0.3"
`;
const BROKEN_YAML = path.join(dir, 'broken.yaml');
const EMPTY_POLICY = path.join(dir, 'empty-policy.yaml');
// A value quoted back in the message carries an escape sequence: it must reach the terminal inert.
const ESC_API = path.join(dir, 'escape-api.yaml');

beforeAll(() => {
  ok(['synth', 'lab', '--out', LAB]);
  ok(['synth', 'lab', '--out', LAB_NG, '--format', 'pcapng']);
  fs.writeFileSync(OUTSIDE, OUTSIDE_YAML);
  fs.writeFileSync(NOBODY, NOBODY_YAML);
  fs.writeFileSync(EMPTY_POLICY, '# nothing here yet\n');
  fs.writeFileSync(ESC_API, fs.readFileSync(EGRESS_ALL, 'utf8').replace('apiVersion: cilium.io/v2alpha1', 'apiVersion: "x\\e[2J\\e]0;t\\a"'));
  fs.writeFileSync(BROKEN_YAML, 'apiVersion: cilium.io/v2alpha1\nkind: CiliumEgressNATPolicy\nmetadata: { name: x\nspec: [\n');
});

function lineOf(text: string, needle: string): number {
  return text.split('\n').findIndex((l) => l.includes(needle)) + 1;
}

/** A fresh output folder name (not created) and its events file inside it. */
let n = 0;
function outDir(): { out: string; events: string } {
  const out = path.join(dir, `out-${n++}`);
  return { out, events: path.join(out, 'events.jsonl') };
}

type Rejection = [args: string[], message: RegExp, out?: string];

/**
 * Each one: exit 2, the message on stderr, no stack trace, nothing on stdout, and nothing
 * written at all (the test folder lists the same files before and after). Independent
 * invocations run a few at a time. Returns the stderr texts.
 */
async function expectRejected(cases: Rejection[]): Promise<string[]> {
  const before = listFiles(dir);
  const results = await pooled(cases.map(([args]) => () => cliAsync(args)));
  const texts = results.map((r, i) => {
    const [args, message, out] = cases[i]!;
    const what = `egresslab ${args.join(' ')}\n${r.stderr}`;
    expect(r.code, what).toBe(2);
    expect(r.stderr, what).toMatch(message);
    expect(r.stderr, what).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/); // no stack trace
    expect(r.stdout, what).toBe('');
    if (out) expect(fs.existsSync(out), `${what}: ${out} must not be created`).toBe(false);
    return r.stderr;
  });
  expect(listFiles(dir)).toEqual(before);
  return texts;
}

describe('bad flags: exit 2, the flag named, usage shown, nothing written', () => {
  it('unknown flags and bad values: --speed 0, --format bogus, --datapath, the scenario, --node', async () => {
    const { out, events } = outDir();
    const base = ['replay', LAB, '--out', out, '--events', events];
    await expectRejected([
      [[...base, '--bogus'], /egresslab replay: Unknown option '--bogus'\n[\s\S]*usage: egresslab replay/, out],
      [['maps', '--bogus'], /egresslab maps: Unknown option '--bogus'\n[\s\S]*usage: egresslab maps/],
      [['lab', '--out', out, '--bogus'], /egresslab lab: Unknown option '--bogus'/, out],
      [[...base, '--speed', '0'], /egresslab replay: --speed takes a positive number, got '0'/, out],
      [[...base, '--format', 'bogus'], /egresslab replay: --format must be one of pcapng, pcap, got 'bogus'/, out],
      [[...base, '--datapath', '2.0'], /--datapath must be one of 1\.10, 1\.17, got '2\.0'/, out],
      [['replay', LAB, '--dump-maps'], /--dump-maps needs --out DIR/],
      [['replay', LAB, '--format', 'pcap'], /--format sets the captures written with --out DIR/],
      [['synth', 'bogus', '--out', path.join(dir, 'x.pcap')], /unknown scenario 'bogus' \(scenarios: lab, collisions, exhaustion, mix\)/],
      [['synth', 'lab', '--packets', '5', '--out', path.join(dir, 'x.pcap')], /--packets does not apply to scenario 'lab' \(it is an option of mix\)/],
      [['synth', 'mix', '--pods', '5', '--out', path.join(dir, 'x.pcap')], /--pods does not apply to scenario 'mix' \(it is an option of collisions\)/],
      [['maps', '--format', 'bogus'], /--format must be one of bpftool, cilium, got 'bogus'/],
      [['maps', '--node', 'nosuch'], /--node nosuch: no such node in <built-in: k8s-guide lab> \(nodes: k8s-guide-control-plane, k8s-guide-worker, k8s-guide-worker2\)/],
      [['explain', LAB], /give exactly one of --packet N and --flow SPEC/],
      // A negative number reaches the flag's own check (parseArgs alone said "ambiguous").
      [['replay', LAB, '--speed', '-1'], /--speed takes a positive number, got '-1'/],
      [['explain', LAB, '--packet', '-1'], /--packet takes a whole number, got '-1'/],
    ]);
  });
});

describe('bad files and unwritable outputs: exit 2, the file (and line) named, nothing written', () => {
  it('missing capture/topology/policy files, a pod outside its node\'s CIDR, a policy that selects nothing, broken YAML', async () => {
    const { out, events } = outDir();
    const o = ['--out', out, '--events', events];
    const missing = path.join(dir, 'no-such.pcap');
    const noTopo = path.join(dir, 'no-such-topology.yaml');
    const noPolicy = path.join(dir, 'no-such-policy.yaml');
    const outside = new RegExp(escape(`${OUTSIDE}:${lineOf(OUTSIDE_YAML, 'ip: 10.0.0.20')}: endpoints[1].ip: 10.0.0.20 is outside node w1's pod CIDR 10.0.1.0/24`));
    // The line of the selectors (spec.egress), not of the object.
    const nobody = new RegExp(`${escape(NOBODY)}:${lineOf(NOBODY_YAML, 'egress:')}: spec\\.egress: policy 'nobody' selects no endpoint of topology <built-in: k8s-guide lab>`);
    const texts = await expectRejected([
      [['replay', missing, ...o], new RegExp(`egresslab replay: ${escape(missing)}: byte offset 0: cannot open: ENOENT`), out],
      [['replay', LAB, '--topology', noTopo, ...o], new RegExp(`egresslab replay: ${escape(noTopo)}: cannot read: ENOENT`), out],
      [['replay', LAB, '--policy', EGRESS_ALL, '--policy', noPolicy, ...o], new RegExp(`${escape(noPolicy)}: cannot read: ENOENT`), out],
      [['explain', missing, '--packet', '0'], new RegExp(`${escape(missing)}: byte offset 0: cannot open`)],
      [['replay', LAB, '--topology', OUTSIDE, ...o], outside, out],
      [['replay', LAB, '--policy', NOBODY, ...o], nobody, out],
      [['explain', LAB, '--packet', '0', '--policy', NOBODY], nobody],
      [['replay', LAB, '--policy', BROKEN_YAML, ...o], new RegExp(`egresslab replay: ${escape(BROKEN_YAML)}:\\d+`), out],
      [['replay', LAB, '--policy', EMPTY_POLICY, ...o], new RegExp(`egresslab replay: ${escape(EMPTY_POLICY)}: the file holds no egress policy`), out],
      [['maps', '--policy', ESC_API], new RegExp(`${escape(ESC_API)}:\\d+: apiVersion: .*got 'x\\\\x1b\\[2J\\\\x1b\\]0;t\\\\x07'`)],
    ]);
    for (const t of texts) expect(t).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    // The line named is that of its selectors (checked in the pattern): 7 here.
    expect(lineOf(NOBODY_YAML, 'egress:')).toBe(7);
  });

  it('--out is a file, --events in a folder that does not exist, lab/synth --out under a file', async () => {
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'x');
    const { out } = outDir();
    const events = path.join(dir, 'no-such-folder', 'events.jsonl');
    await expectRejected([
      [['replay', LAB, '--out', file], new RegExp(`egresslab replay: ${escape(file)}: cannot create the output folder`)],
      [['replay', LAB, '--out', out, '--events', events], new RegExp(`egresslab replay: ${escape(events)}: cannot create`), out],
      [['lab', '--out', file], new RegExp(`egresslab lab: ${escape(file)}: cannot create the output folder`)],
      [['synth', 'lab', '--out', path.join(file, 'x.pcap')], new RegExp(`egresslab synth: ${escape(file)}/x\\.pcap: cannot create`)],
    ]);
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
  });

  it('--events naming an existing folder fails up front: exit 2, the path named, nothing written in --out', async () => {
    const eventsDir = path.join(dir, 'events-is-a-folder');
    fs.mkdirSync(eventsDir);
    const existing = path.join(dir, 'existing-out');
    fs.mkdirSync(existing);
    const { out } = outDir();
    const isFolder = (p: string) => new RegExp(`egresslab replay: ${escape(p)}: is an existing folder, not a file`);
    await expectRejected([
      [['replay', LAB, '--out', out, '--events', eventsDir], isFolder(eventsDir), out],
      [['replay', LAB, '--out', existing, '--events', eventsDir], isFolder(eventsDir)],
      // The output folder itself as the events file.
      [['replay', LAB, '--out', existing, '--events', existing], isFolder(existing)],
      [['replay', LAB, '--events', eventsDir], isFolder(eventsDir)],
    ]);
    expect(listFiles(existing)).toEqual([]);
    fs.rmSync(eventsDir, { recursive: true });
    fs.rmSync(existing, { recursive: true });
  });

  it('--out under a file names the file, not ENOTDIR of a mkdir', async () => {
    const file = path.join(dir, 'plain-file');
    fs.writeFileSync(file, 'x');
    const texts = await expectRejected([
      [['replay', LAB, '--out', path.join(file, 'a', 'b')], new RegExp(`egresslab replay: ${escape(path.join(file, 'a', 'b'))}: cannot create the output folder: ${escape(file)} is a file, not a folder`)],
      [['lab', '--out', path.join(file, 'a')], new RegExp(`egresslab lab: ${escape(path.join(file, 'a'))}: cannot create the output folder: ${escape(file)} is a file, not a folder`)],
    ]);
    for (const t of texts) expect(t).not.toMatch(/ENOENT|ENOTDIR/);
    fs.rmSync(file);
  });

  // A read-only file system: Node's recursive mkdir says "ENOENT: no such file or directory"
  // there. As root, a read-only tmpfs; as a user, a folder without write permission.
  const isRoot = process.getuid?.() === 0;
  const roMount = path.join(dir, 'ro-mount');
  const haveRoMount = isRoot && (() => {
    fs.mkdirSync(roMount);
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', roMount]);
    if (r.status === 0) return true;
    fs.rmdirSync(roMount);
    return false;
  })();
  afterAll(() => {
    if (haveRoMount) spawnSync('umount', [roMount]);
  });

  it.skipIf(!haveRoMount)('--out on a read-only file system says so (EROFS), not ENOENT (skipped unless root can mount a tmpfs)', async () => {
    const texts = await expectRejected([
      [['replay', LAB, '--out', path.join(roMount, 'ro', 'o')], new RegExp(`egresslab replay: ${escape(path.join(roMount, 'ro', 'o'))}: cannot create the output folder: ${escape(roMount)} is read-only \\(EROFS\\)`)],
      [['replay', LAB, '--out', path.join(roMount, 'o')], new RegExp(`cannot create the output folder: ${escape(roMount)} is read-only \\(EROFS\\)`)],
      [['lab', '--out', path.join(roMount, 'ro', 'o')], new RegExp(`egresslab lab: ${escape(path.join(roMount, 'ro', 'o'))}: cannot create the output folder: ${escape(roMount)} is read-only \\(EROFS\\)`)],
    ]);
    for (const t of texts) expect(t).not.toMatch(/ENOENT/);
  });

  it.skipIf(isRoot)('--out in a folder without write permission says so (EACCES), not ENOENT (skipped as root)', async () => {
    const locked = path.join(dir, 'locked');
    fs.mkdirSync(locked, { mode: 0o555 });
    try {
      const texts = await expectRejected([
        [['replay', LAB, '--out', path.join(locked, 'a', 'o')], new RegExp(`cannot create the output folder: no permission to create a folder in ${escape(locked)} \\(EACCES\\)`)],
      ]);
      for (const t of texts) expect(t).not.toMatch(/ENOENT/);
    } finally {
      fs.rmdirSync(locked);
    }
  });

  it('an existing output folder keeps its files when the configuration is rejected', () => {
    const out = path.join(dir, 'kept');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'summary.json'), '{"old":true}\n');
    const r = cli(['replay', LAB, '--policy', NOBODY, '--out', out]);
    expect(r.code).toBe(2);
    expect(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).toBe('{"old":true}\n');
    expect(listFiles(out)).toEqual(['summary.json']);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

describe('a capture that fails mid-way: replayed and written up to the failure, exit 2 naming the offset', () => {
  function expectPartial(args: string[], o: { good: number; offset: number; file: string; out: string; input?: Buffer }): void {
    const r = cli(args, { input: o.input });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`egresslab replay: ${o.file === '-' ? '<stdin>' : o.file}: byte offset ${o.offset}: `);
    expect(r.stderr).toContain('everything before that offset was replayed and written');
    expect(r.stdout).toMatch(new RegExp(`^${escape(o.file)}: ${o.good} packets in`));
    const s = readSummary(o.out);
    expect(s.conservation.input).toBe(o.good);
    expectConservation(s);
    expect(s.outputs).toContain('summary.json');
    for (const f of s.outputs) expect(fs.existsSync(path.join(o.out, f)), f).toBe(true);
    // Every capture written is complete and readable; the events cover exactly the good records.
    for (const f of s.outputs.filter((x) => x.endsWith('.pcapng'))) expect(readCapture(path.join(o.out, f)).records.length).toBeGreaterThan(0);
    const events = readEvents(path.join(o.out, 'events.jsonl'));
    const inputs = [...new Set(events.map((e) => e.egresslab.input_index).filter((i) => i >= 0))].sort((a, b) => a - b);
    expect(inputs).toEqual([...Array(o.good).keys()]);
    expectNoTempFiles(dir);
  }

  it('the lab capture with its last record cut short (file and stdin)', () => {
    const whole = fs.readFileSync(LAB);
    const recs = readCapture(LAB).records;
    expect(recs.length).toBe(15);
    const cut = path.join(dir, 'cut.pcap');
    fs.writeFileSync(cut, whole.subarray(0, whole.length - 10));
    const { out, events } = outDir();
    expectPartial(['replay', cut, '--policy', EGRESS_ALL, '--out', out, '--events', events], { good: 14, offset: recs[14]!.offset, file: cut, out });
    // The partial outputs equal those of a replay of the 14 good records alone.
    const good = path.join(dir, 'good14.pcap');
    fs.writeFileSync(good, whole.subarray(0, recs[14]!.offset));
    const ref = outDir();
    ok(['replay', good, '--policy', EGRESS_ALL, '--out', ref.out, '--events', ref.events]);
    for (const f of listFiles(ref.out).filter((x) => x !== 'summary.json')) {
      expect(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(ref.out, f))), f).toBe(true);
    }
    const viaStdin = outDir();
    expectPartial(['replay', '-', '--policy', EGRESS_ALL, '--out', viaStdin.out, '--events', viaStdin.events], {
      good: 14, offset: recs[14]!.offset, file: '-', out: viaStdin.out, input: whole.subarray(0, whole.length - 10),
    });
  });

  it('a pcap record header whose length lies, in the middle of the file', () => {
    const buf = Buffer.from(fs.readFileSync(LAB));
    const recs = readCapture(LAB).records;
    const bad = recs[7]!.offset;
    buf.writeUInt32LE(0x7fff0000, bad + 8); // incl_len
    const file = path.join(dir, 'lying-length.pcap');
    fs.writeFileSync(file, buf);
    const { out, events } = outDir();
    expectPartial(['replay', file, '--out', out, '--events', events], { good: 7, offset: bad, file, out });
  });

  it('a pcapng block whose length is not a multiple of 4, in the middle of the file', () => {
    const buf = Buffer.from(fs.readFileSync(LAB_NG));
    const recs = readCapture(LAB_NG).records;
    expect(recs.length).toBe(15);
    const bad = recs[9]!.offset;
    expect(buf.readUInt32LE(bad)).toBe(6); // an Enhanced Packet Block
    buf.writeUInt32LE(buf.readUInt32LE(bad + 4) + 1, bad + 4);
    const file = path.join(dir, 'odd-block.pcapng');
    fs.writeFileSync(file, buf);
    const { out, events } = outDir();
    expectPartial(['replay', file, '--out', out, '--events', events], { good: 9, offset: bad, file, out });
  });

  it('explain and maps --replay also exit 2 after a partial capture, naming the offset', () => {
    const whole = fs.readFileSync(LAB);
    const recs = readCapture(LAB).records;
    const cut = path.join(dir, 'cut2.pcap');
    fs.writeFileSync(cut, whole.subarray(0, whole.length - 3));
    const e = cli(['explain', cut, '--packet', '0']);
    expect(e.code).toBe(2);
    expect(e.stdout).toMatch(/^input packet 0 /);
    expect(e.stderr).toContain(`${cut}: byte offset ${recs[14]!.offset}`);
    const m = cli(['maps', '--replay', cut]);
    expect(m.code).toBe(2);
    expect(m.stdout).toContain('cilium bpf nat list');
    expect(m.stderr).toContain(`${cut}: byte offset ${recs[14]!.offset}`);
  });
});

describe('egresslab without a command', () => {
  it('prints the usage on stderr with exit 2; --help prints it on stdout with exit 0', async () => {
    const [bare, help] = await pooled([() => cliAsync([]), () => cliAsync(['--help'])]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe('');
    expect(bare.stderr).toMatch(/^usage: egresslab <command> \[options\]/);
    expect(help.code).toBe(0);
    expect(help.stderr).toBe('');
    expect(help.stdout).toMatch(/^usage: egresslab <command> \[options\]/);
  });
});
