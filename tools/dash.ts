/**
 * @module tools/dash
 * `egresslab dash --events FILE`: the terminal dashboard, offline, from a saved event log
 * (the JSON lines a replay writes). The events are replayed at the capture's pace times
 * --speed (or --topspeed) through dashboards/accumulate.ts, with the same keys as the live
 * dashboard of `egresslab replay --dash`.
 */
import { accessSync, constants } from 'node:fs';
import { inertLines } from '../traces/inert.ts';
import { UsageError } from '../traces/errors.ts';
import { EventAccumulator, type Profile } from '../dashboards/accumulate.ts';
import { startDashboard } from '../dashboards/dashboard.ts';
import { EventPlayer } from '../dashboards/player.ts';
import type { Subcommand } from './cli.ts';

const usage = `usage: egresslab dash --events FILE [--speed X | --topspeed] [--paused] [--profile 1.10|1.17] [--nat-range MIN-MAX]

Shows the dashboard (policy hits, conntrack, source ports, drops, events) for a saved event
log, replayed at the capture's pace.

options:
  --events FILE        flow events, one JSON object per line (as written by 'egresslab replay')
  --speed X            capture-time multiplier (default 1; 0.5 = half speed)
  --topspeed           ignore capture time, replay as fast as possible
  --paused             start paused (space resumes, n steps one packet)
  --profile P          datapath profile for conntrack lifetimes (default: from the events, else 1.17)
  --nat-range MIN-MAX  SNAT port range for the gauges (default 32768-65535)

keys: q quit, space pause/resume, n step, +/- speed, tab pane, / filter, s sort,
      j/k/g/G scroll, enter journey, ? help`;

interface DashArgs {
  events: string;
  speed: number;
  topSpeed: boolean;
  paused: boolean;
  profile: Profile | undefined;
  natMin: number;
  natMax: number;
}

function parseArgs(argv: string[]): DashArgs {
  const a: DashArgs = { events: '', speed: 1, topSpeed: false, paused: false, profile: undefined, natMin: 32768, natMax: 65535 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--events':
        a.events = value();
        break;
      case '--speed': {
        const v = value();
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--speed: '${v}' is not a positive number`);
        a.speed = n;
        break;
      }
      case '--topspeed':
        a.topSpeed = true;
        break;
      case '--paused':
        a.paused = true;
        break;
      case '--profile': {
        const v = value();
        if (v !== '1.10' && v !== '1.17') throw new UsageError(`--profile: '${v}' is not 1.10 or 1.17`);
        a.profile = v;
        break;
      }
      case '--nat-range': {
        const v = value();
        const m = /^(\d+)-(\d+)$/.exec(v);
        if (!m || Number(m[1]) < 1 || Number(m[2]) > 65535 || Number(m[1]) > Number(m[2])) {
          throw new UsageError(`--nat-range: '${v}' is not MIN-MAX within 1-65535`);
        }
        a.natMin = Number(m[1]);
        a.natMax = Number(m[2]);
        break;
      }
      default:
        throw new UsageError(`unknown option '${arg}'`);
    }
  }
  if (!a.events) throw new UsageError('--events FILE is required');
  return a;
}

const dash: Subcommand = {
  summary: 'terminal dashboard of a saved event log (policy hits, conntrack, source ports, drops)',
  usage,
  async run(argv: string[]): Promise<number> {
    const a = parseArgs(argv);
    try {
      accessSync(a.events, constants.R_OK);
    } catch (err) {
      throw new UsageError(`cannot read ${a.events}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    if (!process.stdout.isTTY) throw new UsageError('the dashboard needs a terminal (stdout is not a TTY)');
    const acc = new EventAccumulator({ input: a.events, profile: a.profile, natPortMin: a.natMin, natPortMax: a.natMax });
    const player = new EventPlayer({ file: a.events, accumulator: acc, speed: a.speed, topSpeed: a.topSpeed, paused: a.paused });
    return await new Promise<number>((resolve, reject) => {
      const ui = startDashboard({
        getSnapshot: () => player.snapshot(),
        controls: {
          pause: () => player.pause(),
          resume: () => player.resume(),
          step: () => player.step(),
          faster: () => player.faster(),
          slower: () => player.slower(),
          quit: () => {
            player.stop();
            // Lines that are not flow events were left out of the panes: said once the
            // terminal is back, as an input error.
            const bad = acc.badLines;
            if (bad > 0) {
              process.stderr.write(
                `egresslab dash: ${inertLines(a.events)}: ${bad} line${bad === 1 ? ' is' : 's are'} not flow events and ${bad === 1 ? 'was' : 'were'} skipped (the first at line ${player.firstBadLine})\n`,
              );
            }
            resolve(bad > 0 ? 2 : 0);
          },
          // Ctrl-C (a key in raw mode) ends the command as SIGINT would: 128 + 2.
          interrupt: () => {
            player.stop();
            resolve(130);
          },
          journey: (flowId) => acc.journey(flowId),
          speed: () => player.speedLabel(),
        },
      });
      player.run().then(
        () => ui.render(),
        (err: unknown) => {
          ui.stop();
          reject(err);
        },
      );
    });
  },
};

export default dash;
