/**
 * @module dashboards/dashboard
 * The blessed application: places the panes on the grid (layout.ts), asks for a
 * StatsSnapshot at most every `refreshMs` (never touching dataplane state), renders each
 * pane as tagged text into a plain blessed box, and turns keys into DashboardControls
 * calls. Used live by `egresslab replay --dash` and offline by `egresslab dash --events`.
 *
 * Every string from the snapshot is sanitized by the pane renderers (sanitize.ts) before it
 * reaches blessed; titles and overlay text are sanitized here.
 */
import { createRequire } from 'node:module';
import type blessed from 'blessed';
import type { StatsSnapshot } from '../traces/stats.ts';
import { renderConntrack, visibleConntrack, SORT_KEYS, type ConntrackView } from './conntrack.ts';
import { renderDrops } from './drops.ts';
import { renderEvents } from './events.ts';
import type { PaneContent } from './format.ts';
import { renderHeader } from './header.ts';
import { helpLines } from './help.ts';
import { computeLayout, DASHBOARD_GRID, type LayoutResult, type Rect } from './layout.ts';
import { renderPolicies } from './policies.ts';
import { renderPorts } from './ports.ts';
import { fit, safe, sanitize } from './sanitize.ts';

// Only the two widgets the dashboard uses: blessed's index also loads its 32 others (file
// manager, images, video, a terminal emulator...), a quarter of the dashboard's load time,
// which a live replay pays on its own thread.
const requireCjs = createRequire(import.meta.url);
const newScreen = requireCjs('blessed/lib/widgets/screen') as typeof blessed.screen;
const newBox = requireCjs('blessed/lib/widgets/box') as typeof blessed.box;

interface TputPrototype {
  _compile(this: unknown, info: unknown, key: string, str: unknown): unknown;
  _egresslabLazy?: boolean;
}

/**
 * blessed turns every string capability of the terminfo entry into a JavaScript function at
 * start-up, with `new Function` (261 of them for xterm); a dashboard calls a few dozen. Each
 * one is compiled on its first call instead, from the same arguments, so its output is the
 * same. Capabilities read from files at compile time (init/reset files) and empty ones keep
 * the eager path.
 */
function lazyTerminfo(): void {
  const proto = (requireCjs('blessed/lib/tput') as { prototype: TputPrototype }).prototype;
  if (proto._egresslabLazy) return;
  proto._egresslabLazy = true;
  const compile = proto._compile;
  proto._compile = function (this: unknown, info: unknown, key: string, str: unknown): unknown {
    if (typeof str !== 'string' || str === '' || key === 'init_file' || key === 'reset_file') return compile.call(this, info, key, str);
    let fn: ((this: unknown, params: unknown) => unknown) | undefined;
    const tput = this;
    return function (this: unknown, params: unknown): unknown {
      fn ??= compile.call(tput, info, key, str) as (this: unknown, params: unknown) => unknown;
      return fn.call(this, params);
    };
  };
}
lazyTerminfo();

export interface DashboardControls {
  pause(): void;
  resume(): void;
  /** Replays one packet (the dashboard pauses first). */
  step(): void;
  faster(): void;
  slower(): void;
  /** Called after the dashboard has closed itself on `q`. */
  quit(): void;
  /**
   * Called after the dashboard has closed itself on Ctrl-C, which raw mode delivers as a key,
   * not a signal: the command ends as SIGINT would (exit 130). Default: quit().
   */
  interrupt?(): void;
  /**
   * Journey of one flow for the enter key: lines as `egresslab explain` prints them. A
   * dashboard on its own thread (thread.ts) gets them from the replay's thread, so later.
   */
  journey(flowId: string): string[] | Promise<string[]>;
  /** Optional: the current pace for the header, e.g. `2x` or `top speed`. */
  speed?(): string;
}

