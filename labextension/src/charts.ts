/**
 * A dependency-free SVG line chart for live series (metrics over time, fitness per
 * generation). Colours come from JupyterLab CSS variables so light and dark themes work.
 */
import { h } from './dom';

const SVG_NS = 'http://www.w3.org/2000/svg';

export interface ISeriesSpec {
  name: string;
  /** A CSS colour, normally a JupyterLab variable: `var(--jp-brand-color1)`. */
  color: string;
  /** SVG stroke-dasharray (so equal series stay distinguishable), e.g. `4 3`. */
  dash?: string;
  /** Draw a marker on each point. */
  markers?: boolean;
}

/** Pure: about `count` round tick values covering [lo, hi] (1, 2, 2.5 or 5 × 10^k). */
export function niceTicks(lo: number, hi: number, count = 4, integer = false): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    return [];
  }
  if (hi <= lo) {
    hi = lo + 1;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  let step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(v => v >= raw) ?? raw;
  if (integer) {
    step = Math.max(1, Math.round(step));
  }
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toFixed(10)));
  }
  return out;
}

/** Pure: an x tick label: clock time for epoch seconds, else the number. */
export function formatTick(v: number, kind: 'time' | 'int' | 'number'): string {
  if (kind === 'time') {
    const d = new Date(v * 1000);
    const p = (n: number) => String(n).padStart(2, '0');
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }
  return kind === 'int' ? String(Math.round(v)) : formatValue(v);
}

export interface IChartOptions {
  title: string;
  unit?: string;
  /** Fixed y range; `max: 'auto'` scales to the data. */
  yMin?: number;
  yMax?: number | 'auto';
  /** Keep only points with x >= newest x - window (0: keep everything). */
  window?: number;
  /** Also cap points per series (memory bound for long sessions). */
  maxPoints?: number;
  height?: number;
  /** Format x for the accessible summary (e.g. generation number). */
  xLabel?: string;
  /** x values are epoch seconds (`time`, the default), integers (`int`) or plain numbers. */
  xFormat?: 'time' | 'int' | 'number';
}

/** Pure: drop points outside the window / above the cap. Exported for tests. */
export function trimSeries(
  points: Array<[number, number]>,
  window: number,
  maxPoints: number
): Array<[number, number]> {
  let out = points;
  if (window > 0 && out.length) {
    const newest = out[out.length - 1][0];
    const first = out.findIndex(p => p[0] >= newest - window);
    out = first > 0 ? out.slice(first) : out;
  }
  if (out.length > maxPoints) {
    out = out.slice(out.length - maxPoints);
  }
  return out;
}

export class LineChart {
  readonly node: HTMLElement;
  private _svg: SVGSVGElement;
  private _legend: HTMLElement;
  private _series = new Map<string, { spec: ISeriesSpec; points: Array<[number, number]> }>();
  private _options: Required<IChartOptions>;
  private _pending = false;
  private _width = 300;

  constructor(options: IChartOptions, series: ISeriesSpec[] = []) {
    this._options = {
      unit: '',
      yMin: 0,
      yMax: 'auto',
      window: 0,
      maxPoints: 600,
      height: 110,
      xLabel: '',
      xFormat: 'time',
      ...options
    };
    this._svg = document.createElementNS(SVG_NS, 'svg');
    this._svg.setAttribute('class', 'jp-pygent-chart-svg');
    this._svg.setAttribute('role', 'img');
    this._svg.setAttribute('viewBox', `0 0 300 ${this._options.height}`);
    this._svg.style.height = `${this._options.height}px`;
    // drawn at the real pixel width (text is never stretched); redrawn when it changes
    if (typeof ResizeObserver === 'function') {
      new ResizeObserver(() => {
        if (Math.round(this._svg.clientWidth) !== this._width) {
          this._schedule();
        }
      }).observe(this._svg as unknown as Element);
    }
    this._legend = h('div', { className: 'jp-pygent-chart-legend', 'aria-hidden': 'true' });
    this.node = h(
      'figure',
      { className: 'jp-pygent-chart' },
      h('figcaption', { className: 'jp-pygent-chart-title' }, options.title),
      this._svg as unknown as Node,
      this._legend
    );
    for (const s of series) {
      this.addSeries(s);
    }
    this._render();
  }

  set window(value: number) {
    this._options.window = value;
    for (const s of this._series.values()) {
      s.points = trimSeries(s.points, value, this._options.maxPoints);
    }
    this._schedule();
  }

  addSeries(spec: ISeriesSpec): void {
    if (!this._series.has(spec.name)) {
      this._series.set(spec.name, { spec, points: [] });
    }
  }

  hasSeries(name: string): boolean {
    return this._series.has(name);
  }

  /** Append a point; rendering is batched to one per animation frame. */
  push(name: string, x: number, y: number | null | undefined): void {
    const s = this._series.get(name);
    if (!s || y === null || y === undefined || !Number.isFinite(y)) {
      return;
    }
    s.points.push([x, y]);
    s.points = trimSeries(s.points, this._options.window, this._options.maxPoints);
    this._schedule();
  }

  clear(): void {
    for (const s of this._series.values()) {
      s.points = [];
    }
    this._schedule();
  }

  /** Number of points of a series (tests, status). */
  count(name: string): number {
    return this._series.get(name)?.points.length ?? 0;
  }

