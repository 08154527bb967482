/** Memory: semantic search over the shared vector memory, and adding notes to it. */
import type { MemoryUpdateData } from '../protocol.generated';
import { PanelContext, PygentTab } from '../context';
import { button, field, h } from '../dom';

interface IHit {
  id: number;
  score?: number;
  text?: string;
  metadata?: Record<string, unknown>;
}

export class MemoryTab extends PygentTab {
  private _query: HTMLInputElement;
  private _k: HTMLInputElement;
  private _results: HTMLElement;
  private _stats: HTMLElement;
  private _note: HTMLTextAreaElement;
  private _meta: HTMLInputElement;
  private _status: HTMLElement;

  constructor(ctx: PanelContext) {
    super(ctx, 'memory', 'Memory');
    this._query = h('input', {
      type: 'search',
      className: 'jp-mod-styled jp-pygent-grow',
      placeholder: 'Search memories…',
      'aria-label': 'Search query'
    });
    this._k = h('input', {
      type: 'number',
      className: 'jp-mod-styled',
      min: 1,
      max: 100,
      value: 5,
      'aria-label': 'Number of results'
    });
    this._results = h('ol', {
      className: 'jp-pygent-results',
      'aria-label': 'Search results',
      'aria-live': 'polite'
    });
    this._stats = h('div', { className: 'jp-pygent-muted' });
    this._status = h('div', { className: 'jp-pygent-summary', 'aria-live': 'polite' });
    this._note = h('textarea', {
      rows: 2,
      className: 'jp-pygent-note',
      'aria-label': 'Text to remember'
    });
    this._meta = h('input', {
      type: 'text',
      className: 'jp-mod-styled jp-pygent-meta-input',
      placeholder: '{"source": "notes"}',
      'aria-label': 'Metadata (JSON object, optional)'
    });
    this.node.append(
      h(
        'form',
        {
          className: 'jp-pygent-toolbar',
          role: 'search',
          onsubmit: (ev: Event) => {
            ev.preventDefault();
            void this.search();
          }
        },
        field('Query', this._query),
        field('k', this._k),
        h(
          'button',
          { type: 'submit', className: 'jp-Button jp-mod-styled jp-mod-accept' },
          'Search'
        )
      ),
      this._status,
      this._results,
      h(
        'details',
        {},
        h('summary', {}, 'Remember a note'),
        this._note,
        field('Metadata (JSON, optional)', this._meta),
        button('Add', () => void this.add())
      ),
      this._stats
    );
    this.track(
      ctx.conn.on('memory_update', d => {
        if (d.kind === 'stats') {
          this._showStats(d);
        }
      })
    );
  }

  async search(): Promise<void> {
    const query = this._query.value.trim();
    if (!query) {
      return;
    }
    const k = Math.max(1, Math.min(100, Number(this._k.value) || 5));
    this._status.textContent = 'Searching…';
    try {
      const env = await this.ctx.conn.request('memory_search', { query, k });
      const d = env.data as MemoryUpdateData;
      const hits = (Array.isArray(d.results) ? d.results : []) as IHit[];
      this._status.textContent =
        `${hits.length} result${hits.length === 1 ? '' : 's'}` +
        (typeof d.took_ms === 'number' ? ` (took ${Math.round(d.took_ms)} ms)` : '');
      this._results.replaceChildren(
        ...hits.map(hit =>
          h(
            'li',
            { className: 'jp-pygent-hit' },
            h(
              'span',
              { className: 'jp-pygent-badge' },
              typeof hit.score === 'number' ? hit.score.toFixed(3) : '–'
            ),
            h('span', { className: 'jp-pygent-hit-text' }, hit.text ?? `#${hit.id}`),
            hit.metadata && Object.keys(hit.metadata).length
              ? h('span', { className: 'jp-pygent-muted' }, ` ${JSON.stringify(hit.metadata)}`)
              : null
          )
        )
      );
    } catch (err) {
      this._status.textContent = `Search failed: ${(err as Error).message}`;
    }
  }

  async add(): Promise<void> {
    const text = this._note.value.trim();
    if (!text) {
      return;
    }
    let metadata: Record<string, unknown> = { source: 'jupyterlab' };
    if (this._meta.value.trim()) {
      try {
        const parsed = JSON.parse(this._meta.value) as unknown;
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
          throw new Error('it must be a JSON object');
        }
        metadata = { ...metadata, ...(parsed as Record<string, unknown>) };
      } catch (err) {
        this._status.textContent = `Metadata is not valid: ${(err as Error).message}`;
        return;
      }
    }
    try {
      await this.ctx.conn.request('memory_add', { items: [{ text, metadata }] });
      this._note.value = '';
      this._meta.value = '';
      this._status.textContent = 'Remembered.';
      this.ctx.conn.send('memory_stats', {});
    } catch (err) {
      this._status.textContent = `Could not add: ${(err as Error).message}`;
    }
  }

  protected onAfterShow(): void {
    if (this.ctx.conn.state === 'connected') {
      this.ctx.conn.send('memory_stats', {});
    }
    this._query.focus();
  }

  private _showStats(d: MemoryUpdateData): void {
    const parts: string[] = [];
    const per = (d as { namespaces?: unknown }).namespaces;
    if (Array.isArray(per)) {
      const total = per.reduce(
        (n: number, ns: unknown) => n + Number((ns as { count?: number }).count ?? 0),
        0
      );
      parts.push(`${total} memories in ${per.length} namespace${per.length === 1 ? '' : 's'}`);
    }
    for (const [k, v] of Object.entries(d)) {
      if (k === 'kind' || k === 'namespaces' || !(typeof v === 'number' || typeof v === 'string')) {
        continue;
      }
      parts.push(
        k === 'took_ms' ? `took ${Math.round(Number(v))} ms` : `${k.replace(/_/g, ' ')}: ${v}`
      );
    }
    this._stats.textContent = parts.join(' · ');
  }
}