export interface DashboardOptions {
  getSnapshot(): StatsSnapshot;
  controls: DashboardControls;
  /** @default process.stdin */
  input?: NodeJS.ReadableStream;
  /** @default process.stdout */
  output?: NodeJS.WritableStream;
  /** terminfo name; @default $TERM */
  terminal?: string;
  /** At most one snapshot per this many ms. @default 100 */
  refreshMs?: number;
  /** Terminal size for outputs that do not report one (pipes, tests). */
  cols?: number;
  rows?: number;
}

export interface DashboardHandle {
  /** Takes a snapshot and redraws now. */
  render(): void;
  /** Closes the screen and restores the terminal; safe to call twice. */
  stop(): void;
  /** The current screen as plain text, one line per row, trailing spaces trimmed (for tests). */
  screenText(): string;
}

function unicodeLocale(): boolean {
  const env = process.env;
  return /utf-?8/i.test(env['LC_ALL'] || env['LC_CTYPE'] || env['LANG'] || '') || !!env['TMUX'];
}

type PaneName = 'policies' | 'drops' | 'conntrack' | 'ports' | 'events';
const FOCUS_ORDER: readonly PaneName[] = ['conntrack', 'policies', 'drops', 'ports', 'events'];

/** blessed's screen buffer is untyped: rows of [attr, ch] cells. */
type ScreenLines = ReadonlyArray<ReadonlyArray<readonly [number, string]>>;

interface KeyInfo {
  name?: string;
  full?: string;
  shift?: boolean;
  ctrl?: boolean;
}

interface PaneState {
  scroll: number;
  /** Stick to the bottom (events). */
  follow: boolean;
}

/**
 * Starts the dashboard on a terminal (or the given streams).
 * @example
 * const d = startDashboard({ getSnapshot: () => acc.snapshot(), controls });
 * // later
 * d.stop();
 */
