/** Chat: streaming answers, agent/model pickers, cancel, conversation history, Markdown. */
import type { Envelope } from '../protocol.generated';
import type {
  BackendErrorData,
  BackendStatusData,
  ChatHistoryData,
  ChatResponseData,
  ChatStreamData,
  ErrorData,
  OllamaModelUpdateData,
  UsageData
} from '../protocol.generated';
import { PanelContext, PygentTab } from '../context';
import {
  button,
  field,
  focusMoveIsUnasked,
  formatTime,
  h,
  movesFocus,
  select,
  setOptions
} from '../dom';
import { renderMarkdown } from '../markdown';
import { StreamingMarkdown } from '../streammd';
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';

/** Pure: a conversation's label, `title · Dec 2 14:05` (the date tells equal titles apart). */
export function conversationLabel(row: Record<string, unknown>): string {
  let title = String(row.title || row.preview || row.first_message || 'untitled')
    .replace(/\s+/g, ' ')
    .trim();
  if (title.length > 48) {
    title = title.slice(0, 47) + '…';
  }
  const when = new Date(String(row.updated ?? row.created ?? ''));
  if (Number.isNaN(when.getTime())) {
    return title;
  }
  const month = when.toLocaleString('en', { month: 'short' });
  const p = (n: number) => String(n).padStart(2, '0');
  return `${title} · ${month} ${when.getDate()} ${p(when.getHours())}:${p(when.getMinutes())}`;
}
import { agentOptions, BUILTIN_AGENTS } from '../agents';
import { SEP, splitModelChoice, usageText } from '../backends';

interface IConversationRow {
  id: string;
  title: string;
  backend?: string;
  model?: string;
}

export class ChatTab extends PygentTab {
  private _agent: HTMLSelectElement;
  private _model: HTMLSelectElement;
  private _history: HTMLSelectElement;
  private _log: HTMLElement;
  private _input: HTMLTextAreaElement;
  private _send: HTMLButtonElement;
  private _cancel: HTMLButtonElement;
  private _typing: HTMLElement;
  private _search: HTMLInputElement;
  private _gauge: HTMLElement;
  private _hasBackends = false;
  private _conversationId: string | undefined;
  private _pending: string | null = null;
  private _offReply: (() => void) | null = null;
  /** The answer streaming now (rendered block by block), and its bubble's state. */
  private _stream: StreamingMarkdown | null = null;
  private _pendingBubble: {
    bubble: HTMLElement;
    body: HTMLElement;
    streamed: () => string;
  } | null = null;
  /** The pending request went out on a socket that has since closed (it will not be answered). */
  private _pendingOrphan = false;
  private _conversations: IConversationRow[] = [];