  private _schedule(): void {
    if (this._pending) {
      return;
    }
    this._pending = true;
    const raf =
      typeof requestAnimationFrame === 'function'
        ? requestAnimationFrame
        : (cb: () => void) => setTimeout(cb, 16);
    raf(() => {
      this._pending = false;
      this._render();
    });
  }

  private _render(): void {
    const { height, unit, yMin, xFormat } = this._options;
    const width = Math.max(160, Math.round(this._svg.clientWidth || 300));
    this._width = width;
    this._svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    const left = 34;
    const right = 8;
    const top = 6;
    const bottom = 18;
    const all = [...this._series.values()].flatMap(s => s.points);
    const xs = all.map(p => p[0]);
    const ys = all.map(p => p[1]);
    const x0 = xs.length ? Math.min(...xs) : 0;
    let x1 = xs.length ? Math.max(...xs) : 1;
    if (x1 <= x0) {
      x1 = x0 + 1;
    }
    let y0 = yMin;
    let y1 =
      this._options.yMax === 'auto'
        ? Math.max(yMin + 1e-9, ...ys) * 1.1
        : (this._options.yMax as number);
    if (this._options.yMax === 'auto' && ys.length) {
      y0 = Math.min(yMin, ...ys);
    }
    if (!Number.isFinite(y1)) {
      y1 = 1;
    }
    const yTicks = niceTicks(y0, y1, 4);
    if (this._options.yMax === 'auto' && yTicks.length) {
      y0 = Math.min(y0, yTicks[0]);
      y1 = Math.max(y1, yTicks[yTicks.length - 1]);
    }
    const plotW = width - left - right;
    const plotH = height - top - bottom;
    const sx = (x: number) => left + ((x - x0) / (x1 - x0)) * plotW;
    const sy = (y: number) =>
      top + plotH - ((Math.min(Math.max(y, y0), y1) - y0) / (y1 - y0 || 1)) * plotH;
    const parts: string[] = [];
    for (const t of yTicks) {
      if (t < y0 || t > y1) {
        continue;
      }
      const y = sy(t).toFixed(1);
      parts.push(
        `<line class="jp-pygent-grid" x1="${left}" x2="${width - right}" y1="${y}" y2="${y}"/>`,
        `<text class="jp-pygent-tick" x="${left - 4}" y="${y}" dy="0.32em" text-anchor="end">` +
          `${Number.isInteger(t) ? String(t) : formatValue(t)}${escapeXml(unit)}</text>`
      );
    }
    parts.push(
      `<line class="jp-pygent-axis" x1="${left}" x2="${width - right}" ` +
        `y1="${top + plotH}" y2="${top + plotH}"/>`
    );
    if (xs.length) {
      const xCount = Math.max(2, Math.floor(plotW / 70));
      const xTicks =
        xFormat === 'time'
          ? timeTicks(x0, x1, xCount)
          : niceTicks(x0, x1, xCount, xFormat === 'int');
      for (const t of xTicks) {
        if (t < x0 - 1e-9 || t > x1 + 1e-9) {
          continue;
        }
        parts.push(
          `<text class="jp-pygent-tick" x="${sx(t).toFixed(1)}" y="${height - 4}" ` +
            `text-anchor="middle">${escapeXml(formatTick(t, xFormat))}</text>`
        );
      }
    }
    const summary: string[] = [];
    const legend: Node[] = [];
    for (const { spec, points } of this._series.values()) {
      const dash = spec.dash ? ` stroke-dasharray="${spec.dash}"` : '';
      if (points.length) {
        const d = points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
        parts.push(
          `<polyline fill="none" stroke="${spec.color}" stroke-width="1.8"${dash} ` +
            `points="${d}"/>`
        );
        if (spec.markers || points.length === 1) {
          for (const [x, y] of points.slice(-100)) {
            parts.push(
              `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" ` +
                `fill="${spec.color}"/>`
            );
          }
        }
      }
      const last = points.length ? points[points.length - 1][1] : null;
      const text = last === null ? '–' : `${formatValue(last)}${unit}`;
      summary.push(`${spec.name} ${text}`);
      legend.push(
        h(
          'span',
          { className: 'jp-pygent-legend-item' },
          h('span', {
            className: 'jp-pygent-swatch',
            style: `background:${spec.color}${spec.dash ? ';opacity:0.7' : ''}`
          }),
          `${spec.name}: ${text}`
        )
      );
    }
    this._svg.innerHTML = parts.join('');
    this._svg.setAttribute(
      'aria-label',
      `${this._options.title}: ${summary.join(', ') || 'no data yet'}`
    );
    this._legend.replaceChildren(...legend);
  }
}

/** Pure: tick times (epoch seconds) at round steps (1 s … 1 h) covering [lo, hi]. */
export function timeTicks(lo: number, hi: number, count: number): number[] {
  const span = Math.max(1, hi - lo);
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const step = steps.find(s => span / s <= count) ?? 3600;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
    out.push(v);
  }
  return out;
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function formatValue(v: number): string {
  const a = Math.abs(v);
  if (a === 0) {
    return '0';
  }
  if (a >= 100) {
    return v.toFixed(0);
  }
  if (a >= 1) {
    return v.toFixed(1);
  }
  return v.toFixed(3);
}
