import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { EventAccumulator } from '../../dashboards/accumulate.ts';
import { visibleConntrack } from '../../dashboards/conntrack.ts';
// Loading the dashboard makes blessed compile terminfo capabilities on first use.
import '../../dashboards/dashboard.ts';
import { computeLayout, DASHBOARD_GRID, validateGrid } from '../../dashboards/layout.ts';
import { portStrip, renderPorts, retriesHistogram } from '../../dashboards/ports.ts';
import { renderHeader } from '../../dashboards/header.ts';
import { cell, escapeTags, sanitize } from '../../dashboards/sanitize.ts';
import { ECHO, labAfterPolicy, labEvents, packetEvents, PODS } from './fixtures.ts';

describe('sanitize', () => {
  it('shows C0, DEL, C1 and bidi controls as visible escapes', () => {
    expect(sanitize('a\x1b[2Jb\x07c\x7fd\x9be\u202ef\n')).toBe('a\\x1b[2Jb\\x07c\\x7fd\\x9be\\u{202e}f\\x0a');
    expect(sanitize('plain 10.0.1.209:40000 ü')).toBe('plain 10.0.1.209:40000 ü');
    expect(sanitize('\u{1F600}')).toBe('\\u{1f600}');
  });
  it('escapes blessed tags after cutting, so a cut never splits {open}', () => {
    expect(escapeTags('{red-fg}x{/red-fg}')).toBe('{open}red-fg{close}x{open}/red-fg{close}');
    expect(cell('{bold}abcdef', 5)).toBe('{open}bol~');
  });
});

describe('layout', () => {
  it('tiles the screen exactly below the header', () => {
    const lay = computeLayout(DASHBOARD_GRID, 161, 47);
    if (!lay.fits) throw new Error('should fit');
    const area = Object.values(lay.panes).reduce((a, r) => a + r.width * r.height, 0);
    expect(area).toBe(161 * (47 - DASHBOARD_GRID.headerHeight));
  });
  it('fails fast on overlapping panes and refuses tiny terminals', () => {
    expect(() => validateGrid({ ...DASHBOARD_GRID, panes: [...DASHBOARD_GRID.panes, { name: 'x', row: 0, col: 0, rowSpan: 1, colSpan: 1 }] })).toThrow(/overlap/);
    expect(() => validateGrid({ ...DASHBOARD_GRID, panes: [{ name: 'x', row: 11, col: 0, rowSpan: 2, colSpan: 1 }] })).toThrow(/leaves/);
    expect(computeLayout(DASHBOARD_GRID, 79, 24)).toMatchObject({ fits: false });
  });
});

describe('ports widgets', () => {
  it('the strip buckets the port space into the width', () => {
    expect(portStrip({ egressIp: 'x', remote: 'y', min: 0, max: 9, ports: [0, 1, 5] }, 5)).toBe('#.:..');
    expect(portStrip({ egressIp: 'x', remote: 'y', min: 40000, max: 40003, ports: [40000, 40001, 40002, 40003] }, 80)).toBe('####');
  });
  it('the pane redraws a strip whose ports changed, also when the snapshot reuses the strip', () => {
    const s = labAfterPolicy();
    const strip = s.portStrips[0]!;
    const line = () => renderPorts(s, 60).body.find((l) => l.includes('{cyan-fg}') && l.includes(`${strip.min} `))!;
    const before = line();
    // The live replay hands the same strip objects to several redraws in a row.
    expect(line()).toBe(before);
    strip.ports.push(strip.max);
    const grown = line();
    expect(grown).not.toBe(before);
    s.portStrips = [{ ...strip, ports: [strip.min] }];
    expect(line()).not.toBe(grown);
  });
  it('the retries histogram labels the last bucket as "or more"', () => {
    expect(retriesHistogram([4, 0, 2])).toBe('retries 0:4█ 1:0 2+:2▄');
    // The dataplane's 33 buckets fold into 0..7 and 8+ (here 1 at 10 retries, 2 at 32+).
    const live = new Array<number>(33).fill(0);
    live[0] = 4;
    live[10] = 1;
    live[32] = 2;
    expect(retriesHistogram(live)).toBe('retries 0:4█ 1:0 2:0 3:0 4:0 5:0 6:0 7:0 8+:3▆');
  });
});

