/** Reasoning: start/stop Tree-of-Thought runs and watch the tree grow live. */
import type {
  ReasoningCompleteData,
  ReasoningUpdateData,
  StartReasoningData
} from '../protocol.generated';
import { PanelContext, PygentTab } from '../context';
import { button, field, h, select, setOptions } from '../dom';

export interface IThoughtNode {
  id: string;
  parent_id?: string | null;
  depth?: number;
  thought?: string;
  value?: number | null;
  status?: string;
}

interface IRun {
  id: string;
  nodes: Map<string, IThoughtNode>;
  step: number;
  task?: string;
  input?: string;
  /** `running`, or how it ended (`solved`, `finished`, `stopped`, ...). */
  status?: string;
  /** When it started, in ms since the epoch. */
  created?: number;
  stats?: Record<string, unknown>;
  startedAt?: number;
  complete?: ReasoningCompleteData;
  /** Saved on the server, its tree not loaded yet (`get_reasoning_run` on selection). */
  saved?: boolean;
}

const TASK_LABELS: Record<string, string> = { game24: 'Game of 24', open: 'Open' };

/**
 * Pure: a run's label in the picker, `Game of 24: 4 5 6 10 · Dec 2 14:05 · solved` (never the
 * raw `tot-…` id unless nothing else is known).
 */
export function runLabel(run: {
  id: string;
  task?: string;
  input?: string;
  status?: string;
  created?: number;
}): string {
  let text = (run.input ?? '').replace(/\s+/g, ' ').trim();
  if (text.length > 40) {
    text = text.slice(0, 39) + '…';
  }
  const task = run.task ? (TASK_LABELS[run.task] ?? run.task) : '';
  const head = task && text ? `${task}: ${text}` : text || task || run.id;
  const parts = [head];
  if (run.created !== undefined && Number.isFinite(run.created)) {
    const when = new Date(run.created);
    const p = (n: number) => String(n).padStart(2, '0');
    parts.push(
      `${when.toLocaleString('en', { month: 'short' })} ${when.getDate()} ` +
        `${p(when.getHours())}:${p(when.getMinutes())}`
    );
  }
  if (run.status) {
    parts.push(run.status);
  }
  return parts.join(' · ');
}

/** Pure: children lists keyed by parent id ('' for roots), in arrival order. */
export function buildTree(nodes: Iterable<IThoughtNode>): Map<string, IThoughtNode[]> {
  const all = [...nodes];
  const ids = new Set(all.map(n => n.id));
  const children = new Map<string, IThoughtNode[]>();
  for (const n of all) {
    const parent = n.parent_id && ids.has(n.parent_id) ? n.parent_id : '';
    const list = children.get(parent) ?? [];
    list.push(n);
    children.set(parent, list);
  }
  return children;
}

/** The panel's default problem (task `open`). */
export const DEFAULT_PROBLEM = 'Plan a picnic for four friends.';

export class ReasoningTab extends PygentTab {
  private _runs = new Map<string, IRun>();
  private _current: string | null = null;
  private _runSelect: HTMLSelectElement;
  private _task: HTMLSelectElement;
  private _problem: HTMLInputElement;
  private _method: HTMLSelectElement;
  private _budget: HTMLInputElement;
  private _start: HTMLButtonElement;
  private _stop: HTMLButtonElement;
  private _tree: HTMLElement;
  private _summary: HTMLElement;
  private _renderPending = false;

