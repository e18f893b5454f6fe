/**
 * @module tools/replay-flags
 * The flags `replay` and `explain` share (what to replay and with which model), parsed once.
 */
import { UsageError } from '../traces/errors.ts';
import { intFlag, oneOf } from './args.ts';
import type { ReplayOptions } from './replay-core.ts';

export const SCENARIO_FLAGS = {
  topology: { type: 'string' },
  policy: { type: 'string', multiple: true },
  datapath: { type: 'string' },
  seed: { type: 'string' },
  allocator: { type: 'string' },
  'gc-interval': { type: 'string' },
} as const;

export const SCENARIO_USAGE = `  --topology FILE     topology YAML                      (default: the built-in k8s-guide lab)
  --policy FILE       egress policy YAML, repeatable     (default: none, the lab's "before")
  --datapath V        1.10 | 1.17                        (default: from the policy kind; 1.10 without)
  --seed N            seed of every random choice        (default 1)
  --allocator A       cilium (the profile's) | cilium-1.10 | cilium-1.17 | linux |
                      linux-random-fully                 (default cilium)
  --gc-interval S     conntrack GC every S seconds of capture time (default 300)`;

export const ALLOCATORS = ['cilium', 'cilium-1.10', 'cilium-1.17', 'linux', 'linux-random-fully'] as const;

export function scenarioOptions(v: {
  topology?: string;
  policy?: string[];
  datapath?: string;
  seed?: string;
  allocator?: string;
  'gc-interval'?: string;
}): Pick<ReplayOptions, 'topology' | 'policies' | 'datapath' | 'seed' | 'allocator' | 'gcInterval'> {
  const datapath = v.datapath === undefined ? undefined : oneOf('datapath', v.datapath, ['1.10', '1.17'] as const, '1.10');
  const gc = v['gc-interval'];
  if (gc !== undefined && !(Number(gc) > 0)) throw new UsageError(`--gc-interval takes a positive number of seconds, got '${gc}'`);
  return {
    topology: v.topology,
    policies: v.policy ?? [],
    datapath,
    seed: intFlag('seed', v.seed, 1, 0, 0xffffffff),
    allocator: oneOf('allocator', v.allocator, ALLOCATORS, 'cilium'),
    gcInterval: gc === undefined ? undefined : Number(gc),
  };
}
