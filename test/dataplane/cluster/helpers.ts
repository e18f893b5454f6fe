import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { ConfigError } from '../../../traces/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'egresslab-cluster-'));
// Registered in the importing test file's root suite: the folder goes when that file is done.
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** Writes `text` to a fresh temp file and returns its path. */
export function tempYaml(text: string): string {
  const f = join(dir, `f${n++}.yaml`);
  writeFileSync(f, text);
  return f;
}

/** Runs `fn`, expects a ConfigError naming `file`, `line` and `field`, returns it. */
export function expectConfigError(fn: () => unknown, file: string, line: number, field: string, reason?: RegExp): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const err = caught as ConfigError;
  expect({ file: err.file, line: err.line, field: err.field }).toEqual({ file, line, field });
  expect(err.message.startsWith(`${file}:${line}: ${field}: `)).toBe(true);
  if (reason) expect(err.message).toMatch(reason);
  return err;
}