  constructor(ctx: PanelContext) {
    super(ctx, 'reasoning', 'Reasoning');
    // an open problem first: a small local model gives a tree with varied values on it,
    // while it writes no valid Game of 24 step (docs/reasoning.md, "A first run")
    this._task = select(
      [
        ['open', 'Open problem'],
        ['game24', 'Game of 24']
      ],
      { 'aria-label': 'Task' }
    );
    this._problem = h('input', {
      className: 'jp-mod-styled jp-pygent-grow',
      type: 'text',
      value: DEFAULT_PROBLEM,
      'aria-label': 'Puzzle or problem'
    });
    this._task.addEventListener('change', () => {
      this._problem.value = this._task.value === 'game24' ? '4 5 6 10' : DEFAULT_PROBLEM;
      this._problem.placeholder =
        this._task.value === 'game24' ? 'four numbers' : 'describe the problem';
    });
    this._method = select(
      [
        ['bfs', 'BFS'],
        ['dfs', 'DFS']
      ],
      { 'aria-label': 'Search method' }
    );
    this._budget = h('input', {
      className: 'jp-mod-styled jp-pygent-budget',
      type: 'number',
      min: 1,
      value: 30,
      'aria-label': 'Budget: most model calls'
    });
    this._start = button('Start', () => void this.start(), {
      className: 'jp-Button jp-mod-styled jp-mod-accept jp-pygent-start'
    });
    this._stop = button('Stop', () => this.stop(), {
      disabled: true,
      className: 'jp-Button jp-mod-styled jp-pygent-stop'
    });
    this._runSelect = select([], {
      'aria-label': 'Run',
      className: 'jp-mod-styled jp-pygent-run',
      onchange: () => {
        this._current = this._runSelect.value || null;
        void this._loadSaved(this._current);
        this._scheduleRender();
      }
    });
    this._summary = h('div', { className: 'jp-pygent-summary', 'aria-live': 'polite' });
    this._tree = h('ul', {
      className: 'jp-pygent-tree',
      role: 'tree',
      'aria-label': 'Thought tree'
    });
    this.node.append(
      h(
        'form',
        {
          className: 'jp-pygent-toolbar',
          onsubmit: (ev: Event) => {
            ev.preventDefault();
            void this.start();
          }
        },
        field('Task', this._task),
        field('Input', this._problem),
        field('Method', this._method),
        field('Max calls', this._budget),
        this._start,
        this._stop
      ),
      h('div', { className: 'jp-pygent-toolbar' }, field('Run', this._runSelect)),
      this._summary,
      h('div', { className: 'jp-pygent-scroll' }, this._tree)
    );
    this.track(ctx.conn.on('reasoning_update', d => this._update(d)));
    this.track(ctx.conn.on('reasoning_complete', d => this._complete(d)));
    if (ctx.conn.state === 'connected') {
      this.onConnected();
    }
  }

  /** The saved runs (newest first) join the picker, labelled by task, input, date, status. */
  protected onConnected(): void {
    this.ctx.conn
      .request('list_reasoning_runs', { limit: 20 }, { replyTypes: ['reasoning_runs'] })
      .then(env => {
        const d = env.data as {
          runs?: Array<Record<string, unknown>>;
          running?: string[];
        };
        const running = new Set((d.running ?? []).map(String));
        for (const r of d.runs ?? []) {
          const id = String(r.run_id ?? '');
          if (!id || this._runs.has(id)) {
            continue;
          }
          this._runs.set(id, {
            id,
            nodes: new Map(),
            step: 0,
            task: typeof r.task === 'string' ? r.task : undefined,
            input: typeof r.input === 'string' ? r.input : undefined,
            status: running.has(id) ? 'running' : String(r.status ?? ''),
            created: typeof r.created === 'number' ? r.created * 1000 : undefined,
            saved: !running.has(id)
          });
        }
        this._refreshOptions();
      })
      .catch(err => console.warn('pygent: could not list reasoning runs', err));
  }

  /** A saved run's whole tree, the first time it is picked. */
  private async _loadSaved(id: string | null): Promise<void> {
    const run = id ? this._runs.get(id) : undefined;
    if (!run || !run.saved) {
      return;
    }
    run.saved = false;
    try {
      const env = await this.ctx.conn.request('get_reasoning_run', { run_id: run.id });
      const d = env.data as Record<string, unknown> & {
        tree?: { nodes?: IThoughtNode[]; best_path_ids?: string[]; best_node_id?: string };
      };
      for (const n of d.tree?.nodes ?? []) {
        run.nodes.set(n.id, n);
      }
      run.complete = {
        run_id: run.id,
        best_path: [],
        best_path_ids: d.tree?.best_path_ids ?? [],
        answer: (d.answer as string | null) ?? null,
        solved: (d.solved as boolean | null) ?? null,
        status: String(d.status ?? ''),
        stats: (d.stats ?? {}) as ReasoningCompleteData['stats']
      };
    } catch (err) {
      this._summary.textContent = `Could not load the run: ${(err as Error).message}`;
    }
    this._scheduleRender();
  }

