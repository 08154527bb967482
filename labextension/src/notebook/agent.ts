/**
 * Notebook agents in the side panel: the chat follows the active notebook and attaches it
 * (chips the user can remove, `@` to add a file, a variable or the active cell); proposals
 * from the agent (`agent_action_request`) become cards with their diff and Accept/Reject;
 * accepted ones are applied on the live notebook model (never by rewriting the file); the
 * journal of applied actions is listed with Undo. See docs/agents.md, "Notebook agents".
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { PygentConnection } from '../connection';
import { button, h } from '../dom';
import type {
  AgentActionRequestData,
  AgentActionResultData,
  AgentJournalData,
  AgentUndoPlanData
} from '../protocol.generated';

/* Structural views of JupyterLab's notebook objects (no @jupyterlab/notebook dependency). */
interface ISharedCell {
  id: string;
  cell_type: string;
  getSource(): string;
  setSource(source: string): void;
}
interface ISharedNotebook {
  cells: ISharedCell[];
  insertCell(index: number, cell: { cell_type: string; source: string }): ISharedCell;
  deleteCell(index: number): void;
}
interface ICellModelLike {
  id: string;
  sharedModel: ISharedCell;
  outputs?: { toJSON(): Array<Record<string, unknown>> };
  executionCount?: number | null;
}
interface INotebookPanelLike {
  id: string;
  context: { path: string };
  content: {
    model: {
      sharedModel: ISharedNotebook;
      cells: { length: number; get(i: number): ICellModelLike };
    } | null;
    activeCellIndex: number;
    activeCell: { model: ICellModelLike } | null;
  };
  sessionContext?: {
    session?: { kernel?: { requestExecute: (c: unknown) => IFutureLike } | null } | null;
  };
}
interface IFutureLike {
  done: Promise<{
    content: {
      user_expressions?: Record<string, { status: string; data?: Record<string, string> }>;
    };
  }>;
}

type Attachment = Record<string, unknown> & { kind: string };

const KIND_LABELS: Record<string, string> = {
  insert_cell: 'Insert a cell',
  replace_cell: 'Replace a cell',
  delete_cell: 'Delete a cell',
  run_cell: 'Run a cell',
  create_notebook: 'Create a notebook'
};

function isNotebookPanel(w: unknown): w is INotebookPanelLike {
  const p = w as INotebookPanelLike | null;
  return (
    !!p &&
    !!p.context &&
    typeof p.context.path === 'string' &&
    !!p.content &&
    'activeCellIndex' in p.content
  );
}

/** A cell's outputs as text (streams, text/plain, errors), cut to `limit` characters. */
export function outputsText(outputs: Array<Record<string, unknown>>, limit = 4000): string {
  const parts: string[] = [];
  for (const o of outputs) {
    const type = o.output_type;
    if (type === 'stream') {
      parts.push(String(Array.isArray(o.text) ? o.text.join('') : (o.text ?? '')));
    } else if (type === 'error') {
      parts.push(`${String(o.ename)}: ${String(o.evalue)}`);
    } else {
      const data = (o.data ?? {}) as Record<string, unknown>;
      const plain = data['text/plain'];
      if (plain !== undefined) {
        parts.push(String(Array.isArray(plain) ? plain.join('') : plain));
      } else if (Object.keys(data).length) {
        parts.push(`[${Object.keys(data).join(', ')}]`);
      }
    }
  }
  const text = parts.join('\n').trim();
  return text.length > limit ? `${text.slice(0, limit)}… [cut]` : text;
}

/** Most characters of cells one message carries (the socket refuses frames over 1 MiB). */
export const MAX_NOTEBOOK_CHARS = 600_000;

/**
 * Cut the cells in place until they fit MAX_NOTEBOOK_CHARS: outputs go first, then long
 * sources are shortened (the server cuts further to its budgets and says so).
 */
export function fitFrame(cells: Array<Record<string, unknown>>): void {
  const size = () =>
    cells.reduce(
      (n, c) => n + String(c.source ?? '').length + String(c.outputs ?? '').length + 64,
      0
    );
  if (size() <= MAX_NOTEBOOK_CHARS) {
    return;
  }
  for (const c of cells) {
    delete c.outputs;
  }
  let limit = 20_000;
  while (size() > MAX_NOTEBOOK_CHARS && limit >= 100) {
    for (const c of cells) {
      const src = String(c.source ?? '');
      if (src.length > limit) {
        c.source = `${src.slice(0, limit)}\n… [cut by the panel]`;
      }
    }
    limit = Math.floor(limit / 2);
  }
}

