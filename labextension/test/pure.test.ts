// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { trimSeries } from '../src/charts';
import { statusText } from '../src/status';
import { buildTree } from '../src/tabs/reasoning';
import { argumentSkeleton } from '../src/tabs/mcp';
import { shouldPlot } from '../src/tabs/metrics';
import { EXAMPLES } from '../src/protocol.generated';

describe('chart series', () => {
  it('keeps only the time window and at most maxPoints', () => {
    const pts: Array<[number, number]> = [0, 1, 2, 3, 4, 5].map(x => [x * 10, x]);
    expect(trimSeries(pts, 25, 100).map(p => p[0])).toEqual([30, 40, 50]);
    expect(trimSeries(pts, 0, 2).map(p => p[0])).toEqual([40, 50]);
    expect(trimSeries([], 10, 10)).toEqual([]);
  });
});

describe('metrics interval', () => {
  it('coalesces samples closer than the interval', () => {
    expect(shouldPlot(100, null, 5)).toBe(true);
    expect(shouldPlot(102, 100, 5)).toBe(false);
    expect(shouldPlot(105, 100, 5)).toBe(true);
    expect(shouldPlot(100.5, 100, 0)).toBe(true);
  });
});

describe('status bar text', () => {
  it('shows the connection state and per-GPU utilization', () => {
    expect(statusText('connecting', null)).toBe('Pygent: connecting');
    expect(statusText('connected', EXAMPLES.gpu_metrics.data as any)).toBe(
      'Pygent: connected · GPU 37%'
    );
    expect(statusText('reconnecting', { available: false, gpus: [] })).toBe(
      'Pygent: reconnecting · no GPU'
    );
    expect(statusText('failed', null)).toBe('Pygent: offline');
  });
});

describe('reasoning tree', () => {
  it('nests nodes under their parents and keeps orphans at the root', () => {
    const tree = buildTree([
      { id: 'n0', parent_id: null, thought: 'root' },
      { id: 'n1', parent_id: 'n0', thought: 'a' },
      { id: 'n2', parent_id: 'n0', thought: 'b' },
      { id: 'n3', parent_id: 'n1', thought: 'c' },
      { id: 'n9', parent_id: 'missing', thought: 'orphan' }
    ]);
    expect(tree.get('')!.map(n => n.id)).toEqual(['n0', 'n9']);
    expect(tree.get('n0')!.map(n => n.id)).toEqual(['n1', 'n2']);
    expect(tree.get('n1')!.map(n => n.id)).toEqual(['n3']);
  });
});

describe('MCP tool arguments', () => {
  it('prefills required arguments and defaults from the input schema', () => {
    const tool = {
      name: 'convert_time',
      input_schema: {
        properties: {
          source_timezone: { type: 'string' },
          time: { type: 'string' },
          hours: { type: 'integer', default: 1 },
          verbose: { type: 'boolean' }
        },
        required: ['source_timezone', 'time']
      }
    };
    expect(argumentSkeleton(tool)).toEqual({ source_timezone: '', time: '', hours: 1 });
    expect(argumentSkeleton(undefined)).toEqual({});
  });
});

describe('DOM rendering', () => {
  it('renders fenced code as <pre><code> and never interprets HTML', async () => {
    const { renderPlain } = await import('../src/plaintext');
    const nodes = renderPlain(
      'Run this:\n```python\nprint("<b>hi</b>")\n```\ndone <img src=x onerror=alert(1)>'
    );
    const host = document.createElement('div');
    host.append(...nodes);
    expect(host.querySelector('pre code')!.textContent).toBe('print("<b>hi</b>")\n');
    expect(host.querySelector('pre code')!.getAttribute('data-lang')).toBe('python');
    expect(host.querySelector('img')).toBeNull();
    expect(host.textContent).toContain('<img src=x');
  });

  it('draws one polyline per series and a readable summary', async () => {
    const { LineChart } = await import('../src/charts');
    const chart = new LineChart({ title: 'CPU', unit: '%', yMax: 100, window: 60 }, [
      { name: 'cpu', color: 'red' }
    ]);
    for (const [t, v] of [
      [0, 10],
      [30, 50],
      [90, 70]
    ]) {
      chart.push('cpu', t, v);
    }
    chart.push('cpu', 91, null); // gaps are skipped
    expect(chart.count('cpu')).toBe(2); // t=0 fell out of the 60 s window
    await new Promise(r => setTimeout(r, 50));
    const svg = chart.node.querySelector('svg')!;
    expect(svg.querySelectorAll('polyline')).toHaveLength(1);
    expect(svg.getAttribute('aria-label')).toBe('CPU: cpu 70.0%');
  });
});

describe('agent picker', () => {
  it('puts built-in agents first, keeps server order otherwise, adds the preferred one', async () => {
    const { agentOptions } = await import('../src/agents');
    expect(agentOptions(['evolved-1', 'reasoning', 'general'], 'mine')).toEqual([
      ['general', 'General'],
      ['reasoning', 'Reasoning'],
      ['evolved-1', 'evolved-1'],
      ['mine', 'mine']
    ]);
  });
});