  private _refreshOptions(): void {
    const runs = [...this._runs.values()].sort((a, b) => (b.created ?? 0) - (a.created ?? 0));
    setOptions(
      this._runSelect,
      runs.map((r): [string, string] => [r.id, runLabel(r)])
    );
    if (this._current) {
      this._runSelect.value = this._current;
    }
  }

  async start(): Promise<void> {
    const text = this._problem.value.trim();
    if (!text) {
      this._summary.textContent = 'Enter a puzzle or a problem first.';
      return;
    }
    const data: StartReasoningData = {
      task: this._task.value as 'game24' | 'open',
      method: this._method.value as 'bfs' | 'dfs'
    };
    const budget = Number(this._budget.value);
    if (Number.isInteger(budget) && budget > 0) {
      data.max_calls = budget;
    }
    if (this._task.value === 'game24') {
      data.puzzle = text;
    } else {
      data.problem = text;
    }
    this._start.disabled = true;
    this._summary.textContent = 'Starting…';
    try {
      const env = await this.ctx.conn.request('start_reasoning', data, {
        replyTypes: ['reasoning_update', 'reasoning_complete']
      });
      const runId = (env.data as { run_id: string }).run_id;
      this._current = runId;
      this._runSelect.value = runId;
    } catch (err) {
      this._summary.textContent = `Could not start: ${(err as Error).message}`;
      this._start.disabled = false;
    }
  }

  stop(): void {
    if (this._current) {
      this.ctx.conn.send('stop_reasoning', { run_id: this._current });
    }
  }

  private _run(id: string): IRun {
    let run = this._runs.get(id);
    if (!run) {
      run = { id, nodes: new Map(), step: 0, status: 'running', created: Date.now() };
      this._runs.set(id, run);
      if (!this._current) {
        this._current = id;
      }
      this._refreshOptions();
    }
    return run;
  }

  private _update(d: ReasoningUpdateData): void {
    const run = this._run(d.run_id);
    if (typeof d.step === 'number') {
      run.step = Math.max(run.step, d.step);
    }
    const node = d.node as IThoughtNode | undefined;
    if (node && typeof node.id === 'string') {
      run.nodes.set(node.id, { ...run.nodes.get(node.id), ...node });
    }
    if (typeof d.input === 'string' || typeof d.task === 'string') {
      run.input = typeof d.input === 'string' ? d.input : run.input;
      run.task = typeof d.task === 'string' ? d.task : run.task;
      this._refreshOptions();
    }
    if (d.event === 'step' && Array.isArray(d.selected)) {
      for (const id of d.selected) {
        const n = run.nodes.get(id);
        if (n) {
          n.status = 'selected';
        }
      }
    }
    if (d.stats) {
      run.stats = d.stats;
    }
    if (d.run_id === this._current) {
      this._stop.disabled = false;
      this._start.disabled = true;
      this._scheduleRender();
    }
  }

  private _complete(d: ReasoningCompleteData): void {
    const run = this._run(d.run_id);
    run.complete = d;
    run.status = String(d.status ?? (d.solved ? 'solved' : 'finished'));
    run.task = d.task ?? run.task;
    run.input = d.input ?? run.input;
    this._refreshOptions();
    if (d.run_id === this._current) {
      this._stop.disabled = true;
      this._start.disabled = false;
      this._scheduleRender();
    }
  }

  private _scheduleRender(): void {
    if (this._renderPending) {
      return;
    }
    this._renderPending = true;
    requestAnimationFrame(() => {
      this._renderPending = false;
      this._render();
    });
  }

  private _ticker: ReturnType<typeof setInterval> | null = null;

