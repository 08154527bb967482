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

  constructor(options: IChartOptions, series: ISeriesSpec[] = []) {
    this._options = {
      unit: '',
      yMin: 0,
      yMax: 'auto',
      window: 0,
      maxPoints: 600,
      height: 110,
      xLabel: '',
      ...options
    };
    this._svg = document.createElementNS(SVG_NS, 'svg');
    this._svg.setAttribute('class', 'jp-pygent-chart-svg');
    this._svg.setAttribute('role', 'img');
    this._svg.setAttribute('preserveAspectRatio', 'none');
    this._svg.setAttribute('viewBox', `0 0 300 ${this._options.height}`);
    this._svg.style.height = `${this._options.height}px`;
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
    const { height, unit, yMin } = this._options;
    const width = 300;
    const pad = 4;
    const all = [...this._series.values()].flatMap(s => s.points);
    const xs = all.map(p => p[0]);
    const ys = all.map(p => p[1]);
    const x0 = xs.length ? Math.min(...xs) : 0;
    const x1 = xs.length ? Math.max(...xs) : 1;
    let y1 =
      this._options.yMax === 'auto'
        ? Math.max(yMin + 1e-9, ...ys) * 1.1
        : (this._options.yMax as number);
    if (!Number.isFinite(y1)) {
      y1 = 1;
    }
    const sx = (x: number) => pad + ((x - x0) / (x1 - x0 || 1)) * (width - 2 * pad);
    const sy = (y: number) =>
      height - pad - ((Math.min(y, y1) - yMin) / (y1 - yMin || 1)) * (height - 2 * pad);
    const parts: string[] = [];
    for (const frac of [0.25, 0.5, 0.75]) {
      const y = (height - 2 * pad) * frac + pad;
      parts.push(`<line class="jp-pygent-grid" x1="0" x2="${width}" y1="${y}" y2="${y}"/>`);
    }
    const summary: string[] = [];
    const legend: Node[] = [];
    for (const { spec, points } of this._series.values()) {
      if (points.length) {
        const d = points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
        parts.push(
          `<polyline fill="none" stroke="${spec.color}" stroke-width="1.5" ` +
            `vector-effect="non-scaling-stroke" points="${d}"/>`
        );
      }
      const last = points.length ? points[points.length - 1][1] : null;
      const text = last === null ? '–' : `${formatValue(last)}${unit}`;
      summary.push(`${spec.name} ${text}`);
      legend.push(
        h(
          'span',
          { className: 'jp-pygent-legend-item' },
          h('span', { className: 'jp-pygent-swatch', style: `background:${spec.color}` }),
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
