/** Evolution: start/stop genetic-algorithm runs and watch fitness per generation. */
import type { EvolutionCompleteData, EvolutionProgressData } from '../protocol.generated';
import { LineChart } from '../charts';
import { PanelContext, PygentTab } from '../context';
import { button, field, h, select, setOptions } from '../dom';

interface IRun {
  id: string;
  progress: EvolutionProgressData[];
  complete?: EvolutionCompleteData;
}

export class EvolutionTab extends PygentTab {
  private _runs = new Map<string, IRun>();
  private _current: string | null = null;
  private _chart: LineChart;
  private _runSelect: HTMLSelectElement;
  private _population: HTMLInputElement;
  private _generations: HTMLInputElement;
  private _taskSet: HTMLSelectElement;
  private _prompts: HTMLTextAreaElement;
  private _budget: HTMLInputElement;
  private _start: HTMLButtonElement;
  private _stop: HTMLButtonElement;
  private _summary: HTMLElement;

  constructor(ctx: PanelContext) {
    super(ctx, 'evolution', 'Evolution');
    this._population = h('input', {
      className: 'jp-mod-styled',
      type: 'number',
      min: 2,
      max: 1000,
      value: 8,
      'aria-label': 'Population size'
    });
    this._generations = h('input', {
      className: 'jp-mod-styled',
      type: 'number',
      min: 1,
      max: 10000,
      value: 5,
      'aria-label': 'Generations'
    });
    this._taskSet = select(
      [
        ['starter', 'Starter (small models)'],
        ['sentiment', 'Sentiment'],
        ['arithmetic', 'Arithmetic'],
        ['format', 'Output format'],
        ['game24', 'Game of 24']
      ],
      { 'aria-label': 'Task set' }
    );
    this._budget = h('input', {
      className: 'jp-mod-styled jp-pygent-budget',
      type: 'number',
      min: 1,
      value: 200,
      'aria-label': 'Budget: most evaluations'
    });
    this._prompts = h('textarea', {
      className: 'jp-pygent-note',
      rows: 2,
      'aria-label': 'Seed prompts, one per line'
    });
    this._prompts.value =
      'You are a careful arithmetic assistant.\nAnswer with the expression only.';
    this._start = button('Start', () => void this.start(), {
      className: 'jp-Button jp-mod-styled jp-mod-accept jp-pygent-start'
    });
    this._stop = button('Stop', () => this.stop(), {
      disabled: true,
      className: 'jp-Button jp-mod-styled jp-pygent-stop'
    });
    this._runSelect = select([], {
      'aria-label': 'Run',
      onchange: () => this._show(this._runSelect.value)
    });
    this._summary = h(
      'div',
      { className: 'jp-pygent-summary', 'aria-live': 'polite' },
      'No run yet.'
    );
    this._chart = new LineChart(
      { title: 'Fitness per generation', yMax: 'auto', height: 160, xFormat: 'int' },
      [
        { name: 'best', color: 'var(--jp-success-color1)', markers: true },
        { name: 'mean', color: 'var(--jp-brand-color1)', dash: '6 3', markers: true },
        { name: 'worst', color: 'var(--jp-warn-color1)', dash: '2 3', markers: true }
      ]
    );
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
        field('Population', this._population),
        field('Generations', this._generations),
        field('Tasks', this._taskSet),
        field('Max evaluations', this._budget),
        this._start,
        this._stop
      ),
      field('Seed prompts (one per line)', this._prompts),
      h('div', { className: 'jp-pygent-toolbar' }, field('Run', this._runSelect)),
      this._chart.node,
      this._summary
    );
    this.track(ctx.conn.on('evolution_progress', d => this._progress(d)));
    this.track(ctx.conn.on('evolution_complete', d => this._complete(d)));
  }

  async start(): Promise<void> {
    const population = Number(this._population.value);
    const generations = Number(this._generations.value);
    const seedPrompts = this._prompts.value
      .split('\n')
      .map(p => p.trim())
      .filter(Boolean);
    if (!(population >= 2) || !(generations >= 1) || seedPrompts.length === 0) {
      this._summary.textContent =
        'Population must be at least 2, generations at least 1, and give at least one seed prompt.';
      return;
    }
    this._start.disabled = true;
    this._summary.textContent = 'Starting…';
    try {
      const env = await this.ctx.conn.request(
        'start_evolution',
        {
          genome: { seed_prompts: seedPrompts },
          population_size: population,
          generations,
          task_set:
            this._taskSet.value === 'game24'
              ? { name: 'game24', range: [900, 904] }
              : { name: this._taskSet.value },
          ...(Number(this._budget.value) > 0
            ? { max_evaluations: Math.floor(Number(this._budget.value)) }
            : {})
        },
        { replyTypes: ['evolution_progress', 'evolution_complete'] }
      );
      this._show((env.data as { run_id: string }).run_id);
    } catch (err) {
      this._summary.textContent = `Could not start: ${(err as Error).message}`;
      this._start.disabled = false;
    }
  }

  stop(): void {
    if (this._current) {
      this.ctx.conn.send('stop_evolution', { run_id: this._current });
    }
  }

  private _run(id: string): IRun {
    let run = this._runs.get(id);
    if (!run) {
      run = { id, progress: [] };
      this._runs.set(id, run);
      setOptions(
        this._runSelect,
        [...this._runs.keys()].map((k): [string, string] => [k, k])
      );
      if (!this._current) {
        this._show(id);
      }
    }
    return run;
  }

  private _progress(d: EvolutionProgressData): void {
    const run = this._run(d.run_id);
    if (d.phase === 'evaluation') {
      // one finished evaluation (live from a cluster): progress text only, no plot point
      if (d.run_id === this._current) {
        this._summary.textContent =
          `Generation ${d.generation}: ${d.evaluated ?? '?'}/${d.to_evaluate ?? '?'} evaluated` +
          ` · best so far ${fmt(d.best_so_far)}` +
          (typeof d.evaluations === 'number' ? ` · ${d.evaluations} evaluations` : '');
      }
      return;
    }
    run.progress.push(d);
    if (d.run_id === this._current) {
      this._plot(d);
      this._start.disabled = true;
      this._stop.disabled = false;
      this._summary.textContent =
        `Generation ${d.generation}: best ${fmt(d.best)}, mean ${fmt(d.mean)}` +
        (typeof d.evaluations === 'number' ? ` · ${d.evaluations} evaluations` : '');
    }
  }

  private _complete(d: EvolutionCompleteData): void {
    const run = this._run(d.run_id);
    run.complete = d;
    if (d.run_id === this._current) {
      this._done(run);
    }
  }

  private _done(run: IRun): void {
    this._start.disabled = false;
    this._stop.disabled = true;
    const best = (run.complete?.best as { fitness?: number } | undefined)?.fitness;
    const imp = run.complete?.improvement as
      { absolute?: number; generation0_best?: number } | undefined;
    const status = run.complete?.status ?? 'done';
    this._summary.textContent =
      `${status[0].toUpperCase()}${status.slice(1)}: best fitness ${fmt(best)}` +
      (typeof imp?.absolute === 'number'
        ? `, ${imp.absolute >= 0 ? '+' : ''}${fmt(imp.absolute)} over generation 0 (${fmt(imp.generation0_best)})`
        : '') +
      (run.complete?.reason ? ` · ended by ${run.complete.reason}` : '');
  }

  private _show(id: string): void {
    this._current = id || null;
    this._runSelect.value = id;
    this._chart.clear();
    const run = id ? this._runs.get(id) : undefined;
    for (const p of run?.progress ?? []) {
      this._plot(p);
    }
    if (run?.complete) {
      this._done(run);
    }
  }

  private _plot(d: EvolutionProgressData): void {
    for (const key of ['best', 'mean', 'worst']) {
      this._chart.push(key, d.generation, d[key] as number | undefined);
    }
  }
}

function fmt(v: unknown): string {
  return typeof v === 'number' ? v.toFixed(3) : '–';
}
