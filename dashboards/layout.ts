/**
 * @module dashboards/layout
 * The screen as a grid, after blessed-contrib's `lib/layout/grid.js`: a fixed-height header
 * on top, and below it a rows × cols grid where each pane takes (row, col, rowSpan,
 * colSpan). Cell edges are computed as floor(i × size / n), so the panes tile the screen
 * exactly at any terminal size; a layout that overlaps or leaves the grid fails fast.
 */

export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface GridPlacement {
  name: string;
  row: number;
  col: number;
  rowSpan: number;
  colSpan: number;
}

export interface GridSpec {
  rows: number;
  cols: number;
  /** Lines taken by the header above the grid. */
  headerHeight: number;
  /** Smallest terminal the layout works in; below it the dashboard shows a message. */
  minCols: number;
  minRows: number;
  panes: GridPlacement[];
}

/** The dashboard's layout: header; policies | drops; conntrack; ports | events. */
export const DASHBOARD_GRID: GridSpec = {
  rows: 12,
  cols: 12,
  headerHeight: 4,
  minCols: 80,
  minRows: 24,
  panes: [
    { name: 'policies', row: 0, col: 0, rowSpan: 3, colSpan: 8 },
    { name: 'drops', row: 0, col: 8, rowSpan: 3, colSpan: 4 },
    { name: 'conntrack', row: 3, col: 0, rowSpan: 4, colSpan: 12 },
    { name: 'ports', row: 7, col: 0, rowSpan: 5, colSpan: 6 },
    { name: 'events', row: 7, col: 6, rowSpan: 5, colSpan: 6 },
  ],
};

/** Checks a grid spec: inside the grid, positive spans, no two panes on one cell. */
export function validateGrid(spec: GridSpec): void {
  if (spec.rows < 1 || spec.cols < 1) throw new Error(`layout: grid must have at least 1 row and 1 column (got ${spec.rows}x${spec.cols})`);
  const taken = new Map<number, string>();
  for (const p of spec.panes) {
    if (p.rowSpan < 1 || p.colSpan < 1) throw new Error(`layout: pane '${p.name}' has an empty span`);
    if (p.row < 0 || p.col < 0 || p.row + p.rowSpan > spec.rows || p.col + p.colSpan > spec.cols) {
      throw new Error(`layout: pane '${p.name}' (${p.row},${p.col} span ${p.rowSpan}x${p.colSpan}) leaves the ${spec.rows}x${spec.cols} grid`);
    }
    for (let r = p.row; r < p.row + p.rowSpan; r++) {
      for (let c = p.col; c < p.col + p.colSpan; c++) {
        const other = taken.get(r * spec.cols + c);
        if (other !== undefined) throw new Error(`layout: panes '${other}' and '${p.name}' overlap at cell ${r},${c}`);
        taken.set(r * spec.cols + c, p.name);
      }
    }
  }
}

export type LayoutResult =
  | { fits: true; header: Rect; panes: Record<string, Rect> }
  | { fits: false; message: string };

/**
 * Places the header and panes for a terminal of `width` × `height`.
 * @returns the rectangles, or `fits: false` with a message when the terminal is too small
 */
export function computeLayout(spec: GridSpec, width: number, height: number): LayoutResult {
  validateGrid(spec);
  if (width < spec.minCols || height < spec.minRows) {
    return {
      fits: false,
      message: `Terminal too small: ${width}x${height}, the dashboard needs at least ${spec.minCols}x${spec.minRows}. Enlarge the window, or press q to quit.`,
    };
  }
  const gridTop = spec.headerHeight;
  const gridHeight = height - gridTop;
  const rowEdge = (i: number): number => gridTop + Math.floor((i * gridHeight) / spec.rows);
  const colEdge = (i: number): number => Math.floor((i * width) / spec.cols);
  const panes: Record<string, Rect> = {};
  for (const p of spec.panes) {
    const top = rowEdge(p.row);
    const left = colEdge(p.col);
    panes[p.name] = { left, top, width: colEdge(p.col + p.colSpan) - left, height: rowEdge(p.row + p.rowSpan) - top };
  }
  return { fits: true, header: { left: 0, top: 0, width, height: spec.headerHeight }, panes };
}