describe('conntrack view', () => {
  it('filters case-insensitively and sorts by the chosen column', () => {
    const rows = labAfterPolicy().conntrack;
    rows[0]!.lifetimeLeft = 100;
    expect(visibleConntrack(rows, { sort: 'tuple', filter: 'WORKER2' }).map((r) => r.nat)).toEqual(['172.18.0.3:42000']);
    expect(visibleConntrack(rows, { sort: 'lifetime', filter: '' })[0]!.nat).toBe('172.18.0.3:40000');
  });
});

describe('accumulate', () => {
  it('SYN-only flows use the SYN timeout, closing flows the close timeout, expiry and GC on the capture clock', () => {
    const acc = new EventAccumulator({ input: 'x', profile: '1.17', gcIntervalSec: 300 });
    const evs = labEvents({ start: 1000 });
    // Only the first packet (SYN) of flow-0.
    for (const e of evs.filter((e) => e.egresslab.input_index === 0)) acc.add(e);
    expect(acc.snapshot().conntrack[0]).toMatchObject({ state: 'SYN', lifetimeLeft: 60 });
    for (const e of evs.filter((e) => e.egresslab.flow_id === 'flow-0' && e.egresslab.input_index > 0)) acc.add(e);
    expect(acc.snapshot().conntrack[0]).toMatchObject({ state: 'ESTABLISHED', lifetimeLeft: 8000 });
    expect(acc.profile()).toBe('1.17'); // the option wins over the 1.10 map name in the events
  });
  it('a FIN one way makes the row CLOSING, as the live rows say; the close timeout needs both ways', () => {
    const acc = new EventAccumulator({ input: 'x', profile: '1.17', gcIntervalSec: 300 });
    const evs = labEvents({ start: 1000 });
    for (const e of evs.filter((e) => e.egresslab.flow_id === 'flow-0')) acc.add(e);
    const fin = packetEvents({
      flowId: 'flow-0', index: 99, sec: 1010, src: PODS[0]!.ip, dst: ECHO, sport: PODS[0]!.sport, dport: 80, flags: ['FIN', 'ACK'], reply: false,
      hops: [{ node: PODS[0]!.node, point: 'FROM_ENDPOINT', program: 'bpf_lxc:from-container', device: 'lxc' }],
    });
    for (const e of fin) acc.add(e);
    const row = acc.snapshot().conntrack.find((r) => r.flowId === 'flow-0')!;
    expect(row.state).toBe('CLOSING');
    // Half closed: still the established lifetime, not CT_CLOSE_TIMEOUT.
    expect(row.lifetimeLeft).toBe(8000);
  });
  it('1.10: after CT GC on the pod nodes the gateway\'s mappings stay, so their ports stay in use (as live); 1.17 frees them', () => {
    const inUse = (profile: '1.10' | '1.17') => {
      const acc = new EventAccumulator({ input: 'x', profile, gcIntervalSec: 300 });
      // A day between pods: every earlier flow's CT entry has expired and been collected.
      for (const e of labEvents({ start: 1000, spacing: 30_000 })) acc.add(e);
      const s = acc.snapshot();
      return { rows: s.conntrack.length, inUse: s.egressIps[0]!.remotes[0]!.inUse, strip: s.portStrips[0]!.ports };
    };
    const v110 = inUse('1.10');
    expect(v110.rows).toBe(1);
    // The control-plane pod's mapping was on its own node (collected with its CT entry); the
    // worker pods' are on the gateway: the last pod's, and the one before it still held.
    expect(v110.inUse).toBe(2);
    expect(v110.strip).toEqual([41000, 42000]);
    const v117 = inUse('1.17');
    expect(v117.rows).toBe(1);
    expect(v117.inUse).toBe(1);
  });
  it('counts lines that are not FlowEvents and keeps going', () => {
    const acc = new EventAccumulator({ input: 'x' });
    expect(acc.addLine('not json')).toBe(false);
    expect(acc.addLine('{"a":1}')).toBe(false);
    expect(acc.addLine('')).toBe(false);
    expect(acc.addLine(JSON.stringify(labEvents()[0]))).toBe(true);
    expect(acc.badLines).toBe(2);
  });
  it('the journey lists every hop with lookups and rewrites', () => {
    const acc = new EventAccumulator({ input: 'x' });
    for (const e of labEvents()) acc.add(e);
    const j = acc.journey('flow-1').join('\n');
    expect(j).toContain('flow flow-1: TCP 10.0.1.209:41000 -> 172.18.0.7:80 [SYN]');
    expect(j).toContain('lookup cilium_egress_v4 [10.0.1.209 -> 172.18.0.7]');
    expect(j).toContain('rewrite sport 41000 -> 41000');
    // The matched policy, once per packet (every hop of the packet carries it).
    expect(j.split('\n\n')[1]!.match(/^ +policy egress-all$/gm)).toHaveLength(1);
    // The shape `egresslab explain` prints (traces/journey.ts): hop line, then its verdict.
    expect(j).toMatch(/\d\. k8s-guide-control-plane {2}eth0 {2}bpf_host:to-netdev {2}TO_NETWORK\n(.*\n)*? +verdict TRANSLATED {2}now 172\.18\.0\.3:41000 .*\(source_xlated 172\.18\.0\.3, from 10\.0\.1\.209\)/);
  });
});

