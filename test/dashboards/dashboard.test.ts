import { afterEach, describe, expect, it } from 'vitest';
import { EventAccumulator } from '../../dashboards/accumulate.ts';
import { startDashboard, type DashboardHandle } from '../../dashboards/dashboard.ts';
import type { StatsSnapshot } from '../../traces/stats.ts';
import { EGRESS_IP, exhausted, exhaustionEvents, fakeTerminal, labAfterPolicy, labBeforePolicy, labEvents, POLICY, recorder, toLines } from './fixtures.ts';

const open: DashboardHandle[] = [];
afterEach(() => {
  while (open.length) open.pop()!.stop();
});

function show(snap: StatsSnapshot, cols = 160, rows = 48, journey?: (id: string) => string[]) {
  const term = fakeTerminal(cols, rows);
  const rec = recorder(snap, journey);
  const d = startDashboard({ getSnapshot: () => snap, controls: rec.controls, input: term.input, output: term.output, terminal: 'xterm-256color', refreshMs: 60_000 });
  open.push(d);
  return { d, term, ...rec };
}

const tick = () => new Promise((r) => setTimeout(r, 30));
async function type(term: ReturnType<typeof fakeTerminal>, keys: string): Promise<void> {
  for (const k of keys) {
    term.input.write(k);
    await tick();
  }
}

function conntrackLines(text: string): string[] {
  return text.split('\n').filter((l) => /TCP OUT \d/.test(l));
}

