/**
 * Golden scenario helper (snabb lwAFTR style): a scenario folder holds the inputs and the
 * expected outputs; a scenario passes only if every capture and summary.json match.
 *
 *   test/golden/<scenario>/scenario.json   inputs, see ScenarioSpec
 *   test/golden/<scenario>/input.pcap      the client-side capture
 *   test/golden/<scenario>/topology.yaml   optional; policies optional too
 *   test/golden/<scenario>/expected/       what `npm run golden:update` wrote last
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dissect } from '../../dataplane/packet/dissect.ts';
import { diffFolders, formatText, type DiffOptions, type DiffReport } from '../../traces/diff/index.ts';
import { runReplay, type ReplayOptions } from '../../tools/replay-core.ts';

export interface ScenarioSpec {
  /** The capture file, relative to the scenario folder. */
  input: string;
  /**
   * How `npm run golden:update` regenerates the input (egresslab synth options); absent for
   * a recorded capture, which is then kept as it is.
   */
  synth?: { scenario: 'lab' | 'collisions' | 'exhaustion' | 'mix'; seed?: number; pods?: number; port?: number; extra?: number; range?: { min: number; max: number }; packets?: number; flows?: number };
  topology?: string;
  policies?: string[];
  datapath?: '1.10' | '1.17';
  seed: number;
  allocator?: string;
  format?: 'pcapng' | 'pcap';
  /** Extra diff settings for this scenario (e.g. canonPorts for allocator-independent checks). */
  diff?: { ignore?: string[]; canonPorts?: boolean; tsTolerance?: number };
}


/**
 * Fields that name where the run happened rather than what it did: the input path differs
 * between the machine that wrote the golden files and the one that checks them.
 */
export const GOLDEN_IGNORE = ['summary.input'];

/** Diffs two output folders with the golden defaults; `report.same` says whether they match. */
export function diffOutputs(expectedDir: string, actualDir: string, o: Partial<Omit<DiffOptions, 'dissect'>> = {}): { report: DiffReport; text: string } {
  const report = diffFolders(expectedDir, actualDir, { dissect, maxReport: 200, ...o, ignore: [...GOLDEN_IGNORE, ...(o.ignore ?? [])] });
  return { report, text: formatText(report) };
}

/** Throws an Error carrying the whole text report when the folders differ. */
export function expectOutputsMatch(expectedDir: string, actualDir: string, o: Partial<Omit<DiffOptions, 'dissect'>> = {}): void {
  const { report, text } = diffOutputs(expectedDir, actualDir, o);
  if (!report.same) throw new Error(`replay output differs from ${expectedDir}:\n${text}`);
}

export function readScenario(dir: string): ScenarioSpec {
  const file = path.join(dir, 'scenario.json');
  const spec = JSON.parse(fs.readFileSync(file, 'utf8')) as ScenarioSpec;
  if (typeof spec.seed !== 'number') throw new Error(`${file}: seed: a number is required`);
  return spec;
}

/** The replay options of a scenario folder, output going to `outDir`. */
export function replayOptionsFor(dir: string, spec: ScenarioSpec, outDir: string): ReplayOptions & { outDir: string } {
  const o: ReplayOptions & { outDir: string } = {
    input: path.join(dir, spec.input),
    seed: spec.seed,
    outDir,
  };
  if (spec.topology !== undefined) o.topology = path.join(dir, spec.topology);
  if (spec.policies !== undefined) o.policies = spec.policies.map((p) => path.join(dir, p));
  if (spec.datapath !== undefined) o.datapath = spec.datapath;
  if (spec.format !== undefined) o.format = spec.format;
  if (spec.allocator !== undefined) o.allocator = spec.allocator;
  return o;
}

/**
 * Replays the scenario in `dir` into a temporary folder and diffs `dir/expected/` against
 * it; fails with the full diff report when they differ. The temporary folder is removed
 * when they match and kept (its path is in the message) when they do not.
 */
export async function expectReplayMatches(dir: string): Promise<void> {
  const spec = readScenario(dir);
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), `egresslab-golden-${path.basename(dir)}-`));
  const { exitCode } = await runReplay({ ...replayOptionsFor(dir, spec, outDir), progress: false });
  if (exitCode !== 0) throw new Error(`replay of ${dir} exited ${exitCode} (output kept in ${outDir})`);
  const o: Partial<Omit<DiffOptions, 'dissect'>> = {};
  if (spec.diff?.ignore) o.ignore = spec.diff.ignore;
  if (spec.diff?.canonPorts) o.canonPorts = true;
  if (spec.diff?.tsTolerance !== undefined) o.tsToleranceNs = spec.diff.tsTolerance;
  const { report, text } = diffOutputs(path.join(dir, 'expected'), outDir, o);
  if (!report.same) throw new Error(`golden scenario ${path.basename(dir)} differs (actual output kept in ${outDir}):\n${text}`);
  fs.rmSync(outDir, { recursive: true, force: true });
}
