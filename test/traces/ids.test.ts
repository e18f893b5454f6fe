import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { IdGenerator } from '../../traces/ids.ts';

const require = createRequire(import.meta.url);
const hyperid = require('hyperid') as { decode(id: string): { uuid: string; count: number } };

describe('IdGenerator', () => {
  it('makes ids that hyperid.decode reads back, with a sequential count', () => {
    const gen = new IdGenerator([0x01234567, 0x89abcdef, 0xdeadbeef, 0x0badf00d]);
    const a = gen.next();
    const b = gen.next();
    expect(hyperid.decode(a)).toEqual({ uuid: '01234567-89ab-4def-9ead-beef0badf00d', count: 0 });
    expect(hyperid.decode(b).count).toBe(1);
  });

  it('is a function of the seed words only', () => {
    const x = new IdGenerator([1, 2, 3, 4]);
    const y = new IdGenerator([1, 2, 3, 4]);
    const z = new IdGenerator([1, 2, 3, 5]);
    expect(x.next()).toBe(y.next());
    expect(new IdGenerator([1, 2, 3, 4]).next()).not.toBe(z.next());
  });
});