  constructor(ctx: PanelContext) {
    super(ctx, 'chat', 'Chat');
    this._agent = select(agentOptions(BUILTIN_AGENTS), {
      'aria-label': 'Agent',
      className: 'jp-mod-styled jp-pygent-agent'
    });
    this._model = select([['', 'Default model']], {
      'aria-label': 'Model',
      className: 'jp-mod-styled jp-pygent-model'
    });
    this._history = select([['', 'New conversation']], {
      'aria-label': 'Conversation',
      className: 'jp-mod-styled jp-pygent-history',
      onchange: () => this._openConversation(this._history.value)
    });
    this._log = h('div', {
      className: 'jp-pygent-chat-log',
      role: 'log',
      'aria-live': 'polite',
      'aria-label': 'Chat messages',
      tabindex: 0
    });
    this._typing = h('div', { className: 'jp-pygent-typing', 'aria-live': 'polite' });
    this._gauge = h('div', {
      className: 'jp-pygent-usage',
      'aria-live': 'polite',
      'aria-label': 'Model usage'
    });
    this._input = h('textarea', {
      className: 'jp-pygent-chat-input',
      rows: 3,
      placeholder: 'Ask an agent… (Enter to send, Shift+Enter for a new line)',
      'aria-label': 'Message'
    });
    this._guardFocus();
    this._input.addEventListener('keydown', ev => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.sendMessage();
      } else if (ev.key === 'Escape' && this._pending) {
        ev.preventDefault();
        this.cancel();
      }
    });
    this._send = button('Send', () => this.sendMessage(), {
      className: 'jp-Button jp-mod-styled jp-mod-accept jp-pygent-send'
    });
    this._cancel = button('Cancel', () => this.cancel(), {
      disabled: true,
      className: 'jp-Button jp-mod-styled jp-mod-warn jp-pygent-cancel'
    });
    this._search = h('input', {
      type: 'search',
      className: 'jp-mod-styled jp-pygent-search',
      placeholder: 'Search conversations',
      'aria-label': 'Search conversations'
    });
    let searchTimer: ReturnType<typeof setTimeout> | null = null;
    this._search.addEventListener('input', () => {
      if (searchTimer !== null) {
        clearTimeout(searchTimer);
      }
      searchTimer = setTimeout(() => this._loadConversations(), 250);
    });
    const newChat = button('New chat', () => this.newChat(), {
      className: 'jp-Button jp-mod-styled jp-pygent-new-chat'
    });
    this.node.append(
      h(
        'div',
        { className: 'jp-pygent-toolbar' },
        field('Agent', this._agent),
        field('Model', this._model),
        field('History', this._history),
        newChat
      ),
      h(
        'div',
        { className: 'jp-pygent-toolbar jp-pygent-history-tools' },
        this._search,
        button('Rename', () => void this.renameConversation(), {
          className: 'jp-Button jp-mod-styled jp-pygent-rename',
          title: 'Rename this conversation'
        }),
        button('Delete', () => void this.deleteConversation(), {
          className: 'jp-Button jp-mod-styled jp-mod-warn jp-pygent-delete',
          title: 'Delete this conversation'
        })
      ),
      this._gauge,
      this._log,
      this._typing,
      h(
        'div',
        { className: 'jp-pygent-composer' },
        this._input,
        h('div', { className: 'jp-pygent-actions' }, this._send, this._cancel)
      )
    );
    this._applyDefaultAgent();
    this._watchPending();
    ctx.settingsChanged.connect(this._applyDefaultAgent, this);
    this.track(ctx.conn.on('ollama_model_update', d => this._setModels(d)));
    this.track(ctx.conn.on('backend_status', d => this._setBackends(d)));
    this.track(ctx.conn.on('usage', d => this._setUsage(d)));
    // the model wrote a title for a conversation after its first exchange: relabel it
    this.track(
      ctx.conn.on('chat_history', d => {
        if (d.titled) {
          this._loadConversations();
        }
      })
    );
    // an evolution run registers its winners as agent types usable as `agentId`
    this.track(
      ctx.conn.on('evolution_complete', d => {
        for (const name of d.agent_types ?? []) {
          if (![...this._agent.options].some(o => o.value === name)) {
            this._agent.append(h('option', { value: name }, name));
          }
        }
      })
    );
    if (ctx.conn.state === 'connected') {
      this.onConnected();
    }
  }

  /** Start a fresh conversation (palette command "New chat"). */
  newChat(): void {
    if (this._pending) {
      this.cancel();
    }
    this._conversationId = undefined;
    this._history.value = '';
    this._log.replaceChildren();
    this._input.focus();
  }

  focusInput(): void {
    this._input.focus();
  }

  /**
   * Keep the composer focused while the user works in it. JupyterLab activates main-area
   * widgets late (the layout restorer's Launcher: `MainAreaWidget.onActivateRequest` focuses
   * its content when the message loop gets to it, a second or more after load on a busy
   * page); that focus move must not take the composer away from someone typing or who just
   * sent. A move follows the user's intent only after their own pointer or key input
   * elsewhere (`focusMoveIsUnasked`); an unasked one within `FOCUS_GUARD_MS` of the last
   * keystroke in the composer is undone.
   */
  private _guardFocus(): void {
    let typedAt = -Infinity;
    let intentAt = -Infinity;
    const input = this._input;
    const onIntent = (ev: Event) => {
      if (ev instanceof KeyboardEvent && ev.target === input && !movesFocus(ev)) {
        typedAt = performance.now();
        return;
      }
      intentAt = performance.now();
    };
    document.addEventListener('pointerdown', onIntent, true);
    document.addEventListener('keydown', onIntent, true);
    this.track(() => {
      document.removeEventListener('pointerdown', onIntent, true);
      document.removeEventListener('keydown', onIntent, true);
    });
    input.addEventListener('focusout', ev => {
      const to = ev.relatedTarget as Element | null;
      if (focusMoveIsUnasked(performance.now(), typedAt, intentAt, to)) {
        requestAnimationFrame(() => {
          if (this.isVisible && !input.disabled) {
            input.focus();
          }
        });
      }
    });
  }

  protected onActivateRequest(): void {
    // Activation may be processed a frame late: never steal focus from a control of this
    // panel or from a modal (the command palette, a dialog) opened meanwhile.
    const active = document.activeElement;
    const busy =
      active !== null &&
      active !== document.body &&
      (this.node.contains(active) || active.closest('.lm-CommandPalette, .jp-Dialog') !== null);
    if (this.isVisible && !busy) {
      this._input.focus();
    }
  }

  /** Send the composer's text to the selected agent and stream the answer into the log. */
  sendMessage(): void {
    const content = this._input.value.trim();
    if (!content || this._pending) {
      return;
    }
    this._input.value = '';
    this._append('user', content);
    const bubble = this._append('agent', '');
    bubble.classList.add('jp-pygent-streaming');
    const body = bubble.querySelector('.jp-pygent-body') as HTMLElement;
    let streamed = '';
    this._stream = new StreamingMarkdown(body, this.ctx.rendermime, renderMarkdown);
    this._pendingBubble = { bubble, body, streamed: () => streamed };
    this._pendingOrphan = false;
    const offline = this.ctx.conn.state !== 'connected';
    if (offline) {
      // the connection queues the message and sends it once the socket is back
      const note = h(
        'span',
        { className: 'jp-pygent-badge jp-pygent-queued', role: 'status' },
        'offline: waiting to send'
      );
      (bubble.previousElementSibling?.querySelector('.jp-pygent-meta') ?? bubble).append(note);
      const off = this.ctx.conn.onState(state => {
        if (state === 'connected') {
          note.textContent = 'sent';
          off();
        }
      });
    }
    const conn = this.ctx.conn;
    const id = conn.nextId('m');
    this._pending = id;
    this._setBusy(true);
    this._offReply = conn.onReply(id, (env: Envelope) => {
      switch (env.type) {
        case 'typing_indicator': {
          const t = env.data as {
            active?: boolean;
            fallback?: { from?: string; to?: string; reason?: string }[];
          };
          this._typing.textContent = t.active ? `${this._agent.value} is typing…` : '';
          for (const f of t.active ? (t.fallback ?? []) : []) {
            (bubble.querySelector('.jp-pygent-meta') as HTMLElement).append(
              h(
                'span',
                { className: 'jp-pygent-badge jp-pygent-fallback', role: 'status' },
                `${f.from} is down (${f.reason}): ${f.to} answers`
              )
            );
          }
          break;
        }
        case 'backend_error': {
          const d = env.data as BackendErrorData;
          if (d.fallback) {
            (bubble.querySelector('.jp-pygent-meta') as HTMLElement).append(
              h(
                'span',
                { className: 'jp-pygent-badge jp-pygent-fallback', role: 'status' },
                `${d.backend}: ${d.code}, ${d.fallback} answers`
              )
            );
          }
          break;
        }
        case 'chat_stream': {
          const d = env.data as ChatStreamData;
          streamed += d.delta;
          if (this._stream?.host === body) {
            this._stream.update(streamed); // finished blocks render once; only the tail redraws
          } else {
            body.textContent = streamed;
          }
          if (d.conversation_id) {
            this._conversationId = d.conversation_id;
          }
          this._scroll();
          break;
        }
        case 'tool_call_result': {
          const d = env.data as { tool?: string; server_id?: string; is_error?: boolean };
          const meta = bubble.querySelector('.jp-pygent-meta') as HTMLElement;
          meta.append(
            h(
              'span',
              { className: 'jp-pygent-badge' },
              `tool ${d.server_id}/${d.tool}${d.is_error ? ' failed' : ''}`
            )
          );
          break;
        }
        case 'chat_response': {
          const d = env.data as ChatResponseData;
          this._conversationId = d.conversation_id ?? this._conversationId;
          this._finish(bubble, body, d.message.content, d.message.metadata);
          break;
        }
        case 'error':
        case 'ollama_error': {
          const d = env.data as ErrorData;
          if (env.type === 'error' || !streamed) {
            const cancelled = d.code === 'cancelled';
            this._finish(
              bubble,
              body,
              streamed,
              undefined,
              cancelled ? 'cancelled' : `${d.code}: ${d.message}`
            );
          }
          break;
        }
      }
    });
    const data: {
      message: {
        content: string;
        agentId: string;
        timestamp: string;
        model?: string;
        backend?: string;
      };
      conversation_id?: string;
    } = {
      message: { content, agentId: this._agent.value, timestamp: new Date().toISOString() }
    };
    const [backend, model] = splitModelChoice(this._model.value);
    if (model) {
      data.message.model = model;
    }
    if (backend) {
      data.message.backend = backend;
    }
    if (this._conversationId) {
      data.conversation_id = this._conversationId;
    }
    conn.send('chat_message', data, id);
  }

  /** Cancel the answer being streamed. */
  cancel(): void {
    if (this._pending) {
      this.ctx.conn.send('cancel', { request_id: this._pending });
    }
  }

  protected onConnected(): void {
    this.ctx.conn.send('ollama_list_models', {});
    this.ctx.conn.send('list_backends', {});
    this._askUsage();
    this._loadConversations();
    void this._loadAgents();
  }

  /** The agent names registered on the server (from GET pygent/api/health). */
  private async _loadAgents(): Promise<void> {
    if (!this.ctx.fetchJSON) {
      return;
    }
    try {
      const health = (await this.ctx.fetchJSON('pygent/api/health')) as {
        services?: { agents?: { agents?: unknown } };
      };
      const names = health.services?.agents?.agents;
      if (Array.isArray(names) && names.length) {
        const current = this._agent.value;
        const known = [...this._agent.options].map(o => o.value); // keeps evolved agents
        setOptions(
          this._agent,
          agentOptions([...names.map(String), ...known], this.ctx.settings.defaultAgent)
        );
        this._agent.value = current || this.ctx.settings.defaultAgent;
      }
    } catch (err) {
      console.warn('pygent: could not list agents', err);
    }
  }

  private _loadConversations(): void {
    const query = this._search.value.trim();
    this.ctx.conn
      .request('get_history', query ? { limit: 50, query } : { limit: 50 }, {
        replyTypes: ['chat_history']
      })
      .then(env => this._setConversations(env.data as ChatHistoryData))
      .catch(err => console.warn('pygent: could not load conversations', err));
  }

  protected onResync(): void {
    this.onConnected();
    if (this._pending && this._pendingOrphan) {
      this._interruptPending('the server restarted while answering; send it again');
    }
    // Never reload the log under an answer still streaming into it: the answer would go
    // into a bubble no longer shown.
    if (this._conversationId && !this._pending) {
      void this._openConversation(this._conversationId);
    }
  }

  /** A request that went out before the socket closed is not answered: say so. */
  private _interruptPending(why: string): void {
    const p = this._pendingBubble;
    if (p) {
      this._finish(p.bubble, p.body, p.streamed(), undefined, `interrupted: ${why}`);
    }
  }

  /** Connection state changes while an answer is pending (see `_pendingOrphan`). */
  private _watchPending(): void {
    this.track(
      this.ctx.conn.onState(state => {
        if (state !== 'connected' && this._pending && !this._offline) {
          this._pendingOrphan = true;
        }
        this._offline = state !== 'connected';
      })
    );
    // after a replay, an answer that was neither replayed nor finished never comes
    this.track(
      this.ctx.conn.on('resumed', () => {
        if (this._pending && this._pendingOrphan) {
          this._interruptPending('the connection dropped while answering; send it again');
        }
      })
    );
  }

  private _offline = false;

  dispose(): void {
    this._offReply?.();
    this.ctx.settingsChanged.disconnect(this._applyDefaultAgent, this);
    super.dispose();
  }

  // -- internals -------------------------------------------------------------------------

  private _applyDefaultAgent(): void {
    const agent = this.ctx.settings.defaultAgent;
    if (![...this._agent.options].some(o => o.value === agent)) {
      this._agent.append(h('option', { value: agent }, agent));
    }
    this._agent.value = agent;
  }

  private _setBusy(busy: boolean): void {
    this._send.disabled = busy;
    this._cancel.disabled = !busy;
    this._log.setAttribute('aria-busy', String(busy));
  }

  private _finish(
    bubble: HTMLElement,
    body: HTMLElement,
    content: string,
    metadata?: Record<string, unknown>,
    error?: string
  ): void {
    this._offReply?.();
    this._offReply = null;
    this._pending = null;
    this._typing.textContent = '';
    this._setBusy(false);
    bubble.classList.remove('jp-pygent-streaming');
    const stream = this._stream?.host === body ? this._stream : null;
    this._stream = null;
    this._pendingBubble = null;
    this._pendingOrphan = false;
    if (content && stream) {
      void stream.finish(content).then(() => this._scroll());
    } else if (content) {
      void renderMarkdown(body, content, this.ctx.rendermime).then(() => this._scroll());
    }
    const meta = bubble.querySelector('.jp-pygent-meta') as HTMLElement;
    if (error) {
      bubble.classList.add('jp-pygent-error');
      meta.append(h('span', { className: 'jp-pygent-error-text', role: 'alert' }, ` ${error}`));
    } else if (metadata?.incomplete) {
      bubble.classList.add('jp-pygent-incomplete');
      const reason = String(metadata.reason ?? 'stopped');
      meta.append(
        h(
          'span',
          { className: 'jp-pygent-error-text' },
          ` · ${reason === 'cancelled' ? 'cancelled' : `incomplete (${reason})`}`
        )
      );
    } else if (metadata) {
      const parts: string[] = [];
      if (metadata.model) {
        parts.push(
          metadata.backend ? `${metadata.model} @ ${metadata.backend}` : String(metadata.model)
        );
      }
      if (typeof metadata.cost === 'number') {
        parts.push(`${metadata.cost.toFixed(4)} ${String(metadata.currency ?? '')}`.trim());
      }
      if (typeof metadata.tokens_per_s === 'number') {
        parts.push(`${metadata.tokens_per_s.toFixed(1)} tok/s`);
      }
      if (typeof metadata.processing_time === 'number') {
        parts.push(`${metadata.processing_time.toFixed(2)} s`);
      }
      meta.append(` · ${parts.join(' · ')}`);
    }
    if (this._conversationId && !this._conversations.some(c => c.id === this._conversationId)) {
      this._loadConversations();
    }
    this._scroll();
  }

  private _append(role: string, content: string, when?: string, agent?: string): HTMLElement {
    const body = h('div', { className: 'jp-pygent-body' });
    const bubble = h(
      'div',
      { className: `jp-pygent-msg jp-pygent-msg-${role === 'user' ? 'user' : 'agent'}` },
      h(
        'div',
        { className: 'jp-pygent-meta' },
        `${role === 'user' ? 'You' : (agent ?? this._agent.value)} · ${formatTime(when)}`
      ),
      body
    );
    if (content) {
      if (role === 'user') {
        body.textContent = content;
      } else {
        void renderMarkdown(body, content, this.ctx.rendermime);
      }
    }
    this._log.append(bubble);
    this._scroll();
    return bubble;
  }

  private _scroll(): void {
    this._log.scrollTop = this._log.scrollHeight;
  }

  private _askUsage(): void {
    this.ctx.conn.send(
      'get_usage',
      this._conversationId ? { conversation_id: this._conversationId } : {}
    );
  }

  private _setUsage(d: UsageData): void {
    const conv = d.conversation?.conversation_id;
    if (conv && conv !== this._conversationId) {
      return;
    }
    this._gauge.textContent = usageText(d);
    this._gauge.classList.toggle('jp-pygent-usage-exceeded', Boolean(d.budget?.exceeded));
  }

  /** Every backend's models, labelled with the backend and whether they can call tools. */
  private _setBackends(d: BackendStatusData): void {
    const options: [string, string][] = [['', 'Default model']];
    for (const b of d.backends ?? []) {
      for (const m of b.models ?? []) {
        if (m.name) {
          const tools = (m.tools ?? b.tools) ? ' · tools' : '';
          options.push([`${b.name}${SEP}${m.name}`, `${m.name} · ${b.name}${tools}`]);
        }
      }
    }
    this._hasBackends = options.length > 1;
    if (this._hasBackends) {
      const current = this._model.value;
      setOptions(this._model, options);
      if (options.some(o => o[0] === current)) {
        this._model.value = current;
      }
    }
  }

  private _setModels(d: OllamaModelUpdateData): void {
    if (this._hasBackends) {
      return; // backend_status lists these too, with their backend
    }
    const models = Array.isArray(d.models) ? d.models : [];
    const names = models
      .map(m => (typeof m === 'string' ? m : (m as { name?: string }).name))
      .filter((n): n is string => typeof n === 'string' && n.length > 0);
    setOptions(this._model, [['', 'Default model'], ...names.map((n): [string, string] => [n, n])]);
  }

  /** Retitle the open conversation (asks for the new title). */
  async renameConversation(title?: string): Promise<void> {
    const id = this._conversationId;
    if (!id) {
      return;
    }
    if (title === undefined) {
      const current = this._conversations.find(c => c.id === id)?.title.split(' · ')[0] ?? '';
      const result = await InputDialog.getText({ title: 'Rename conversation', text: current });
      if (!result.button.accept || !result.value?.trim()) {
        return;
      }
      title = result.value.trim();
    }
    try {
      await this.ctx.conn.request('rename_conversation', { conversation_id: id, title });
      this._loadConversations();
    } catch (err) {
      this._typing.textContent = `Could not rename: ${(err as Error).message}`;
    }
  }

  /** Delete the open conversation (after a confirmation unless `confirm` is false). */
  async deleteConversation(confirm = true): Promise<void> {
    const id = this._conversationId;
    if (!id) {
      return;
    }
    if (confirm) {
      const answer = await showDialog({
        title: 'Delete conversation',
        body: 'Delete this conversation and all its messages? This cannot be undone.',
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
      });
      if (!answer.button.accept) {
        return;
      }
    }
    try {
      await this.ctx.conn.request('delete_conversation', { conversation_id: id });
      this.newChat();
      this._loadConversations();
    } catch (err) {
      this._typing.textContent = `Could not delete: ${(err as Error).message}`;
    }
  }

  private _setConversations(d: ChatHistoryData): void {
    const rows = Array.isArray(d.conversations) ? d.conversations : [];
    this._conversations = rows
      .map(r => {
        const id = String(r.conversation_id ?? r.id ?? '');
        const title = conversationLabel(r as Record<string, unknown>);
        const backend = typeof r.backend === 'string' ? r.backend : undefined;
        const model = typeof r.model === 'string' ? r.model : undefined;
        return { id, title, backend, model };
      })
      .filter(r => r.id);
    setOptions(this._history, [
      ['', 'New conversation'],
      ...this._conversations.map((c): [string, string] => [c.id, c.title])
    ]);
    if (this._conversationId) {
      this._history.value = this._conversationId;
    }
  }

  private async _openConversation(id: string): Promise<void> {
    if (!id) {
      this.newChat();
      return;
    }
    try {
      const env = await this.ctx.conn.request('get_history', { conversation_id: id, limit: 200 });
      const d = env.data as ChatHistoryData;
      this._conversationId = id;
      this._log.replaceChildren();
      // the model picked for this conversation sticks
      const row = this._conversations.find(c => c.id === id);
      if (row?.model) {
        const value =
          row.backend && this._hasBackends ? `${row.backend}${SEP}${row.model}` : row.model;
        if ([...this._model.options].some(o => o.value === value)) {
          this._model.value = value;
        }
      }
      this._askUsage();
      for (const m of d.messages ?? []) {
        const role = String(m.role ?? m.type ?? 'agent');
        const bubble = this._append(
          role === 'user' ? 'user' : 'agent',
          String(m.content ?? ''),
          (m.created ?? m.timestamp) as string | undefined,
          typeof m.agentId === 'string' ? m.agentId : undefined
        );
        if (m.status === 'incomplete') {
          bubble.classList.add('jp-pygent-incomplete');
          bubble.querySelector('.jp-pygent-meta')!.append(' · incomplete');
        }
      }
    } catch (err) {
      this._log.append(
        h(
          'div',
          { className: 'jp-pygent-error-text', role: 'alert' },
          `Could not load the conversation: ${(err as Error).message}`
        )
      );
    }
  }
}