export class NotebookAgentView {
  readonly node: HTMLElement;
  private _chips: HTMLElement;
  private _at: HTMLInputElement;
  private _cards: HTMLElement;
  private _progress: HTMLElement;
  private _journal: HTMLElement;
  private _current: INotebookPanelLike | null = null;
  private _attachNotebook = true;
  private _extra: Attachment[] = [];
  private _conversation: string | null = null;

  constructor(
    private app: JupyterFrontEnd,
    private conn: PygentConnection
  ) {
    this._chips = h('div', { className: 'jp-pygent-chips', 'aria-label': 'Attachments' });
    this._at = h('input', {
      className: 'jp-pygent-at',
      placeholder: '@file path, @var name, @cell',
      'aria-label': 'Attach a file, a variable or the active cell'
    }) as HTMLInputElement;
    this._at.addEventListener('keydown', ev => {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        void this.addFromInput(this._at.value);
        this._at.value = '';
      }
    });
    this._progress = h('div', { className: 'jp-pygent-progress', role: 'status' });
    this._cards = h('div', { className: 'jp-pygent-proposals', 'aria-live': 'polite' });
    this._journal = h('div', { className: 'jp-pygent-journal' });
    const undo = button('Undo last action', () => void this.undo(), {
      className: 'jp-Button jp-mod-styled jp-pygent-undo',
      title: 'Revert the last applied action of this chat in its notebook'
    });
    this.node = h(
      'div',
      { className: 'jp-pygent-notebook-agent' },
      h('div', { className: 'jp-pygent-toolbar' }, this._chips, this._at),
      this._progress,
      this._cards,
      h(
        'details',
        { className: 'jp-pygent-journal-box' },
        h('summary', {}, 'Actions journal'),
        undo,
        this._journal
      )
    );
    const shell = app.shell as unknown as {
      currentChanged?: { connect: (fn: () => void) => void };
      currentWidget?: unknown;
    };
    shell.currentChanged?.connect(() => this._follow());
    this._follow();
    conn.on('agent_action_request', d => this._propose(d));
    conn.on('agent_action_expired', d => {
      this.node.querySelector(`[data-proposal="${CSS.escape(d.proposal_id)}"]`)?.remove();
      this._progress.textContent = `Proposal ${d.reason === 'timeout' ? 'expired' : 'withdrawn'}.`;
    });
    conn.on('agent_progress', d => {
      const waiting = d.state === 'waiting' ? ' — waiting for your decision' : '';
      this._progress.textContent =
        d.state === 'budget_spent'
          ? `Step budget spent (${d.max_steps}).`
          : `Step ${d.step}/${d.max_steps}: ${d.tool ?? ''}${waiting}`;
    });
    conn.on('chat_response', d => {
      this._conversation =
        (d as { conversation_id?: string }).conversation_id ?? this._conversation;
      this._progress.textContent = '';
    });
    conn.on('agent_journal', d => this._showJournal(d));
    conn.addSendHook((type, data) => this._attachToChat(type, data));
  }

  /** The notebook panel the user works in (the last focused one). */
  get current(): INotebookPanelLike | null {
    return this._current;
  }

  private _follow(): void {
    const w = (this.app.shell as unknown as { currentWidget?: unknown }).currentWidget;
    if (isNotebookPanel(w)) {
      if (w !== this._current) {
        this._current = w;
        this._attachNotebook = true;
      }
    }
    this._renderChips();
  }

  private _renderChips(): void {
    const chips: HTMLElement[] = [];
    const chip = (label: string, title: string, remove: () => void) =>
      h(
        'span',
        { className: 'jp-pygent-chip', title },
        label,
        button('×', remove, { className: 'jp-pygent-chip-remove', 'aria-label': `Remove ${label}` })
      );
    if (this._current && this._attachNotebook) {
      chips.push(
        chip(`notebook: ${this._current.context.path}`, 'The active notebook is attached', () => {
          this._attachNotebook = false;
          this._renderChips();
        })
      );
    }
    this._extra.forEach((a, i) => {
      const label =
        a.kind === 'file'
          ? `file: ${a.path}`
          : a.kind === 'variable'
            ? `variable: ${a.name}`
            : 'cell';
      chips.push(
        chip(label, `${a.kind} attached`, () => {
          this._extra.splice(i, 1);
          this._renderChips();
        })
      );
    });
    this._chips.replaceChildren(...chips);
  }

  /** `@file path`, `@var name` or `@cell` (the active cell). */
  async addFromInput(text: string): Promise<void> {
    const [word, ...rest] = text.trim().replace(/^@/, '').split(/\s+/);
    const arg = rest.join(' ');
    if (word === 'file' && arg) {
      this._extra.push({ kind: 'file', path: arg });
    } else if (word === 'var' && arg) {
      this._extra.push(
        await this._variable(arg).catch(err => ({
          kind: 'variable',
          name: arg,
          summary: `${arg}: could not be summarized (${String(err)})`
        }))
      );
    } else if (word === 'cell' && this._current?.content.activeCell) {
      const model = this._current.content.activeCell.model;
      this._extra.push({ kind: 'cell', cell: this._cell(model) });
    } else {
      this._progress.textContent = 'Use @file <path>, @var <name> or @cell.';
      return;
    }
    this._renderChips();
  }

  /** A variable's summary, made silently in the notebook's kernel (nothing in the history). */
  private async _variable(name: string): Promise<Attachment> {
    const kernel = this._current?.sessionContext?.session?.kernel;
    if (!kernel) {
      return { kind: 'variable', name, summary: `${name}: no kernel is running` };
    }
    const expr =
      "__import__('pygent_jupyter.inspect_vars', fromlist=['summarize_display'])" +
      `.summarize_display([${JSON.stringify(name)}], 2000)`;
    const reply = await kernel.requestExecute({
      code: '',
      silent: true,
      store_history: false,
      user_expressions: { s: expr }
    }).done;
    const result = reply.content.user_expressions?.s;
    if (!result || result.status !== 'ok' || !result.data) {
      return { kind: 'variable', name, summary: `${name}: could not be summarized` };
    }
    const json = JSON.parse(result.data['text/plain']); // the JSON itself (JsonText)
    const s = json[0] as { text: string; truncated?: boolean };
    return { kind: 'variable', name, summary: s.text, truncated: !!s.truncated };
  }

  private _cell(model: ICellModelLike): Record<string, unknown> {
    const cell: Record<string, unknown> = {
      id: model.id,
      cell_type: model.sharedModel.cell_type,
      source: model.sharedModel.getSource()
    };
    if (model.outputs) {
      cell.outputs = outputsText(model.outputs.toJSON());
    }
    if (typeof model.executionCount === 'number') {
      cell.execution_count = model.executionCount;
    }
    return cell;
  }

  /** What the next chat message carries. */
  attachments(): Attachment[] {
    const out: Attachment[] = [];
    const nb = this._current;
    if (nb && this._attachNotebook && nb.content.model) {
      const cells = [];
      for (let i = 0; i < nb.content.model.cells.length; i++) {
        cells.push(this._cell(nb.content.model.cells.get(i)));
      }
      fitFrame(cells);
      const active = nb.content.activeCell?.model.id;
      out.push({
        kind: 'notebook',
        path: nb.context.path,
        cells,
        ...(active ? { active_cell_id: active } : {})
      });
    }
    return [...out, ...this._extra];
  }

  /** Every chat_message sent on this page carries the visible attachments. */
  private _attachToChat(type: string, data: Record<string, unknown>): Record<string, unknown> {
    if (type === 'chat_message' && data && !('attachments' in data)) {
      const attachments = this.attachments();
      if (attachments.length) {
        data = { ...data, attachments };
      }
      this._extra = [];
      this._renderChips();
      if (typeof data.conversation_id === 'string') {
        this._conversation = data.conversation_id;
      }
    }
    return data;
  }

  private _panel(path: string): INotebookPanelLike | null {
    for (const w of this.app.shell.widgets('main')) {
      if (isNotebookPanel(w) && w.context.path === path) {
        return w;
      }
    }
    return null;
  }

  private _propose(d: AgentActionRequestData): void {
    if (d.conversation_id) {
      this._conversation = d.conversation_id;
    }
    const answer = (data: Omit<AgentActionResultData, 'proposal_id'>) => {
      card.remove();
      this.conn.send('agent_action_result', { proposal_id: d.proposal_id, ...data });
    };
    const accept = button('Accept', () => void this._apply(d).then(answer), {
      className: 'jp-Button jp-mod-styled jp-mod-accept jp-pygent-accept'
    });
    const reject = button('Reject', () => answer({ decision: 'rejected' }), {
      className: 'jp-Button jp-mod-styled jp-mod-reject jp-pygent-reject'
    });
    const where = d.target.cell_id ? ` (cell ${d.target.cell_id})` : '';
    const card = h(
      'div',
      { className: 'jp-pygent-proposal', 'data-proposal': d.proposal_id, 'data-kind': d.kind },
      h(
        'div',
        { className: 'jp-pygent-proposal-title' },
        `${KIND_LABELS[d.kind] ?? d.kind}${where} in ${d.target.path ?? ''}`
      ),
      h(
        'pre',
        { className: 'jp-pygent-diff' },
        ...d.diff.split('\n').map(line => {
          const cls =
            line.startsWith('+') && !line.startsWith('+++')
              ? 'jp-pygent-add'
              : line.startsWith('-') && !line.startsWith('---')
                ? 'jp-pygent-del'
                : '';
          return h('div', { className: cls }, line || ' ');
        })
      ),
      h('div', { className: 'jp-pygent-actions' }, accept, reject)
    );
    this._cards.append(card);
    if (d.auto_approved) {
      void this._apply(d).then(answer);
    }
  }

  /** Apply a proposal on the live notebook model; the result for `agent_action_result`. */
  private async _apply(
    d: AgentActionRequestData
  ): Promise<Omit<AgentActionResultData, 'proposal_id'>> {
    if (d.kind === 'create_notebook') {
      return { decision: 'approved' };
    }
    const panel = this._panel(String(d.target.path ?? ''));
    const model = panel?.content.model;
    if (!panel || !model) {
      return { decision: 'failed', result: { error: `the notebook ${d.target.path} is not open` } };
    }
    const shared = model.sharedModel;
    const indexOf = (id: unknown) => shared.cells.findIndex(c => c.id === id);
    try {
      if (d.kind === 'insert_cell') {
        const after = d.target.after_cell_id;
        const at = after ? indexOf(after) + 1 : 0;
        if (after && at === 0) {
          throw new Error(`cell ${after} is no longer in the notebook`);
        }
        const cell = shared.insertCell(at, {
          cell_type: d.cell_type ?? 'code',
          source: d.source ?? ''
        });
        return {
          decision: 'applied',
          result: { cell_ids: [cell.id], index: at, after: d.source ?? '' }
        };
      }
      const i = indexOf(d.target.cell_id);
      if (i < 0) {
        throw new Error(`cell ${d.target.cell_id} is no longer in the notebook`);
      }
      const before = shared.cells[i].getSource();
      if (d.kind === 'replace_cell') {
        shared.cells[i].setSource(d.source ?? '');
        return { decision: 'applied', result: { before, after: d.source ?? '', index: i } };
      }
      if (d.kind === 'delete_cell') {
        shared.deleteCell(i);
        return { decision: 'applied', result: { before, after: null, index: i } };
      }
      // run_cell: select it in its notebook and run it through JupyterLab's own command
      this.app.shell.activateById(panel.id);
      panel.content.activeCellIndex = i;
      const ok = await Promise.race([
        this.app.commands.execute('notebook:run-cell'),
        new Promise(resolve => setTimeout(() => resolve('timeout'), 120_000))
      ]);
      if (ok === 'timeout') {
        throw new Error('the cell did not finish within 120 s (is the kernel alive?)');
      }
      const cellModel = model.cells.get(i);
      const outputs = outputsText(cellModel.outputs?.toJSON() ?? []);
      const error = ok === false ? 'the cell raised an error (see its output)' : undefined;
      return { decision: 'applied', result: { outputs, index: i, ...(error ? { error } : {}) } };
    } catch (err) {
      return { decision: 'failed', result: { error: String((err as Error).message ?? err) } };
    }
  }

  /** Undo the last applied action of this chat. */
  async undo(): Promise<void> {
    if (!this._conversation) {
      this._progress.textContent = 'Nothing to undo yet.';
      return;
    }
    try {
      const env = await this.conn.request('agent_undo', {
        conversation_id: this._conversation,
        count: 1
      });
      const plan = env.data as AgentUndoPlanData;
      const applied: number[] = [];
      let error: string | undefined;
      for (const step of plan.steps) {
        const panel = this._panel(String(step.path ?? ''));
        const shared = panel?.content.model?.sharedModel;
        if (step.op !== 'none' && !shared) {
          error = `the notebook ${step.path} is not open`;
          break;
        }
        if (shared && step.op === 'delete_cells') {
          for (const id of step.cell_ids ?? []) {
            const i = shared.cells.findIndex(c => c.id === id);
            if (i >= 0) {
              shared.deleteCell(i);
            }
          }
        } else if (shared && step.op === 'set_source') {
          const cell = shared.cells.find(c => c.id === step.cell_id);
          cell?.setSource(step.source ?? '');
        } else if (shared && step.op === 'insert_cell') {
          const after = step.after_cell_id
            ? shared.cells.findIndex(c => c.id === step.after_cell_id) + 1
            : (step.index ?? 0);
          shared.insertCell(Math.max(0, after), {
            cell_type: step.cell_type ?? 'code',
            source: step.source ?? ''
          });
        }
        if (step.journal_id !== undefined) {
          applied.push(step.journal_id);
        }
      }
      this.conn.send('agent_undo_done', {
        undo_id: plan.undo_id,
        journal_ids: applied,
        ...(error ? { error } : {})
      });
      this._progress.textContent = error ? `Undo stopped: ${error}` : 'Undone.';
    } catch (err) {
      this._progress.textContent = `Undo: ${(err as Error).message}`;
    }
  }

  private _showJournal(d: AgentJournalData): void {
    this._journal.replaceChildren(
      ...d.entries.map(e =>
        h(
          'div',
          { className: `jp-pygent-journal-entry${e.undone ? ' jp-mod-undone' : ''}` },
          `${e.created ?? ''} ${e.kind ?? ''} ${e.path ?? ''} ${(e.cell_ids ?? []).join(', ')}${e.undone ? ' (undone)' : ''}`
        )
      )
    );
  }
}