describe('terminal', () => {
  it('capabilities compiled on first use give the terminal\'s sequences, parameters included', () => {
    const Tput = createRequire(import.meta.url)('blessed/lib/tput') as new (o: { terminal: string }) => Record<string, (...a: number[]) => string>;
    const xterm = new Tput({ terminal: 'xterm' });
    expect(xterm.cup!(3, 4)).toBe('\x1b[4;5H');
    expect(xterm.cup!(10, 0)).toBe('\x1b[11;1H');
    expect(xterm.setaf!(1)).toBe('\x1b[31m');
    expect(xterm.sgr0!()).toBe('\x1b(B\x1b[m');
    expect(new Tput({ terminal: 'xterm-256color' }).setaf!(196)).toBe('\x1b[38;5;196m');
  });
});

describe('header at narrow widths', () => {
  it('drops whole fields, least useful first, and keeps packets, packets/s and the state', () => {
    const s = labAfterPolicy();
    s.input = '/captures/a-rather-long-capture-name.pcap';
    const st = { speed: 'top speed', filter: '', typing: undefined };
    const plain = (w: number) => renderHeader(s, w, st)[0]!.replace(/\{[^}]*\}/g, '');
    expect(plain(158)).toMatch(/^egresslab  .*capture-name\.pcap  datapath 1\.10  \[#+\.+\]  50%  2021-08-30T10:00:02\.000000000Z  pkts 18  9 pkt\/s  speed top speed  RUNNING$/);
    for (const w of [118, 98, 78, 60]) {
      const line = plain(w);
      expect(line.length).toBeLessThanOrEqual(w);
      expect(line).toMatch(/  pkts 18  9 pkt\/s  (speed top speed  )?RUNNING$/);
      // No field is cut: the clock is whole or absent.
      expect(line.includes('2021-') ? line.includes('2021-08-30T10:00:02.000000000Z') : true).toBe(true);
    }
    // A cut input name keeps its end, marked '...' ('~' in front of a path reads as $HOME).
    expect(plain(158)).toContain('egresslab  ...-long-capture-name.pcap  datapath');
    expect(plain(98)).toContain(' 50%');
    expect(plain(98)).not.toContain('[#');
    expect(plain(78)).not.toContain('datapath');
  });
});
