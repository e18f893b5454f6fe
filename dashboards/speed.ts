/**
 * @module dashboards/speed
 * The `+`/`-` speed steps and the speed label, shared by the live dashboard (`replay
 * --dash`) and the offline one (`dash --events`) so both show and step the same way.
 * A speed is a capture-time multiplier; `undefined` is top speed.
 */

/** Slowest paced speed `-` reaches. */
export const MIN_SPEED = 1 / 64;
/** Fastest paced speed `+` reaches (top speed is left only with `-`). */
export const MAX_SPEED = 1024;

/** `top speed`, `2x`, `0.5x`: decimals, as `--speed` takes them. */
export function speedLabel(x: number | undefined): string {
  if (x === undefined) return 'top speed';
  return x >= 1 ? `${+x.toFixed(2)}x` : `${+x.toPrecision(3)}x`;
}

/**
 * `+`: twice as fast, up to MAX_SPEED; top speed stays top speed. A speed already past the
 * cap (given with `--speed`) stays: `+` never slows down.
 */
export function fasterSpeed(x: number | undefined): number | undefined {
  return x === undefined || x >= MAX_SPEED ? x : Math.min(MAX_SPEED, x * 2);
}

/**
 * `-`: half as fast, down to MIN_SPEED; from top speed, paced at `paced` (1x unless given).
 * A speed already under the floor stays: `-` never speeds up.
 */
export function slowerSpeed(x: number | undefined, paced = 1): number {
  if (x === undefined) return clampSpeed(paced);
  return x <= MIN_SPEED ? x : Math.max(MIN_SPEED, x / 2);
}

function clampSpeed(x: number): number {
  return Math.min(MAX_SPEED, Math.max(MIN_SPEED, x));
}
