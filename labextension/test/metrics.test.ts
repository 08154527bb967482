// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { ISocketLike, PygentConnection } from '../src/connection';
import { PanelContext } from '../src/context';
import { MetricsTab } from '../src/tabs/metrics';
import { EXAMPLES } from '../src/protocol.generated';

function setup() {
  const socket: ISocketLike & { sent: any[] } = {
    readyState: 1,
    sent: [],
    onopen: null,
    onclose: null,
    onerror: null,
    onmessage: null,
    send(data: string) {
      this.sent.push(JSON.parse(data));
    },
    close() {}
  };
  const conn = new PygentConnection({
    url: 'ws://h/pygent/ws',
    socketFactory: () => socket,
    pingInterval: 0
  });
  conn.connect();
  socket.onopen?.({});
  const ctx = new PanelContext(conn, null);
  const tab = new MetricsTab(ctx);
  let seq = 10;
  const push = (env: any, data?: object) =>
    socket.onmessage?.({ data: JSON.stringify({ ...env, seq: seq++, data: data ?? env.data }) });
  return { tab, push, ctx };
}

const frame = () => new Promise(r => setTimeout(r, 40));

describe('Metrics tab', () => {
  it('charts GPU utilization per GPU when NVML reports GPUs', async () => {
    const { tab, push } = setup();
    const gpu = EXAMPLES.gpu_metrics as any;
    push(gpu);
    push(gpu, {
      ...gpu.data,
      sampled_at: gpu.data.sampled_at + 1,
      gpus: [{ ...gpu.data.gpus[0], utilization: 80 }]
    });
    await frame();
    const charts = [...tab.node.querySelectorAll('.jp-pygent-chart')];
    const util = charts.find(c => c.textContent!.startsWith('GPU utilization'))!;
    expect(util.classList.contains('jp-pygent-hidden')).toBe(false);
    expect(util.querySelector('svg')!.getAttribute('aria-label')).toBe(
      'GPU utilization: GPU 0 80.0%'
    );
    expect(tab.node.textContent).toContain('NVIDIA H100');
  });

  it('hides the GPU charts and says why when there is no GPU', async () => {
    const { tab, push } = setup();
    push(EXAMPLES.gpu_metrics, { available: false, gpus: [], error: 'NVML unavailable' });
    await frame();
    const hidden = [...tab.node.querySelectorAll('.jp-pygent-chart.jp-pygent-hidden')];
    expect(hidden.map(c => c.querySelector('figcaption')!.textContent)).toEqual([
      'GPU utilization',
      'GPU memory'
    ]);
    expect(tab.node.textContent).toContain('not available (NVML unavailable)');
  });

  it('lists firing alerts until they resolve', () => {
    const { tab, push } = setup();
    const alert = EXAMPLES.system_alert as any;
    push(alert);
    const active = () =>
      [...tab.node.querySelectorAll('.jp-pygent-alerts li')].map(li => li.textContent);
    expect(active()).toEqual([alert.data.message]);
    push(alert, { ...alert.data, state: 'resolved', message: 'memory back to 70%' });
    expect(active()).toEqual(['No active alerts.']);
    expect(tab.node.querySelectorAll('.jp-pygent-alert-log li')).toHaveLength(2);
  });

  it('plots system samples on the CPU and memory charts', async () => {
    const { tab, push } = setup();
    const sys = EXAMPLES.system_metrics as any;
    push(sys);
    push(sys, { ...sys.data, cpu_percent: 50, sampled_at: sys.data.sampled_at + 1 });
    await frame();
    const cpu = tab.node.querySelector('.jp-pygent-chart svg')!;
    expect(cpu.getAttribute('aria-label')).toBe('CPU: cpu 50.0%, process 1.0%');
    expect(cpu.querySelectorAll('polyline')).toHaveLength(2);
    expect(tab.samples).toBe(2);
  });

  it('applies the metricsInterval and chartWindow settings', async () => {
    const { tab, push, ctx } = setup();
    ctx.settings = { defaultAgent: 'general', metricsInterval: 5, chartWindow: 10 };
    const sys = EXAMPLES.system_metrics as any;
    for (let i = 0; i < 20; i++) {
      push(sys, { ...sys.data, cpu_percent: i, sampled_at: 1000 + i });
    }
    await frame();
    const cpu = tab.node.querySelector('.jp-pygent-chart svg polyline')!;
    // one point per 5 s (t = 1000, 1005, 1010, 1015), of which the last 10 s are kept
    expect(cpu.getAttribute('points')!.trim().split(' ')).toHaveLength(3);
    expect(tab.samples).toBe(20);
  });
});
