/** Metrics: live CPU/memory/GPU charts, threshold alerts and the LLM backend's status. */
import type {
  GpuMetricsData,
  OllamaMetricsData,
  OllamaStatusData,
  SystemAlertData,
  SystemMetricsData
} from '../protocol.generated';
import { LineChart } from '../charts';
import { PanelContext, PygentTab } from '../context';
import { formatBytes, formatTime, h } from '../dom';

const GPU_COLORS = [
  'var(--jp-brand-color1)',
  'var(--jp-accent-color1)',
  'var(--jp-success-color1)',
  'var(--jp-warn-color1)'
];

/** Pure: should a sample taken at `t` (s) become a chart point, given the last point's time? */
export function shouldPlot(t: number, lastPlotted: number | null, intervalS: number): boolean {
  return lastPlotted === null || intervalS <= 0 || t - lastPlotted >= intervalS - 1e-6;
}

export class MetricsTab extends PygentTab {
  private _cpu: LineChart;
  private _mem: LineChart;
  private _gpu: LineChart;
  private _gpuMem: LineChart;
  private _details: HTMLElement;
  private _gpuDetails: HTMLElement;
  private _alerts: HTMLElement;
  private _active = new Map<string, SystemAlertData>();
  private _alertLog: HTMLElement;
  private _ollama: HTMLElement;
  private _ollamaStatus: OllamaStatusData | null = null;
  private _ollamaMetrics: OllamaMetricsData | null = null;
  private _lastSys: number | null = null;
  private _lastGpu: number | null = null;
  private _release: Array<() => void> = [];
  /** Samples received (tests and the status line read it). */
  samples = 0;

  constructor(ctx: PanelContext) {
    super(ctx, 'metrics', 'Metrics');
    const w = ctx.settings.chartWindow;
    this._cpu = new LineChart({ title: 'CPU', unit: '%', yMax: 100, window: w }, [
      { name: 'cpu', color: 'var(--jp-brand-color1)' },
      { name: 'process', color: 'var(--jp-accent-color1)' }
    ]);
    this._mem = new LineChart({ title: 'Memory', unit: '%', yMax: 100, window: w }, [
      { name: 'memory', color: 'var(--jp-success-color1)' }
    ]);
    this._gpu = new LineChart({ title: 'GPU utilization', unit: '%', yMax: 100, window: w });
    this._gpuMem = new LineChart({ title: 'GPU memory', unit: '%', yMax: 100, window: w });
    this._details = h(
      'div',
      { className: 'jp-pygent-kv', 'aria-live': 'off' },
      'Waiting for the first sample…'
    );
    this._gpuDetails = h('div', { className: 'jp-pygent-kv' });
    this._alerts = h('ul', { className: 'jp-pygent-alerts', 'aria-label': 'Active alerts' });
    this._alertLog = h('ul', { className: 'jp-pygent-alert-log', 'aria-label': 'Alert history' });
    this._ollama = h(
      'div',
      { className: 'jp-pygent-kv jp-pygent-ollama' },
      'Backend status unknown.'
    );
    this.node.append(
      h('section', { 'aria-label': 'Alerts' }, h('h3', {}, 'Alerts'), this._alerts),
      h(
        'div',
        { className: 'jp-pygent-charts' },
        this._cpu.node,
        this._mem.node,
        this._gpu.node,
        this._gpuMem.node
      ),
      this._details,
      this._gpuDetails,
      h('section', { 'aria-label': 'LLM backend' }, h('h3', {}, 'LLM backend'), this._ollama),
      h('details', {}, h('summary', {}, 'Alert history'), this._alertLog)
    );
    this.track(ctx.conn.on('system_metrics', d => this._system(d)));
    this.track(ctx.conn.on('gpu_metrics', d => this._gpuSample(d)));
    this.track(ctx.conn.on('system_alert', (d, env) => this._alert(d, env.ts)));
    this.track(
      ctx.conn.on('ollama_status', d => {
        this._ollamaStatus = d;
        this._renderOllama();
      })
    );
    this.track(
      ctx.conn.on('ollama_metrics', d => {
        this._ollamaMetrics = d;
        this._renderOllama();
      })
    );
    ctx.settingsChanged.connect(this._applySettings, this);
  }

  protected onAfterShow(): void {
    if (this._release.length === 0) {
      this._release.push(this.ctx.conn.subscribe('metrics'), this.ctx.conn.subscribe('ollama'));
      if (this.ctx.conn.state === 'connected') {
        this.ctx.conn.send('request_system_metrics', {});
      }
    }
  }

  protected onAfterHide(): void {
    for (const r of this._release.splice(0)) {
      r();
    }
  }

  protected onConnected(): void {
    if (this.isVisible) {
      this.ctx.conn.send('request_system_metrics', {});
    }
  }

  dispose(): void {
    this.onAfterHide();
    this.ctx.settingsChanged.disconnect(this._applySettings, this);
    super.dispose();
  }

  private _applySettings(): void {
    const w = this.ctx.settings.chartWindow;
    for (const c of [this._cpu, this._mem, this._gpu, this._gpuMem]) {
      c.window = w;
    }
  }