describe('dashboard rendering: the lab replay', () => {
  it('after the policy: egress-all, 3 flows, 9 packets through 172.18.0.3, NAT mappings', () => {
    const { d } = show(labAfterPolicy());
    const text = d.screenText();
    expect(text).toMatch(/egress-all\s+172\.18\.0\.0\/16\s+hit\s+172\.18\.0\.3\s+172\.18\.0\.3\s+3\s+9\s+540/);
    for (const port of [40000, 41000, 42000]) expect(text).toContain(`172.18.0.3:${port}`);
    expect(conntrackLines(text)).toHaveLength(3);
    expect(text).toContain('172.18.0.3 (k8s-guide-control-plane)');
    expect(text).toMatch(/in use \[[|.]+\] 3\/32768/);
    expect(text).toContain('RUNNING');
    expect(text).toContain('no drops');
  });

  it('before the policy: no policy hit, each pod masqueraded to its own node IP', () => {
    const { d } = show(labBeforePolicy());
    const text = d.screenText();
    expect(text).not.toContain(POLICY);
    expect(text).toContain('no egress policy matched yet');
    expect(text).toContain('172.18.0.3:40000');
    expect(text).toContain('172.18.0.5:41000');
    expect(text).toContain('172.18.0.6:42000');
    expect(text).toContain('172.18.0.6 (k8s-guide-worker2)');
  });

  it('after the policy, rebuilt by accumulate.ts from FlowEvent lines', () => {
    const acc = new EventAccumulator({ input: 'lab-events.jsonl' });
    // Before any event the profile is not known: the header must not claim one.
    expect(acc.snapshot({ progress: 0, finished: false }).datapath).toBe('?');
    expect(new EventAccumulator({ input: 'x', profile: '1.10' }).snapshot({ progress: 0, finished: false }).datapath).toBe('1.10');
    for (const line of toLines(labEvents()).split('\n')) acc.addLine(line);
    const snap = acc.snapshot({ progress: 1, finished: true });
    expect(snap.datapath).toBe('1.10');
    expect(snap.policies).toEqual([
      { policy: POLICY, cidr: '172.18.0.0/16', kind: 'hit', gateway: EGRESS_IP, egressIp: EGRESS_IP, flows: 3, packets: 9, bytes: -1 },
    ]);
    expect(snap.conntrack.map((r) => [r.tuple, r.state, r.nat, r.txPackets, r.rxPackets])).toEqual([
      ['TCP OUT 10.0.0.31:40000 -> 172.18.0.7:80', 'ESTABLISHED', '172.18.0.3:40000', 3, 1],
      ['TCP OUT 10.0.1.209:41000 -> 172.18.0.7:80', 'ESTABLISHED', '172.18.0.3:41000', 3, 1],
      ['TCP OUT 10.0.2.14:42000 -> 172.18.0.7:80', 'ESTABLISHED', '172.18.0.3:42000', 3, 1],
    ]);
    // 1.10 TCP lifetime, 21600 s from the flow's last packet.
    const last = snap.conntrack[2]!;
    expect(last.lifetimeLeft).toBe(21600);
    expect(snap.egressIps[0]!.remotes[0]).toMatchObject({ remote: 'TCP 172.18.0.7:80', inUse: 3, allocations: 3, failures: 0 });
    const { d } = show(snap);
    const text = d.screenText();
    expect(text).toMatch(/egress-all\s+172\.18\.0\.0\/16\s+hit\s+172\.18\.0\.3\s+172\.18\.0\.3\s+3\s+9\s+n\/a/);
    expect(text).toContain('FINISHED');
    for (const port of [40000, 41000, 42000]) expect(text).toContain(`172.18.0.3:${port}`);
  });

  it('the same snapshot at 80x24 still shows the policy, the egress IP and the mappings', () => {
    const { d } = show(labAfterPolicy(), 80, 24);
    const text = d.screenText();
    expect(text).toContain('egress-all 172');
    expect(text).toContain('172.18.0.3:41000');
    expect(text.split('\n')).toHaveLength(24);
    expect(Math.max(...text.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
  });
});

describe('dashboard rendering: exhaustion', () => {
  it('hand-built: the gauge reaches the range size and drops 167 appear', () => {
    const { d } = show(exhausted());
    const text = d.screenText();
    expect(text).toMatch(/in use \[\|+\] 8\/8 100%/);
    expect(text).toMatch(/167\s+4 No mapping for NAT masquerade/);
    expect(text).toContain('failures(167) 4');
    expect(text).toMatch(/40000 #+ 40007/);
  });

  it('from events: 6 connections through a 4-port range, 2 dropped with 167', () => {
    const acc = new EventAccumulator({ input: 'ex.jsonl', natPortMin: 40000, natPortMax: 40003 });
    for (const ev of exhaustionEvents(6, 4)) acc.add(ev);
    const snap = acc.snapshot();
    const usage = snap.egressIps.find((u) => u.egressIp === EGRESS_IP)!.remotes[0]!;
    // As the dataplane counts them: the two failed attempts are allocations whose every
    // candidate collided.
    expect(usage).toMatchObject({ inUse: 4, rangeSize: 4, allocations: 6, collisions: 5, failures: 2 });
    expect(usage.retries.slice(0, 4)).toEqual([1, 1, 1, 1]);
    expect(snap.drops).toEqual([
      { code: 167, text: 'No mapping for NAT masquerade', name: 'NO_MAPPING_FOR_NAT_MASQUERADE', count: 2, lastFlow: '10.0.1.15:50000 -> 172.18.0.7:80 TCP' },
    ]);
    expect(snap.portStrips[0]!.ports).toEqual([40000, 40001, 40002, 40003]);
    const { d } = show(snap);
    const text = d.screenText();
    expect(text).toMatch(/in use \[\|+\] 4\/4 100%/);
    expect(text).toMatch(/167\s+2 No mapping for NAT masquerade/);
  });
});

describe('dashboard safety', () => {
  const hostile = '\x1b]0;PWNED\x07evil\x1b[31m{bold}red\x9b2J';

  it('escape sequences in names, comments and payload text render inert', () => {
    const snap = labAfterPolicy();
    snap.policies[0]!.policy = hostile;
    snap.conntrack[0]!.node = hostile;
    snap.events.push({ time: '2021-08-30T10:00:09.000000000Z', verdict: 'FORWARDED', text: `payload ${hostile}` });
    snap.input = `cap${hostile}.pcap`;
    const { d, term } = show(snap);
    const text = d.screenText();
    for (const bad of ['\x1b', '\x07', '\x9b']) expect(text).not.toContain(bad);
    expect(text).toContain('\\x1b]0;PWNED\\x07evil');
    expect(text).toContain('\\x1b[31m{bold}red'); // the tag braces are shown, not applied
    const written = term.written();
    expect(written).not.toContain('\x1b]0;PWNED');
    expect(written).not.toContain('PWNED\x07');
    expect(written).not.toContain('\x1b[31m{bold}');
    expect(written).not.toContain('\x9b');
  });

  it('a pod name with escapes, through accumulate.ts, is inert in the events pane and the journey', async () => {
    const acc = new EventAccumulator({ input: 'evil.jsonl' });
    for (const ev of labEvents({ podName: () => `pod\x1b[2J\x1b]0;PWNED\x07` })) acc.add(ev);
    const snap = acc.snapshot();
    const term = fakeTerminal(260, 60);
    const d = startDashboard({
      getSnapshot: () => snap,
      controls: { pause() {}, resume() {}, step() {}, faster() {}, slower() {}, quit() {}, journey: (id) => [...acc.journey(id), 'comment \x1b[2Jgone'] },
      input: term.input,
      output: term.output,
      terminal: 'xterm-256color',
      refreshMs: 60_000,
    });
    open.push(d);
    expect(d.screenText()).toContain('default/pod\\x1b[2J\\x1b]0;PWNED\\x07');
    await type(term, '\r');
    expect(d.screenText()).toContain('Journey');
    expect(d.screenText()).toContain('FROM_ENDPOINT');
    await type(term, 'G'); // the comment is the journey's last line
    const text = d.screenText();
    expect(text).toContain('comment \\x1b[2Jgone');
    expect(text).not.toContain('\x1b');
    expect(term.written()).not.toContain('PWNED\x07');
  });

  it('a terminal smaller than 80x24 gets a message, and the panes come back on resize', () => {
    const { d, term } = show(labAfterPolicy(), 60, 20);
    expect(d.screenText()).toContain('Terminal too small: 60x20');
    expect(d.screenText()).not.toContain('Conntrack');
    term.output.columns = 120;
    term.output.rows = 40;
    term.output.emit('resize');
    expect(d.screenText()).toContain('Conntrack');
    expect(d.screenText()).not.toContain('Terminal too small');
    expect(d.screenText().split('\n')[0]!.length).toBe(120);
  });
});

describe('dashboard keys', () => {
  it('space toggles pause/resume, n steps, +/- change speed, q quits', async () => {
    const snap = labAfterPolicy();
    const { d, term, calls } = show(snap);
    await type(term, ' ');
    expect(calls).toEqual(['pause']);
    expect(d.screenText()).toContain('PAUSED');
    await type(term, ' ');
    expect(calls).toEqual(['pause', 'resume']);
    expect(d.screenText()).toContain('RUNNING');
    await type(term, 'n');
    expect(calls).toEqual(['pause', 'resume', 'pause', 'step']);
    await type(term, 'n+-');
    expect(calls.slice(4)).toEqual(['step', 'faster', 'slower']);
    await type(term, 'q');
    expect(calls.at(-1)).toBe('quit');
  });

  it('/ filters the conntrack rows, esc clears the filter', async () => {
    const { d, term } = show(labAfterPolicy());
    expect(conntrackLines(d.screenText())).toHaveLength(3);
    await type(term, '/10.0.1.209');
    expect(d.screenText()).toContain('filter: /10.0.1.209_');
    await type(term, '\r');
    const rows = conntrackLines(d.screenText());
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain('10.0.1.209:41000');
    expect(d.screenText()).toContain('1/3 entries');
    await type(term, '\x1b');
    await new Promise((r) => setTimeout(r, 120)); // a lone ESC is recognised after a pause
    expect(conntrackLines(d.screenText())).toHaveLength(3);
  });

  it('s cycles the sort column, j moves the selection and enter opens that flow\'s journey', async () => {
    const snap = labAfterPolicy();
    snap.conntrack[2]!.lifetimeLeft = 5;
    const { d, term, calls } = show(snap);
    await type(term, 's');
    expect(d.screenText()).toContain('sort state');
    await type(term, 's');
    expect(d.screenText()).toContain('sort lifetime');
    // Sorted by lifetime the 10.0.2.14 flow (5 s left) comes first; j selects the next one.
    expect(conntrackLines(d.screenText())[0]).toContain('10.0.2.14');
    await type(term, 'j\r');
    expect(calls).toContain('journey flow-net-tshoot-5ngbc');
    expect(d.screenText()).toContain('journey of flow-net-tshoot-5ngbc');
    await type(term, '\r');
    expect(d.screenText()).not.toContain('journey of');
    await type(term, '?');
    expect(d.screenText()).toContain('step one packet');
  });

  it('a live snapshot holding only the most recent entries says so in the title', () => {
    const snap = labAfterPolicy();
    snap.conntrackTotal = 200;
    const { d } = show(snap);
    expect(d.screenText()).toContain('Conntrack (3 most recent of 200 entries, sort tuple)');
    snap.conntrackTotal = 3;
    d.render();
    expect(d.screenText()).toContain('Conntrack (3 entries, sort tuple)');
  });

  it('enter on a row whose flow has no events says how to get them, and asks for no journey', async () => {
    const snap = labAfterPolicy();
    for (const r of snap.conntrack) delete r.flowId;
    const { d, term, calls } = show(snap);
    await type(term, '\r');
    expect(d.screenText()).toContain('No events were recorded for this flow');
    expect(d.screenText()).toContain('pause (space) and step (n)');
    expect(calls.filter((c) => c.startsWith('journey'))).toEqual([]);
  });

  it('tab moves the focus; G and g scroll the events pane', async () => {
    const snap = labAfterPolicy();
    snap.events = Array.from({ length: 60 }, (_, i) => ({ time: `2021-08-30T10:00:${String(i).padStart(2, '0')}.000Z`, verdict: 'FORWARDED', text: `event number ${i}` }));
    const { d, term } = show(snap);
    expect(d.screenText()).toContain('event number 59'); // follows the tail
    await type(term, '\t\t\t\t'); // conntrack -> policies -> drops -> ports -> events
    await type(term, 'g');
    expect(d.screenText()).toContain('event number 0');
    expect(d.screenText()).not.toContain('event number 59');
    await type(term, 'G');
    expect(d.screenText()).toContain('event number 59');
  });
});
