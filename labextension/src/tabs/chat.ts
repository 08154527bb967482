/** Chat: streaming answers, agent/model pickers, cancel, conversation history, Markdown. */
import type { Envelope } from '../protocol.generated';
import type {
  ChatHistoryData,
  ChatResponseData,
  ChatStreamData,
  ErrorData,
  OllamaModelUpdateData
} from '../protocol.generated';
import { PanelContext, PygentTab } from '../context';
import { button, field, formatTime, h, select, setOptions } from '../dom';
import { renderMarkdown } from '../markdown';
import { agentOptions, BUILTIN_AGENTS } from '../agents';

interface IConversationRow {
  id: string;
  title: string;
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
  private _conversationId: string | undefined;
  private _pending: string | null = null;
  private _offReply: (() => void) | null = null;
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
    this._input = h('textarea', {
      className: 'jp-pygent-chat-input',
      rows: 3,
      placeholder: 'Ask an agent… (Enter to send, Shift+Enter for a new line)',
      'aria-label': 'Message'
    });
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
    ctx.settingsChanged.connect(this._applyDefaultAgent, this);
    this.track(ctx.conn.on('ollama_model_update', d => this._setModels(d)));
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
    const conn = this.ctx.conn;
    const id = conn.nextId('m');
    this._pending = id;
    this._setBusy(true);
    this._offReply = conn.onReply(id, (env: Envelope) => {
      switch (env.type) {
        case 'typing_indicator':
          this._typing.textContent = (env.data as { active?: boolean }).active
            ? `${this._agent.value} is typing…`
            : '';
          break;
        case 'chat_stream': {
          const d = env.data as ChatStreamData;
          streamed += d.delta;
          body.textContent = streamed;
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
      message: { content: string; agentId: string; timestamp: string; model?: string };
      conversation_id?: string;
    } = {
      message: { content, agentId: this._agent.value, timestamp: new Date().toISOString() }
    };
    if (this._model.value) {
      data.message.model = this._model.value;
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
    this.ctx.conn
      .request('get_history', { limit: 50 }, { replyTypes: ['chat_history'] })
      .then(env => this._setConversations(env.data as ChatHistoryData))
      .catch(err => console.warn('pygent: could not load conversations', err));
  }

  protected onResync(): void {
    this.onConnected();
    if (this._conversationId) {
      void this._openConversation(this._conversationId);
    }
  }

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
    if (content) {
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
        parts.push(String(metadata.model));
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

  private _setModels(d: OllamaModelUpdateData): void {
    const models = Array.isArray(d.models) ? d.models : [];
    const names = models
      .map(m => (typeof m === 'string' ? m : (m as { name?: string }).name))
      .filter((n): n is string => typeof n === 'string' && n.length > 0);
    setOptions(this._model, [['', 'Default model'], ...names.map((n): [string, string] => [n, n])]);
  }

  private _setConversations(d: ChatHistoryData): void {
    const rows = Array.isArray(d.conversations) ? d.conversations : [];
    this._conversations = rows
      .map(r => {
        const id = String(r.conversation_id ?? r.id ?? '');
        const title = String(r.title ?? r.preview ?? r.first_message ?? id).slice(0, 60);
        return { id, title };
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
