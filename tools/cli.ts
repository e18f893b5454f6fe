/**
 * @module tools/cli
 * The `egresslab` command: one file per subcommand, dispatched by name.
 */
import { EXIT_USAGE, UsageError, isEgresslabError } from '../traces/errors.ts';
import { inertLines } from '../traces/inert.ts';

export interface Subcommand {
  /** One line for `egresslab --help`. */
  summary: string;
  /** Full usage text for `egresslab <name> --help`. */
  usage: string;
  /** Runs the subcommand; resolves to the process exit code (0 ok, 1 difference/failure, 2 usage/input). */
  run(argv: string[]): Promise<number>;
}

type Loader = () => Promise<Subcommand>;

// Lazy so `egresslab info` does not pay for blessed or the dataplane.
const SUBCOMMANDS: Record<string, Loader> = {
  info: async () => (await import('./info.ts')).default,
  replay: async () => (await import('./replay.ts')).default,
  synth: async () => (await import('./synth.ts')).default,
  maps: async () => (await import('./maps.ts')).default,
  explain: async () => (await import('./explain.ts')).default,
  diff: async () => (await import('./diff.ts')).default,
  dash: async () => (await import('./dash.ts')).default,
  snat: async () => (await import('./snat.ts')).default,
  lab: async () => (await import('./lab.ts')).default,
};

async function helpText(): Promise<string> {
  const lines = ['usage: egresslab <command> [options]', '', 'commands:'];
  for (const [name, load] of Object.entries(SUBCOMMANDS)) {
    let summary = '';
    try {
      summary = (await load()).summary;
    } catch {
      summary = '(not available in this build)';
    }
    lines.push(`  ${name.padEnd(9)} ${summary}`);
  }
  lines.push('', "Run 'egresslab <command> --help' for a command's options.");
  lines.push('Exit codes: 0 ok, 1 difference or failure found, 2 usage or input error.');
  return lines.join('\n');
}

/** A Node system error (ENOENT, EACCES, EPIPE...): a problem of the environment, not a bug of ours. */
function systemError(err: unknown): (Error & { code: string; syscall?: string }) | undefined {
  if (err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && typeof (err as { syscall?: unknown }).syscall === 'string') {
    return err as Error & { code: string; syscall: string };
  }
  return undefined;
}

let pipeGuard = false;
/** `egresslab ... | head`: the reader went away; stop quietly, as other CLI tools do, instead of a stack trace. */
function guardPipes(): void {
  if (pipeGuard) return;
  pipeGuard = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
      throw err;
    });
  }
}

export async function main(argv: string[]): Promise<number> {
  guardPipes();
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    // No command at all is a usage error: the help goes to stderr with exit 2, so
    // `egresslab > out` never leaves help text in out. Asking for help is stdout, exit 0.
    if (name === undefined) {
      process.stderr.write((await helpText()) + '\n');
      return EXIT_USAGE;
    }
    process.stdout.write((await helpText()) + '\n');
    return 0;
  }
  const load = SUBCOMMANDS[name];
  if (!load) {
    process.stderr.write(`egresslab: unknown command '${inertLines(name)}'\n${await helpText()}\n`);
    return EXIT_USAGE;
  }
  const cmd = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(cmd.usage + '\n');
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      // Messages quote file names, flag values and YAML values: printed inert.
      process.stderr.write(`egresslab ${name}: ${inertLines(err.message)}\n${cmd.usage}\n`);
      return EXIT_USAGE;
    }
    if (isEgresslabError(err)) {
      process.stderr.write(`egresslab ${name}: ${inertLines(err.message)}\n`);
      return err.exitCode;
    }
    const sys = systemError(err);
    if (sys) {
      if (sys.code === 'EPIPE') return 0;
      process.stderr.write(`egresslab ${name}: ${inertLines(sys.message)}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}
