/**
 * The live dashboard in a real terminal: `egresslab replay - --dash` reads the capture from
 * stdin (as after `tcpdump -w - |`), takes its keys from the terminal, and shows the replay's
 * own counters while it runs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOCKET = `egresslab-live-${process.pid}`;
const haveTmux = spawnSync('tmux', ['-V']).status === 0;
if (!haveTmux) console.warn('replay-dash-tmux.test.ts: SKIPPED — tmux is not installed (apt-get install tmux)');

const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(pred: (screen: string) => boolean, what: string, ms = 20_000, session = 'live'): Promise<string> {
  const end = Date.now() + ms;
  let screen = '';
  while (Date.now() < end) {
    try {
      screen = tmux('capture-pane', '-p', '-t', session);
    } catch {
      screen = '';
    }
    if (pred(screen)) return screen;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}; screen was:\n${screen}`);
}

describe.skipIf(!haveTmux)('egresslab replay --dash in tmux', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'egresslab-live-'));
    const cap = join(dir, 'lab.pcap');
    execFileSync(process.execPath, [join(ROOT, 'tools/bin.mjs'), 'synth', 'lab', '--out', cap], { stdio: 'ignore' });
    // The lab's pods are one second apart: at --speed 0.5 the replay is still running when we pause.
    writeFileSync(
      join(dir, 'run.sh'),
      `cd '${ROOT}' && cat '${cap}' | LANG=C.UTF-8 node tools/bin.mjs replay - --policy examples/policies/egress-all.yaml --dash --speed 0.5 --out '${join(dir, 'out')}'; echo "rc=$?" > '${join(dir, 'rc')}'; sleep 60\n`,
    );
  });
  afterAll(() => {
    spawnSync('tmux', ['-L', SOCKET, 'kill-server']);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs from stdin, pauses and steps from the keyboard, shows the policy and the SNAT, quits on q', async () => {
    tmux('new-session', '-d', '-s', 'live', '-x', '160', '-y', '48', `sh '${join(dir, 'run.sh')}'`);
    let screen = await waitFor((s) => s.includes('RUNNING') && s.includes('egress-all'), 'the live dashboard');
    expect(screen).toContain('datapath 1.10');

    tmux('send-keys', '-t', 'live', 'Space');
    screen = await waitFor((s) => s.includes('PAUSED'), 'PAUSED');
    const packets = Number(/pkts (\d+)/.exec(screen)?.[1]);
    await sleep(2500);
    expect(Number(/pkts (\d+)/.exec(tmux('capture-pane', '-p', '-t', 'live'))?.[1])).toBe(packets);
    tmux('send-keys', '-t', 'live', 'n');
    await waitFor((s) => Number(/pkts (\d+)/.exec(s)?.[1]) === packets + 1, 'one step');

    tmux('send-keys', '-t', 'live', 'Space');
    for (let i = 0; i < 6; i++) tmux('send-keys', '-t', 'live', '+');
    screen = await waitFor((s) => s.includes('FINISHED'), 'the replay to finish', 30_000);
    expect(screen).toMatch(/egress-all\s+172\.18\.0\.0\/16\s+hit\s+172\.18\.0\.3\s+172\.18\.0\.3\s+3\s/);
    expect(screen).toContain('TO_NETWORK');
    expect(screen).toMatch(/TCP 172\.18\.0\.7:80\s+allocs 3/);

    tmux('send-keys', '-t', 'live', 'q');
    const end = Date.now() + 10_000;
    while (!existsSync(join(dir, 'rc')) && Date.now() < end) await sleep(100);
    expect(readFileSync(join(dir, 'rc'), 'utf8').trim()).toBe('rc=0');
    // The replay's outputs are complete after a live run too.
    const summary = JSON.parse(readFileSync(join(dir, 'out', 'summary.json'), 'utf8')) as { conservation: { input: number } };
    expect(summary.conservation.input).toBe(15);
  });

  it('keeps stderr\'s progress line off the screen, and Ctrl-C ends the command as SIGINT does (130)', async () => {
    const cap = join(dir, 'lab.pcap');
    const out2 = join(dir, 'out2');
    writeFileSync(
      join(dir, 'run2.sh'),
      `cd '${ROOT}' && LANG=C.UTF-8 node tools/bin.mjs replay '${cap}' --policy examples/policies/egress-all.yaml --dash --speed 4 --out '${out2}'; echo "rc=$?" > '${join(dir, 'rc2')}'; sleep 60\n`,
    );
    tmux('new-session', '-d', '-s', 'live2', '-x', '160', '-y', '48', `sh '${join(dir, 'run2.sh')}'`);
    const capture = () => tmux('capture-pane', '-p', '-t', 'live2');
    const end0 = Date.now() + 20_000;
    let screen = '';
    while (Date.now() < end0 && !screen.includes('FINISHED')) {
      await sleep(100);
      screen = capture();
    }
    expect(screen).toContain('FINISHED');
    await sleep(300);
    // Row 1 is the header's top border. stderr is the same terminal: the replay's progress
    // line, and the erase that ends it, used to land there.
    const top = capture().split('\n')[0]!;
    expect(top).toMatch(/^┌─/);
    expect(top).not.toMatch(/packets|pkt\/s/);
    // Raw mode turns Ctrl-C into a key; the dashboard raises SIGINT for it.
    tmux('send-keys', '-t', 'live2', 'C-c');
    const end = Date.now() + 10_000;
    while (!existsSync(join(dir, 'rc2')) && Date.now() < end) await sleep(100);
    expect(readFileSync(join(dir, 'rc2'), 'utf8').trim()).toBe('rc=130');
    expect(existsSync(join(out2, 'summary.json'))).toBe(true);
  });

  it('a file at top speed: journeys of its first packets have their detail once the replay is done', async () => {
    const cap = join(dir, 'lab.pcap');
    writeFileSync(
      join(dir, 'run3.sh'),
      `cd '${ROOT}' && LANG=C.UTF-8 node tools/bin.mjs replay '${cap}' --policy examples/policies/egress-all.yaml --dash; echo "rc=$?" > '${join(dir, 'rc3')}'; sleep 60\n`,
    );
    tmux('new-session', '-d', '-s', 'live3', '-x', '160', '-y', '48', `sh '${join(dir, 'run3.sh')}'`);
    const until = (pred: (s: string) => boolean, what: string) => waitFor(pred, what, 20_000, 'live3');
    await until((s) => s.includes('FINISHED') && s.includes('TO_NETWORK'), 'the replay to finish');
    // Enter on the selected conntrack row: the flow's journey, with the functions walked.
    tmux('send-keys', '-t', 'live3', 'Enter');
    const screen = await until((s) => s.includes('Journey (esc closes'), 'the journey window');
    expect(screen).toContain('handle_ipv4_from_lxc');
    expect(screen).toContain('lookup cilium_ct4_global');
    tmux('send-keys', '-t', 'live3', 'q');
    const end = Date.now() + 10_000;
    while (!existsSync(join(dir, 'rc3')) && Date.now() < end) await sleep(100);
    expect(readFileSync(join(dir, 'rc3'), 'utf8').trim()).toBe('rc=0');
  });

  it('a file gone before the run ends: the journeys keep what the run built, q still quits', async () => {
    const cap = join(dir, 'gone.pcap');
    writeFileSync(cap, readFileSync(join(dir, 'lab.pcap')));
    writeFileSync(
      join(dir, 'run4.sh'),
      `cd '${ROOT}' && LANG=C.UTF-8 node tools/bin.mjs replay '${cap}' --policy examples/policies/egress-all.yaml --dash --speed 1; echo "rc=$?" > '${join(dir, 'rc4')}'; sleep 60\n`,
    );
    tmux('new-session', '-d', '-s', 'live4', '-x', '160', '-y', '48', `sh '${join(dir, 'run4.sh')}'`);
    const until = (pred: (s: string) => boolean, what: string) => waitFor(pred, what, 20_000, 'live4');
    await until((s) => s.includes('RUNNING'), 'the live dashboard');
    // The lab's capture spans two seconds: the file goes while the run paces through it.
    rmSync(cap);
    const screen = await until((s) => s.includes('FINISHED'), 'the replay to finish');
    expect(screen).not.toContain('cannot open');
    tmux('send-keys', '-t', 'live4', 'q');
    const end = Date.now() + 10_000;
    while (!existsSync(join(dir, 'rc4')) && Date.now() < end) await sleep(100);
    expect(readFileSync(join(dir, 'rc4'), 'utf8').trim()).toBe('rc=0');
  });
});