  private _render(): void {
    const run = this._current ? this._runs.get(this._current) : undefined;
    if (!run) {
      this._tree.replaceChildren();
      this._summary.textContent = 'No run yet.';
      return;
    }
    const best = new Set(
      [...(run.complete?.best_path_ids ?? []), ...(run.complete?.best_path ?? [])].map(String)
    );
    const children = buildTree(run.nodes.values());
    const renderLevel = (parent: string, level: number): HTMLElement[] =>
      (children.get(parent) ?? []).map(n => {
        const kids = children.get(n.id);
        const onBest = best.has(n.id) || (n.thought !== undefined && best.has(n.thought));
        const li = h(
          'li',
          {
            role: 'treeitem',
            'aria-level': level,
            'aria-expanded': kids ? 'true' : null,
            tabindex: -1,
            className: `jp-pygent-node jp-pygent-node-${n.status ?? 'proposed'}${onBest ? ' jp-pygent-best' : ''}`
          },
          h(
            'span',
            { className: 'jp-pygent-thought' },
            n.thought || (n.depth === 0 || !n.parent_id ? `start: ${run.input ?? ''}` : n.id)
          ),
          typeof n.value === 'number'
            ? h('span', { className: 'jp-pygent-badge' }, `v=${n.value.toFixed(2)}`)
            : null,
          n.status ? h('span', { className: 'jp-pygent-status' }, n.status) : null
        );
        if (kids) {
          li.append(h('ul', { role: 'group' }, ...renderLevel(n.id, level + 1)));
        }
        return li;
      });
    this._tree.replaceChildren(...renderLevel('', 1));
    const first = this._tree.querySelector('[role=treeitem]') as HTMLElement | null;
    if (first) {
      first.tabIndex = 0;
    }
    const c = run.complete;
    const stats = (c?.stats ?? run.stats ?? {}) as {
      llm_calls?: number;
      tokens?: number;
      wall_time?: number;
    };
    const cost = [
      typeof stats.llm_calls === 'number' ? `${stats.llm_calls} LLM calls` : '',
      typeof stats.tokens === 'number' ? `${stats.tokens} tokens` : '',
      typeof stats.wall_time === 'number' ? `${stats.wall_time.toFixed(1)} s` : ''
    ]
      .filter(Boolean)
      .join(' · ');
    const status = String((c as { status?: unknown } | undefined)?.status ?? '');
    const stopped = status.includes('stop') || status.includes('cancel');
    const verdict = stopped
      ? 'Stopped'
      : `Done${c?.solved === true ? ' (solved)' : c?.solved === false ? ' (not solved)' : ''}`;
    const answer = c?.answer ? `answer ${c.answer}` : c?.error ? String(c.error) : 'no answer';
    // while running, the elapsed time ticks even between updates (the stats never freeze)
    run.startedAt = run.startedAt ?? Date.now();
    const elapsed = ((Date.now() - run.startedAt) / 1000).toFixed(0);
    const pruned = [...run.nodes.values()].filter(n => n.status === 'pruned').length;
    this._summary.textContent = c
      ? `${verdict}: ${answer} · ${run.nodes.size} nodes${cost ? ' · ' + cost : ''}`
      : `Running · step ${run.step} · ${run.nodes.size} nodes (${pruned} pruned) · ${elapsed} s` +
        (cost ? ' · ' + cost : '');
    if (!c && this._ticker === null) {
      this._ticker = setInterval(() => this._scheduleRender(), 1000);
    } else if (c && this._ticker !== null) {
      clearInterval(this._ticker);
      this._ticker = null;
    }
  }

  protected onAfterAttach(): void {
    this._tree.addEventListener('keydown', this._onTreeKey);
  }

  protected onBeforeDetach(): void {
    this._tree.removeEventListener('keydown', this._onTreeKey);
  }

  /** Arrow keys move between visible tree items (WAI-ARIA tree pattern, simplified). */
  private _onTreeKey = (ev: KeyboardEvent): void => {
    const items = [...this._tree.querySelectorAll<HTMLElement>('[role=treeitem]')];
    const i = items.indexOf(document.activeElement as HTMLElement);
    let next = -1;
    if (ev.key === 'ArrowDown') {
      next = Math.min(items.length - 1, i + 1);
    } else if (ev.key === 'ArrowUp') {
      next = Math.max(0, i - 1);
    } else if (ev.key === 'Home') {
      next = 0;
    } else if (ev.key === 'End') {
      next = items.length - 1;
    }
    if (next >= 0 && items[next]) {
      ev.preventDefault();
      items.forEach(el => (el.tabIndex = -1));
      items[next].tabIndex = 0;
      items[next].focus();
    }
  };
}