  private _system(d: SystemMetricsData): void {
    this.samples += 1;
    const t = typeof d.sampled_at === 'number' ? d.sampled_at : Date.now() / 1000;
    const mem = d.memory as { percent?: number; used?: number; total?: number };
    const proc = (d.process ?? {}) as { rss?: number; cpu_percent?: number };
    const disk = (d.disk ?? {}) as { percent?: number; used?: number; total?: number };
    if (shouldPlot(t, this._lastSys, this.ctx.settings.metricsInterval)) {
      this._lastSys = t;
      this._cpu.push('cpu', t, d.cpu_percent);
      this._cpu.push('process', t, proc.cpu_percent);
      this._mem.push('memory', t, mem.percent);
    }
    const load = Array.isArray(d.load_avg) ? d.load_avg.map(v => v.toFixed(2)).join(' ') : '–';
    this._details.replaceChildren(
      kv('CPU', `${d.cpu_percent.toFixed(1)}% of ${d.cpu_count ?? '?'} cores · load ${load}`),
      kv(
        'Memory',
        `${formatBytes(mem.used)} / ${formatBytes(mem.total)} (${mem.percent?.toFixed(1) ?? '–'}%)`
      ),
      kv('Disk', `${formatBytes(disk.used)} / ${formatBytes(disk.total)}`),
      kv('Server process', `${formatBytes(proc.rss)} RSS`),
      kv('Sampled', formatTime(t))
    );
    this._details.classList.add('jp-pygent-has-sample');
  }

  private _gpuSample(d: GpuMetricsData): void {
    const none = !d.available || d.gpus.length === 0;
    this._gpu.node.classList.toggle('jp-pygent-hidden', none);
    this._gpuMem.node.classList.toggle('jp-pygent-hidden', none);
    if (none) {
      this._gpuDetails.replaceChildren(
        kv('GPU', d.error ? `not available (${d.error})` : 'no NVIDIA GPU')
      );
      return;
    }
    const t = typeof d.sampled_at === 'number' ? d.sampled_at : Date.now() / 1000;
    const plot = shouldPlot(t, this._lastGpu, this.ctx.settings.metricsInterval);
    if (plot) {
      this._lastGpu = t;
    }
    const rows: HTMLElement[] = [];
    for (const g of d.gpus) {
      const name = `GPU ${g.index}`;
      if (!this._gpu.hasSeries(name)) {
        const color = GPU_COLORS[g.index % GPU_COLORS.length];
        this._gpu.addSeries({ name, color });
        this._gpuMem.addSeries({ name, color });
      }
      const memPct =
        typeof g.memory_used === 'number' &&
        typeof g.memory_total === 'number' &&
        g.memory_total > 0
          ? (100 * g.memory_used) / g.memory_total
          : null;
      if (plot) {
        this._gpu.push(name, t, g.utilization);
        this._gpuMem.push(name, t, memPct);
      }
      rows.push(
        kv(
          `${name} ${g.name}`,
          `${num(g.utilization, '%')} · ${formatBytes(g.memory_used)} / ${formatBytes(g.memory_total)} · ` +
            `${num(g.temperature, ' °C')} · ${num(g.power_w, ' W')}`
        )
      );
    }
    this._gpuDetails.replaceChildren(...rows);
  }

  private _alert(d: SystemAlertData, ts?: string | number): void {
    const key = `${d.metric}:${d.gpu_index ?? ''}`;
    if (d.state === 'firing') {
      this._active.set(key, d);
    } else {
      this._active.delete(key);
    }
    this._alerts.replaceChildren(
      ...(this._active.size
        ? [...this._active.values()].map(a =>
            h(
              'li',
              {
                className: `jp-pygent-alert jp-pygent-alert-${a.severity ?? 'warning'}`,
                role: 'alert'
              },
              a.message
            )
          )
        : [h('li', { className: 'jp-pygent-muted' }, 'No active alerts.')])
    );
    this._alertLog.prepend(h('li', {}, `${formatTime(ts)} ${d.state}: ${d.message}`));
    while (this._alertLog.childElementCount > 100) {
      this._alertLog.lastElementChild?.remove();
    }
  }

  private _renderOllama(): void {
    const s = this._ollamaStatus ?? {};
    const m = this._ollamaMetrics;
    const running = Array.isArray(s.running_models)
      ? s.running_models
          .map(r => (typeof r === 'string' ? r : (r as { name?: string }).name))
          .join(', ')
      : '';
    const reachable =
      s.reachable === true ? 'reachable' : s.reachable === false ? 'not reachable' : 'unknown';
    const mm = (m ?? {}) as { backend?: unknown; model?: unknown; tokens_per_s?: unknown };
    const backend = s.backend ?? mm.backend;
    const rows: HTMLElement[] = [];
    if (m) {
      rows.push(
        kv(
          'Last response',
          `${String(mm.model ?? '')} · ${num(mm.tokens_per_s as number, ' tok/s')}`.replace(
            /^ · /,
            ''
          )
        )
      );
    }
    if (backend !== undefined) {
      rows.push(kv('Backend', String(backend)));
    }
    if (s.reachable !== undefined || s.backend === 'ollama') {
      rows.push(
        kv(
          'Ollama',
          `${reachable}${s.host ? ` at ${s.host}` : ''}${s.version ? ` (v${s.version})` : ''}`
        )
      );
    }
    if (running) {
      rows.push(kv('Running models', running));
    }
    this._ollama.replaceChildren(
      ...(rows.length
        ? rows
        : [h('span', { className: 'jp-pygent-muted' }, 'No backend report yet.')])
    );
  }
}

function kv(key: string, value: string): HTMLElement {
  return h(
    'div',
    { className: 'jp-pygent-kv-row' },
    h('span', { className: 'jp-pygent-k' }, key),
    h('span', { className: 'jp-pygent-v' }, value)
  );
}

function num(v: number | null | undefined, unit: string): string {
  return typeof v === 'number' ? `${v.toFixed(v >= 100 ? 0 : 1)}${unit}` : '–';
}
