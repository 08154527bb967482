// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { formatTick, LineChart, niceTicks, timeTicks } from '../src/charts';
import { offlineText } from '../src/context';
import { isLiveWidget, liveSnapshot } from '../src/fallback';
import { splitStable, StreamingMarkdown } from '../src/streammd';

describe('streaming markdown', () => {
  it('splits finished blocks from the tail, never inside a code fence', () => {
    expect(splitStable('a\n\nb')).toEqual({ blocks: ['a\n\n'], tail: 'b' });
    expect(splitStable('a\n\nb\n\n')).toEqual({ blocks: ['a\n\n', 'b\n\n'], tail: '' });
    const fenced = 'x\n\n```py\nx = 1\n\ny = 2\n```\n\nz';
    const { blocks, tail } = splitStable(fenced);
    expect(blocks).toEqual(['x\n\n', '```py\nx = 1\n\ny = 2\n```\n\n']);
    expect(tail).toBe('z');
    expect(blocks.join('') + tail).toBe(fenced);
  });

  it('keeps text on screen while a finished block renders', async () => {
    const host = document.createElement('div');
    let release: () => void = () => {};
    const pending = new Promise<void>(resolve => (release = resolve));
    const render = async (el: HTMLElement, text: string) => {
      await pending; // a Markdown render that has not landed yet
      el.innerHTML = `<p>${text.trim()}</p>`;
    };
    const md = new StreamingMarkdown(host, null, render, 1e9);
    md.update('Done: 42.');
    md.update('Done: 42.\n\nNext');
    // the first paragraph became a block whose render is pending: its text is still shown
    expect(host.textContent).toContain('Done: 42.');
    const finished = md.finish('Other text entirely.');
    expect(host.textContent).toContain('Other text entirely.');
    release();
    await finished;
    expect(host.innerHTML).toContain('<p>Other text entirely.</p>');
  });

  it('renders a 2,000-token answer in O(length), not once per token', async () => {
    const paragraphs = Array.from(
      { length: 40 },
      (_, i) =>
        `Paragraph ${i} ` + 'word '.repeat(45) + (i % 5 === 0 ? '\n\n```py\nprint(1)\n```' : '')
    ).join('\n\n');
    const tokens = paragraphs.match(/\S+\s*/g)!;
    expect(tokens.length).toBeGreaterThanOrEqual(1900);
    const host = document.createElement('div');
    let calls = 0;
    const render = async (el: HTMLElement, text: string) => {
      calls++;
      el.textContent = text;
    };
    // tail renders throttled (in this tight loop: only the final one)
    const md = new StreamingMarkdown(host, null, render, 1e9);
    let text = '';
    for (const t of tokens) {
      text += t;
      md.update(text);
    }
    await md.finish(text);
    const fullRedrawChars = tokens.reduce(
      (acc, _t, i) => acc + tokens.slice(0, i + 1).join('').length,
      0
    );
    // every finished block once, plus the last tail: about the answer's length
    expect(md.renderedChars).toBeLessThan(text.length * 1.2);
    expect(md.renderedChars * 100).toBeLessThan(fullRedrawChars);
    expect(calls).toBeLessThan(60);
    expect(host.textContent).toContain('Paragraph 39');
    // worst case, the tail re-rendered on every token: still bounded by one block per token
    const worst = new StreamingMarkdown(document.createElement('div'), null, render, 0);
    text = '';
    for (const t of tokens) {
      text += t;
      worst.update(text);
    }
    await worst.finish(text);
    expect(worst.renderedChars * 10).toBeLessThan(fullRedrawChars);
    console.log(
      `worst case (tail every token): ${worst.renders} renders, ${worst.renderedChars} chars`
    );
    console.log(
      `2,000-token answer: ${md.renders} markdown renders, ${md.renderedChars} chars ` +
        `(full redraw per token: ${tokens.length} renders, ${fullRedrawChars} chars)`
    );
  });
});

describe('chart axes', () => {
  it('has round ticks', () => {
    expect(niceTicks(0, 100, 4)).toEqual([0, 25, 50, 75, 100]);
    expect(niceTicks(0, 7, 4, true)).toEqual([0, 2, 4, 6]);
    expect(timeTicks(0, 120, 4)).toEqual([0, 30, 60, 90, 120]);
    expect(formatTick(3, 'int')).toBe('3');
  });

  it('draws tick labels on both axes', () => {
    const chart = new LineChart({ title: 'CPU', unit: '%', yMax: 100 }, [
      { name: 'cpu', color: 'red' }
    ]);
    for (let i = 0; i < 10; i++) {
      chart.push('cpu', 1_700_000_000 + i * 10, i * 10);
    }
    (chart as unknown as { _render(): void })._render();
    const labels = [...chart.node.querySelectorAll('text.jp-pygent-tick')].map(t => t.textContent);
    expect(labels).toContain('100%');
    expect(labels.some(l => /^\d\d:\d\d:\d\d$/.test(l ?? ''))).toBe(true);
  });
});

describe('offline banner', () => {
  it('says when the next try is', () => {
    expect(offlineText('connected', null, 0)).toBe('');
    expect(offlineText('reconnecting', 10_000, 2, 4_000)).toContain('next try in 6 s');
    expect(offlineText('failed', null, 5)).toContain('gave up after 5 attempts');
  });
});

describe('widget fallback', () => {
  it('tells a live pygent widget from an error and reads its snapshot', () => {
    const node = document.createElement('div');
    node.textContent = 'Error displaying widget: model not found';
    expect(isLiveWidget(node)).toBe(false);
    node.innerHTML =
      '<div class="pygent-w"><div class="pygent-snapshot"><div class="widget-html-content">' +
      '<div class="pygent-fallback">last state</div></div></div></div>';
    expect(isLiveWidget(node)).toBe(true);
    expect(liveSnapshot(node)).toContain('last state');
  });
});
