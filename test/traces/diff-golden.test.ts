import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { diffOutputs, expectOutputsMatch, replayOptionsFor } from '../golden/helpers.ts';
import { gatewayFrames, podFrames, tmpDir, writeCapture } from './diff-fixtures.ts';

function outFolder(root: string, name: string, ports: number[], dropped: number, input = '/ci/a/input.pcap'): string {
  const d = path.join(root, name);
  fs.mkdirSync(d, { recursive: true });
  writeCapture(path.join(d, 'kind-worker.pcapng'), gatewayFrames(ports), { format: 'pcapng', ifName: 'eth0' });
  writeCapture(path.join(d, 'kind-control-plane.pcapng'), podFrames(9), { format: 'pcapng', ifName: 'lxc0123456789a' });
  const summary = { tool: 'egresslab', input, seed: 1, conservation: { input: 9, dropped }, outputs: ['kind-worker.pcapng', 'kind-control-plane.pcapng'] };
  fs.writeFileSync(path.join(d, 'summary.json'), JSON.stringify(summary, null, 2));
  return d;
}

describe('golden helper: the diff and report part', () => {
  const root = tmpDir('golden');
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('passes matching folders, whatever the input path recorded in summary.json', () => {
    const e = outFolder(root, 'e1', [40000, 40001], 0);
    const a = outFolder(root, 'a1', [40000, 40001], 0, '/tmp/elsewhere/input.pcap');
    expect(() => expectOutputsMatch(e, a)).not.toThrow();
  });

  it('fails with the full text report: packet, field, summary path', () => {
    const e = outFolder(root, 'e2', [40000, 40001], 0);
    const a = outFolder(root, 'a2', [40000, 40009], 2);
    let msg = '';
    try {
      expectOutputsMatch(e, a);
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toContain('replay output differs');
    expect(msg).toContain('kind-worker.pcapng:eth0');
    expect(msg).toContain('tcp.sport: 40001 -> 40009');
    expect(msg).toContain('summary.conservation.dropped: 0 -> 2');
    // With canon-ports only the counters remain.
    const { report } = diffOutputs(e, a, { canonPorts: true });
    expect(report.packets).toEqual([]);
    expect(report.summaryJson.map((d) => d.path)).toEqual(['summary.conservation.dropped']);
  });

  it('maps scenario.json to replay options relative to the scenario folder', () => {
    const o = replayOptionsFor('/g/lab-1.17', { input: 'input.pcap', topology: 'topology.yaml', policies: ['p.yaml'], datapath: '1.17', seed: 7 }, '/tmp/o');
    expect(o).toEqual({ input: '/g/lab-1.17/input.pcap', topology: '/g/lab-1.17/topology.yaml', policies: ['/g/lab-1.17/p.yaml'], datapath: '1.17', seed: 7, outDir: '/tmp/o' });
  });
});
