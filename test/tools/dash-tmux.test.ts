/**
 * A real terminal: `egresslab dash` runs inside tmux, keys are sent with `tmux send-keys`
 * and the screen is read back with `tmux capture-pane -p`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labEvents, toLines } from '../dashboards/fixtures.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOCKET = `egresslab-test-${process.pid}`;
const haveTmux = spawnSync('tmux', ['-V']).status === 0;
if (!haveTmux) console.warn('dash-tmux.test.ts: SKIPPED — tmux is not installed (apt-get install tmux); the real-terminal test did not run');

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
}
const capture = (): string => tmux('capture-pane', '-p', '-t', 'dash');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(pred: (screen: string) => boolean, what: string, ms = 15_000): Promise<string> {
  const end = Date.now() + ms;
  let screen = '';
  while (Date.now() < end) {
    try {
      screen = capture();
    } catch {
      screen = '';
    }
    if (pred(screen)) return screen;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}; screen was:\n${screen}`);
}

describe.skipIf(!haveTmux)('egresslab dash in tmux', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'egresslab-dash-'));
    // One packet every 2 s of capture time at --speed 1: the replay is still running when we pause it.
    // Line 4 is not a flow event: skipped, and said when the dashboard closes (exit 2).
    const lines = toLines(labEvents({ spacing: 2 })).split('\n');
    lines.splice(3, 0, 'this line is not JSON');
    writeFileSync(join(dir, 'events.jsonl'), lines.join('\n'));
    writeFileSync(join(dir, 'run.sh'), `cd '${ROOT}' && LANG=C.UTF-8 node tools/bin.mjs dash --events '${join(dir, 'events.jsonl')}' --speed 1; echo "dash exited rc=$?"; sleep 60\n`);
  });
  afterAll(() => {
    spawnSync('tmux', ['-L', SOCKET, 'kill-server']);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows the panes, pauses on space, filters on /, quits on q', async () => {
    tmux('new-session', '-d', '-s', 'dash', '-x', '160', '-y', '48', `sh '${join(dir, 'run.sh')}'`);
    let screen = await waitFor((s) => s.includes('RUNNING') && s.includes('egress-all'), 'the dashboard to start');
    expect(screen).toContain('Conntrack');
    expect(screen).toContain('datapath 1.10');

    tmux('send-keys', '-t', 'dash', 'Space');
    screen = await waitFor((s) => s.includes('PAUSED'), 'PAUSED');
    const packets = /pkts (\d+)/.exec(screen)?.[1];
    await sleep(2500);
    expect(/pkts (\d+)/.exec(capture())?.[1]).toBe(packets); // nothing moves while paused

    tmux('send-keys', '-t', 'dash', 'n');
    await waitFor((s) => /pkts (\d+)/.exec(s)?.[1] === String(Number(packets) + 1), 'one step');

    // Let it finish, so all three flows are in the table, then filter.
    tmux('send-keys', '-t', 'dash', 'Space');
    tmux('send-keys', '-t', 'dash', '+');
    tmux('send-keys', '-t', 'dash', '+');
    tmux('send-keys', '-t', 'dash', '+');
    screen = await waitFor((s) => s.includes('FINISHED'), 'the replay to finish', 30_000);
    expect(screen.match(/TCP OUT 10\./g)).toHaveLength(3);
    tmux('send-keys', '-t', 'dash', '/');
    tmux('send-keys', '-t', 'dash', '-l', '10.0.1.209');
    tmux('send-keys', '-t', 'dash', 'Enter');
    screen = await waitFor((s) => s.includes('1/3 entries'), 'the filter');
    expect(screen.match(/TCP OUT 10\./g)).toHaveLength(1);
    expect(screen).toContain('172.18.0.3:41000');
    expect(screen).not.toContain('172.18.0.3:40000 ');

    tmux('send-keys', '-t', 'dash', 'q');
    screen = await waitFor((s) => s.includes('dash exited rc='), 'dash to exit');
    expect(screen).toContain('1 line is not flow events and was skipped (the first at line 4)');
    expect(screen).toContain('dash exited rc=2');
  });

  it('Ctrl-C (a key in raw mode) ends it as SIGINT would: exit 130', async () => {
    tmux('new-session', '-d', '-s', 'dash2', '-x', '160', '-y', '48', `sh '${join(dir, 'run.sh')}'`);
    const capture = () => tmux('capture-pane', '-p', '-t', 'dash2');
    const end = Date.now() + 20_000;
    while (Date.now() < end && !capture().includes('RUNNING')) await sleep(100);
    tmux('send-keys', '-t', 'dash2', 'C-c');
    const end2 = Date.now() + 10_000;
    while (Date.now() < end2 && !capture().includes('dash exited rc=')) await sleep(100);
    expect(capture()).toContain('dash exited rc=130');
  });
});
