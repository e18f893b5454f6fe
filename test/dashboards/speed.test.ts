/**
 * dashboards/speed: `+`/`-` and the speed label, the same live (`replay --dash`) and offline
 * (`dash --events`). Offline once said `1/2x` where live said `0.5x`, and live `-` from top
 * speed went to 500000x.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventAccumulator } from '../../dashboards/accumulate.ts';
import { EventPlayer } from '../../dashboards/player.ts';
import { fasterSpeed, MAX_SPEED, MIN_SPEED, slowerSpeed, speedLabel } from '../../dashboards/speed.ts';

const dir = mkdtempSync(join(tmpdir(), 'egresslab-speed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('speed steps and label', () => {
  it('labels in decimals, as --speed takes them', () => {
    expect([undefined, 1, 2, 1024, 0.5, 0.25, 1 / 64, 0.3, 1.5].map(speedLabel)).toEqual([
      'top speed', '1x', '2x', '1024x', '0.5x', '0.25x', '0.0156x', '0.3x', '1.5x',
    ]);
  });

  it('+ doubles up to the cap and leaves top speed alone; - halves down to the floor, and from top speed paces at 1x', () => {
    expect(fasterSpeed(undefined)).toBeUndefined();
    expect(fasterSpeed(4)).toBe(8);
    expect(fasterSpeed(MAX_SPEED)).toBe(MAX_SPEED);
    expect(slowerSpeed(undefined)).toBe(1);
    expect(slowerSpeed(undefined, 0.25)).toBe(0.25);
    expect(slowerSpeed(1)).toBe(0.5);
    expect(slowerSpeed(MIN_SPEED)).toBe(MIN_SPEED);
    // --speed may start outside the steps' range: a step never goes the wrong way.
    expect(slowerSpeed(0.001)).toBe(0.001);
    expect(fasterSpeed(5000)).toBe(5000);
    expect(fasterSpeed(0.001)).toBe(0.002);
    expect(slowerSpeed(5000)).toBe(2500);
  });

  it('the offline player steps and labels the same way', () => {
    const file = join(dir, 'empty.jsonl');
    writeFileSync(file, '');
    const p = new EventPlayer({ file, accumulator: new EventAccumulator({ input: file }), topSpeed: true });
    expect(p.speedLabel()).toBe('top speed');
    p.slower();
    expect(p.speedLabel()).toBe('1x');
    p.slower();
    expect(p.speedLabel()).toBe('0.5x');
    p.faster();
    p.faster();
    expect(p.speedLabel()).toBe('2x');
    p.stop();
  });
});
