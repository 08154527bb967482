/**
 * Incremental Markdown for streamed answers.
 *
 * A streamed answer is split into finished blocks (ended by a blank line outside a fenced
 * code block) and the unfinished tail. Each finished block is rendered once, into its own
 * element; only the tail is re-rendered, at most once per `tailInterval` ms (as plain text in
 * between). A 2,000-token answer therefore costs about one render per block plus a few
 * tail renders, instead of one full re-render per token.
 */
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';

/** Pure: finished Markdown blocks and the tail that may still change. */
export function splitStable(text: string): { blocks: string[]; tail: string } {
  const blocks: string[] = [];
  const lines = text.split('\n');
  let start = 0;
  let pos = 0;
  let fence = false;
  for (let i = 0; i < lines.length - 1; i++) {
    const line = lines[i];
    const t = line.trimStart();
    if (t.startsWith('```') || t.startsWith('~~~')) {
      fence = !fence;
    }
    pos += line.length + 1;
    if (!fence && line.trim() === '') {
      const chunk = text.slice(start, pos);
      if (chunk.trim()) {
        blocks.push(chunk);
      }
      start = pos;
    }
  }
  return { blocks, tail: text.slice(start) };
}

export type MarkdownRenderFn = (
  host: HTMLElement,
  text: string,
  rendermime: IRenderMimeRegistry | null
) => Promise<void>;

export class StreamingMarkdown {
  /** Markdown renders done (blocks + tails), and characters rendered: the redraw cost. */
  renders = 0;
  renderedChars = 0;
  private _blocks: HTMLElement[] = [];
  private _blockTexts: string[] = [];
  private _tail: HTMLElement;
  private _tailText = '';
  private _tailTimer: ReturnType<typeof setTimeout> | null = null;
  private _lastTailRender = 0;
  private _tailSeq = 0;

  constructor(
    readonly host: HTMLElement,
    private _rendermime: IRenderMimeRegistry | null,
    /** `renderMarkdown` from ./markdown (passed in so this module stays free of JupyterLab). */
    private _render: MarkdownRenderFn,
    private _tailInterval = 150
  ) {
    this._tail = document.createElement('div');
    this._tail.className = 'jp-pygent-md-tail';
    host.replaceChildren(this._tail);
    host.classList.add('jp-pygent-md');
  }

  /** Show `text` (the whole answer so far). */
  update(text: string): void {
    const { blocks, tail } = splitStable(text);
    for (let i = this._blocks.length; i < blocks.length; i++) {
      const el = document.createElement('div');
      el.className = 'jp-pygent-md-block';
      el.textContent = blocks[i]; // plain text until its render lands: text never vanishes
      this.host.insertBefore(el, this._tail);
      this._blocks.push(el);
      this._blockTexts.push(blocks[i]);
      this._renderInto(el, blocks[i]);
    }
    this._tailText = tail;
    const now = Date.now();
    if (now - this._lastTailRender >= this._tailInterval) {
      this._renderTail();
    } else {
      if (!this._tail.firstElementChild) {
        this._tail.textContent = tail; // plain text until the next tail render
      }
      if (this._tailTimer === null) {
        this._tailTimer = setTimeout(
          () => {
            this._tailTimer = null;
            this._renderTail();
          },
          this._tailInterval - (now - this._lastTailRender)
        );
      }
    }
  }

  /** The answer is complete: render what is left, exactly once. */
  async finish(text: string): Promise<void> {
    if (this._tailTimer !== null) {
      clearTimeout(this._tailTimer);
      this._tailTimer = null;
    }
    const { blocks, tail } = splitStable(text);
    const same = this._blockTexts.every((b, i) => blocks[i] === b);
    if (!same) {
      // the final text differs from the stream (rare): render it whole
      this._blocks = [];
      this._blockTexts = [];
      this._tailSeq++; // a tail render still in flight must not land over this one
      this.host.replaceChildren(this._tail);
      this._tail.textContent = text; // plain text until the render lands
      this.renders++;
      this.renderedChars += text.length;
      await this._render(this._tail, text, this._rendermime);
      return;
    }
    this.update(text.slice(0, text.length - tail.length));
    this._tailText = tail;
    await this._renderTail();
  }

  private _renderInto(el: HTMLElement, text: string): Promise<void> {
    this.renders++;
    this.renderedChars += text.length;
    return this._render(el, text, this._rendermime);
  }

  private async _renderTail(): Promise<void> {
    this._lastTailRender = Date.now();
    const seq = ++this._tailSeq;
    const text = this._tailText;
    if (!text.trim()) {
      this._tail.replaceChildren();
      return;
    }
    // render off-DOM and swap in, unless a newer tail render started meanwhile
    const scratch = document.createElement('div');
    await this._renderInto(scratch, text);
    if (seq === this._tailSeq) {
      this._tail.replaceChildren(...Array.from(scratch.childNodes));
    }
  }
}