export function startDashboard(o: DashboardOptions): DashboardHandle {
  const output = o.output ?? process.stdout;
  const input = o.input ?? process.stdin;
  const sized = output as NodeJS.WritableStream & { columns?: number; rows?: number };
  if (o.cols !== undefined && !sized.columns) sized.columns = o.cols;
  if (o.rows !== undefined && !sized.rows) sized.rows = o.rows;

  const screen = newScreen({
    // @types/blessed has input and output the wrong way round (Writable / Readable).
    input: input as unknown as blessed.Widgets.IScreenOptions['input'],
    output: output as unknown as blessed.Widgets.IScreenOptions['output'],
    terminal: o.terminal ?? process.env['TERM'] ?? 'xterm',
    smartCSR: true,
    fullUnicode: false,
    autoPadding: false,
    warnings: false,
    forceUnicode: unicodeLocale(),
  });
  // Line-drawing borders as Unicode rather than the VT100 alternate charset, which
  // `tmux capture-pane` and copy/paste turn into letters (lqqk).
  if (unicodeLocale()) (screen as unknown as { tput: { brokenACS: boolean } }).tput.brokenACS = true;

  const boxOpts = (label: string): blessed.Widgets.BoxOptions => ({
    parent: screen,
    tags: true,
    wrap: false,
    border: { type: 'line' },
    label: ` ${label} `,
    style: { border: { fg: 'gray' }, label: { fg: 'white' } },
  });
  const header = newBox({ parent: screen, tags: true, wrap: false, border: { type: 'line' }, style: { border: { fg: 'blue' } } });
  const panes: Record<PaneName, blessed.Widgets.BoxElement> = {
    policies: newBox(boxOpts('Policy hits')),
    drops: newBox(boxOpts('Drops')),
    conntrack: newBox(boxOpts('Conntrack')),
    ports: newBox(boxOpts('Source ports')),
    events: newBox(boxOpts('Events')),
  };
  const small = newBox({ parent: screen, tags: false, wrap: true, hidden: true, left: 0, top: 0, width: '100%', height: '100%' });
  const overlay = newBox({ parent: screen, tags: true, wrap: false, hidden: true, border: { type: 'line' }, style: { border: { fg: 'yellow' } } });

  const paneState: Record<PaneName, PaneState> = {
    policies: { scroll: 0, follow: false },
    drops: { scroll: 0, follow: false },
    conntrack: { scroll: 0, follow: false },
    ports: { scroll: 0, follow: false },
    events: { scroll: 0, follow: true },
  };
  const ct: ConntrackView = { sort: 'tuple', filter: '', selected: 0 };
  let focus: PaneName = 'conntrack';
  let typing: string | undefined;
  let overlayKind: 'help' | 'journey' | undefined;
  let overlayLines: string[] = [];
  let overlayScroll = 0;
  let journeyOf: string | undefined;
  let last: StatsSnapshot | undefined;
  let visibleFlows: (string | undefined)[] = [];
  let bodyHeights: Record<PaneName, number> = { policies: 1, drops: 1, conntrack: 1, ports: 1, events: 1 };
  let bodyLengths: Record<PaneName, number> = { policies: 0, drops: 0, conntrack: 0, ports: 0, events: 0 };
  let stopped = false;

  const place = (el: blessed.Widgets.BoxElement, r: Rect): void => {
    el.left = r.left;
    el.top = r.top;
    el.width = r.width;
    el.height = r.height;
  };

  // setContent clears the element's area and re-reads its attributes even for the text it
  // already shows (blessed re-wraps it on a resize by itself when it renders), and setLabel
  // also looks up blessed's Box module: at top speed most labels and some panes repeat from
  // one frame to the next.
  const shownText = new WeakMap<blessed.Widgets.BoxElement, string>();
  const shownLabel = new WeakMap<blessed.Widgets.BoxElement, string>();
  const setText = (el: blessed.Widgets.BoxElement, text: string): void => {
    if (shownText.get(el) === text) return;
    shownText.set(el, text);
    el.setContent(text);
  };
  const setLabel = (el: blessed.Widgets.BoxElement, text: string): void => {
    if (shownLabel.get(el) === text) return;
    shownLabel.set(el, text);
    el.setLabel(text);
  };
  let layout: { width: number; height: number; result: LayoutResult } | undefined;

  const fill = (name: PaneName, c: PaneContent, inner: { width: number; height: number }): void => {
    const st = paneState[name];
    const room = Math.max(0, inner.height - c.fixed.length);
    bodyHeights[name] = room;
    bodyLengths[name] = c.body.length;
    const maxScroll = Math.max(0, c.body.length - room);
    if (name === 'conntrack') {
      if (ct.selected < st.scroll) st.scroll = ct.selected;
      if (ct.selected >= st.scroll + room) st.scroll = ct.selected - room + 1;
    }
    if (st.follow) st.scroll = maxScroll;
    st.scroll = Math.min(Math.max(0, st.scroll), maxScroll);
    const shown = [...c.fixed, ...c.body.slice(st.scroll, st.scroll + room)];
    const more = c.body.length > room ? ` [${st.scroll + 1}-${Math.min(c.body.length, st.scroll + room)}/${c.body.length}]` : '';
    setLabel(panes[name], ` ${safe(fit(sanitize(c.title + more), Math.max(1, inner.width - 2)).trimEnd())} `);
    setText(panes[name], shown.join('\n'));
    panes[name].style.border.fg = name === focus ? 'cyan' : 'gray';
  };

  function render(): void {
    if (stopped) return;
    const snap = o.getSnapshot();
    last = snap;
    const width = screen.width as number;
    const height = screen.height as number;
    if (layout?.width !== width || layout.height !== height) layout = { width, height, result: computeLayout(DASHBOARD_GRID, width, height) };
    const lay = layout.result;
    if (!lay.fits) {
      header.hide();
      for (const p of Object.values(panes)) p.hide();
      overlay.hide();
      setText(small, lay.message);
      small.show();
      screen.render();
      return;
    }
    small.hide();
    header.show();
    place(header, lay.header);
    setText(
      header,
      renderHeader(snap, lay.header.width - 2, { speed: o.controls.speed ? sanitize(o.controls.speed()) : '', filter: ct.filter, typing }).join('\n'),
    );
    for (const name of Object.keys(panes) as PaneName[]) {
      const r = lay.panes[name]!;
      panes[name].show();
      place(panes[name], r);
      const inner = { width: Math.max(1, r.width - 2), height: Math.max(0, r.height - 2) };
      let content: PaneContent;
      switch (name) {
        case 'policies':
          content = renderPolicies(snap, inner.width);
          break;
        case 'drops':
          content = renderDrops(snap, inner.width);
          break;
        case 'ports':
          content = renderPorts(snap, inner.width);
          break;
        case 'events':
          content = renderEvents(snap, inner.width);
          break;
        case 'conntrack': {
          const rows = visibleConntrack(snap.conntrack, ct);
          ct.selected = Math.min(Math.max(0, ct.selected), Math.max(0, rows.length - 1));
          visibleFlows = rows.map((r) => r.flowId);
          content = renderConntrack(snap, rows, ct, inner.width, focus === 'conntrack' ? ct.selected : -1);
          break;
        }
      }
      fill(name, content, inner);
    }
    if (overlayKind) {
      const w = Math.max(20, Math.floor(width * 0.85));
      const h = Math.max(6, Math.floor(height * 0.8));
      place(overlay, { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h });
      const room = h - 2;
      overlayScroll = Math.min(Math.max(0, overlayScroll), Math.max(0, overlayLines.length - room));
      setLabel(overlay, overlayKind === 'help' ? ' Help ' : ' Journey (esc closes, j/k scroll) ');
      setText(overlay, overlayLines.slice(overlayScroll, overlayScroll + room).map((l) => safe(fit(sanitize(l), w - 2).trimEnd())).join('\n'));
      overlay.show();
      overlay.setFront();
    } else overlay.hide();
    screen.render();
  }

  function scrollFocused(delta: number | 'top' | 'bottom'): void {
    if (overlayKind) {
      overlayScroll = delta === 'top' ? 0 : delta === 'bottom' ? overlayLines.length : overlayScroll + delta;
      return;
    }
    if (focus === 'conntrack') {
      const n = visibleFlows.length;
      ct.selected = delta === 'top' ? 0 : delta === 'bottom' ? n - 1 : ct.selected + delta;
      ct.selected = Math.min(Math.max(0, ct.selected), Math.max(0, n - 1));
      return;
    }
    const st = paneState[focus];
    const maxScroll = Math.max(0, bodyLengths[focus] - bodyHeights[focus]);
    st.scroll = delta === 'top' ? 0 : delta === 'bottom' ? maxScroll : Math.min(maxScroll, Math.max(0, st.scroll + delta));
    st.follow = st.scroll >= maxScroll && focus === 'events';
  }

  function quit(): void {
    stop();
    o.controls.quit();
  }

  function interrupt(): void {
    stop();
    if (o.controls.interrupt) o.controls.interrupt();
    else o.controls.quit();
  }

  function onKey(ch: string | undefined, key: KeyInfo | undefined): void {
    if (stopped) return;
    const name = key?.name ?? '';
    // blessed reports a CR twice, as 'enter' then 'return': act on 'enter' only.
    if (name === 'return') return;
    const full = key?.full ?? name;
    if (full === 'C-c') return interrupt();
    if (typing !== undefined) {
      if (name === 'enter' || name === 'linefeed') {
        ct.filter = typing;
        typing = undefined;
        ct.selected = 0;
      } else if (name === 'escape') {
        ct.filter = '';
        typing = undefined;
      } else if (name === 'backspace') typing = typing.slice(0, -1);
      else if (ch && ch.length === 1 && ch >= ' ' && ch !== '\x7f' && !key?.ctrl) typing = (typing + ch).slice(0, 64);
      render();
      return;
    }
    if (ch === 'q') return quit();
    if (ch === '?') {
      if (overlayKind === 'help') overlayKind = undefined;
      else {
        overlayKind = 'help';
        overlayLines = helpLines();
        overlayScroll = 0;
      }
    } else if (name === 'escape') {
      if (overlayKind) overlayKind = undefined;
      else if (ct.filter) ct.filter = '';
    } else if (name === 'space' || ch === ' ') {
      if (last?.paused) o.controls.resume();
      else o.controls.pause();
    } else if (ch === 'n') {
      if (last && !last.paused) o.controls.pause();
      o.controls.step();
    } else if (ch === '+' || ch === '=') o.controls.faster();
    else if (ch === '-' || ch === '_') o.controls.slower();
    else if (name === 'tab') {
      const i = FOCUS_ORDER.indexOf(focus);
      const step = key?.shift ? FOCUS_ORDER.length - 1 : 1;
      focus = FOCUS_ORDER[(i + step) % FOCUS_ORDER.length]!;
    } else if (ch === 'j' || name === 'down') scrollFocused(1);
    else if (ch === 'k' || name === 'up') scrollFocused(-1);
    else if (ch === 'g' || name === 'home') scrollFocused('top');
    else if (ch === 'G' || name === 'end') scrollFocused('bottom');
    else if (name === 'pagedown') scrollFocused(Math.max(1, (overlayKind ? (screen.height as number) - 4 : bodyHeights[focus]) - 1));
    else if (name === 'pageup') scrollFocused(-Math.max(1, (overlayKind ? (screen.height as number) - 4 : bodyHeights[focus]) - 1));
    else if (ch === '/') {
      focus = 'conntrack';
      overlayKind = undefined;
      typing = ct.filter;
    } else if (ch === 's') {
      ct.sort = SORT_KEYS[(SORT_KEYS.indexOf(ct.sort) + 1) % SORT_KEYS.length]!;
    } else if (name === 'enter' || name === 'linefeed') {
      if (overlayKind === 'journey') overlayKind = undefined;
      else if (!overlayKind && focus === 'conntrack') {
        const id = visibleFlows[ct.selected];
        overlayKind = 'journey';
        overlayScroll = 0;
        if (id === undefined) {
          // Once the replay is over there is nothing left to step through.
          overlayLines = o.getSnapshot().finished
            ? [
                'No events were recorded for this flow, so there is no journey to show.',
                'At top speed only sampled packets have events: replay with --speed (or pause',
                'with space and step with n while it runs), and its packets will have them.',
              ]
            : [
                'No events were recorded for this flow, so there is no journey to show.',
                'At top speed only sampled packets have events: pause (space) and step (n) through',
                'the flow, or replay with --speed, and its packets will have them.',
              ];
        } else {
          const failed = (err: unknown): string[] => [`journey of ${id} failed: ${err instanceof Error ? err.message : String(err)}`];
          try {
            const lines = o.controls.journey(id);
            if (Array.isArray(lines)) overlayLines = lines;
            else {
              overlayLines = [`journey of ${id}: waiting for the replay...`];
              // Shown only if this flow's journey is still what the overlay is open for.
              const shown = (got: string[]): void => {
                if (stopped || overlayKind !== 'journey' || journeyOf !== id) return;
                overlayLines = got;
                render();
              };
              lines.then(shown, (err: unknown) => shown(failed(err)));
            }
          } catch (err) {
            overlayLines = failed(err);
          }
          journeyOf = id;
        }
      }
    } else return;
    render();
  }

  screen.on('keypress', onKey as (ch: unknown, key: unknown) => void);
  screen.on('resize', () => render());
  const timer = setInterval(render, Math.max(10, o.refreshMs ?? 100));

  function stop(): void {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    screen.destroy();
  }

  function screenText(): string {
    const lines = (screen as unknown as { lines: ScreenLines }).lines;
    return lines.map((l) => l.map((c) => c[1]).join('').trimEnd()).join('\n');
  }

  render();
  return { render, stop, screenText };
}
