/**
 * @module tools/args
 * Flag parsing shared by the subcommands: node's util.parseArgs in strict mode, with every
 * failure turned into a UsageError that names the flag.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../traces/errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseFlags<O extends Options>(argv: string[], options: O, allowPositionals = true) {
  // `--speed -1`: parseArgs takes -1 for an option and answers "ambiguous"; joined as
  // `--speed=-1`, the value reaches the flag's own check, whose message says what it takes.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') ? a.slice(2) : undefined;
    const next = argv[i + 1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else args.push(a);
  }
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw flagError(err);
  }
}

/**
 * A parseArgs failure as a UsageError. Node's advice on positionals that start with '-' is
 * cut: no subcommand takes such a positional (a capture from stdin is '-' alone).
 */
export function flagError(err: unknown): UsageError {
  const msg = err instanceof Error ? err.message : String(err);
  return new UsageError(msg.replace(/\. To specify a positional argument starting with a '-'.*$/s, ''));
}

/** A whole number flag within [min, max]. */
export function intFlag(name: string, value: string | undefined, dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return dflt;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} takes a whole number, got '${value}'`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** A positive number flag (decimals allowed), e.g. --speed 0.5. */
export function numberFlag(name: string, value: string | undefined, dflt: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} takes a positive number, got '${value}'`);
  return n;
}

export function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[], dflt: T): T {
  if (value === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}
