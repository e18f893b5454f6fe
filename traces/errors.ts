/**
 * @module traces/errors
 * The error family of egresslab. Per-packet problems are verdicts (drop codes), never
 * exceptions; these classes are for bad files, bad configuration and bad flags, and each
 * message says what failed and where (file, byte offset or line, field).
 */

export const EXIT_OK = 0;
export const EXIT_DIFFERENT = 1;
export const EXIT_USAGE = 2;

/** Base class. `exitCode` is what the CLI exits with when this error reaches it. */
export class EgresslabError extends Error {
  override name = 'EgresslabError';
  readonly exitCode: number = EXIT_USAGE;
  get isEgresslabError(): true {
    return true;
  }
}

/** Type guard that also works across module copies (vitest workers, tsx loaders). */
export function isEgresslabError(err: unknown): err is EgresslabError {
  return typeof err === 'object' && err !== null && (err as { isEgresslabError?: unknown }).isEgresslabError === true;
}

/** Bad command-line usage: unknown flag, missing argument, value out of range. */
export class UsageError extends EgresslabError {
  override name = 'UsageError';
}

/**
 * A capture file that cannot be read further. `offset` is the byte offset in the file of
 * the record or block that failed; every record before it has already been handed on.
 */
export class CaptureError extends EgresslabError {
  override name = 'CaptureError';
  readonly file: string;
  readonly offset: number;
  readonly reason: string;
  constructor(file: string, offset: number, reason: string, options?: ErrorOptions) {
    super(`${file}: byte offset ${offset}: ${reason}`, options);
    this.file = file;
    this.offset = offset;
    this.reason = reason;
  }
}

/** Bad configuration (topology or policy YAML): names the file, line and field. */
export class ConfigError extends EgresslabError {
  override name = 'ConfigError';
  readonly file: string;
  readonly line: number | undefined;
  readonly field: string | undefined;
  constructor(file: string, line: number | undefined, field: string | undefined, reason: string, options?: ErrorOptions) {
    const where = line !== undefined ? `${file}:${line}` : file;
    super(`${where}: ${field ? `${field}: ` : ''}${reason}`, options);
    this.file = file;
    this.line = line;
    this.field = field;
  }
}

/** An output file could not be written (disk full, permissions). */
export class OutputError extends EgresslabError {
  override name = 'OutputError';
}
