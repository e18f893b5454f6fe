/**
 * @module traces/diff
 * The semantic capture diff: `diffPaths(expected, actual, { dissect, ... })` returns a
 * `DiffReport`; `formatText` and `formatJson` print it. See engine.ts for the streaming
 * design, align.ts for matching, compare.ts for field comparison, canon-ports.ts for port
 * renaming.
 */
export type * from './types.ts';
export { diffCaptures, diffFolders, diffPaths, timeText, DEFAULT_MAX_REPORT, DEFAULT_WINDOW } from './engine.ts';
export { formatText, formatJson, safeText, type TextOptions } from './report.ts';
export { parseDuration, parseIgnoreList } from './options.ts';
export { PACKET_FIELDS } from './compare.ts';