/**
 * Every code block of an answer gets Copy / Insert below / Replace active cell. The blocks
 * are found in the chat log as they render (a MutationObserver), so the chat tab needs no
 * change; the actions edit the live model of the notebook the panel follows.
 */
export function codeBlockActions(view: NotebookAgentView, chatNode: HTMLElement): MutationObserver {
  const decorate = (pre: HTMLElement) => {
    if (pre.dataset.pygentActions || !pre.closest('.jp-pygent-msg-agent')) {
      return;
    }
    pre.dataset.pygentActions = '1';
    const code = () => (pre.querySelector('code') ?? pre).textContent?.replace(/\n$/, '') ?? '';
    const act = (label: string, cls: string, fn: () => void) =>
      button(label, fn, {
        className: `jp-Button jp-mod-styled jp-pygent-code-${cls}`,
        title: label
      });
    const bar = h(
      'div',
      { className: 'jp-pygent-code-actions' },
      act('Copy', 'copy', () => void navigator.clipboard?.writeText(code())),
      act('Insert below', 'insert', () => {
        const nb = view.current;
        const shared = nb?.content.model?.sharedModel;
        if (nb && shared) {
          const at = Math.max(0, nb.content.activeCellIndex) + 1;
          shared.insertCell(at, { cell_type: 'code', source: code() });
          nb.content.activeCellIndex = at;
        }
      }),
      act('Replace active cell', 'replace', () => {
        view.current?.content.activeCell?.model.sharedModel.setSource(code());
      })
    );
    pre.after(bar);
  };
  const observer = new MutationObserver(() => {
    chatNode.querySelectorAll<HTMLElement>('.jp-pygent-msg-agent pre').forEach(decorate);
  });
  observer.observe(chatNode, { childList: true, subtree: true });
  return observer;
}

/** Put the notebook-agent strip into the chat tab, above its composer. */
export function installNotebookAgent(
  app: JupyterFrontEnd,
  conn: PygentConnection,
  chatNode: HTMLElement
): NotebookAgentView {
  const view = new NotebookAgentView(app, conn);
  const composer = chatNode.querySelector('.jp-pygent-composer');
  chatNode.insertBefore(view.node, composer);
  codeBlockActions(view, chatNode);
  return view;
}
