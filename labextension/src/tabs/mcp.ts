/** MCP: configured servers with state, health and tools; call a tool; start/stop if allowed. */
import type {
  McpServerHealthData,
  McpServersData,
  McpServerStatusData,
  ToolCallResultData,
  ToolDiscoveredData
} from '../protocol.generated';
import { PanelContext, PygentTab } from '../context';
import { button, field, h, select, setOptions } from '../dom';

interface ITool {
  name: string;
  description?: string;
  input_schema?: {
    properties?: Record<string, { type?: string; default?: unknown }>;
    required?: string[];
  };
}

interface IServer {
  id: string;
  status?: McpServerStatusData;
  health?: McpServerHealthData;
  tools: ITool[];
}

/** Pure: a starting JSON arguments object for a tool from its input schema. */
export function argumentSkeleton(tool: ITool | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const props = tool?.input_schema?.properties ?? {};
  const required = new Set(tool?.input_schema?.required ?? []);
  for (const [name, schema] of Object.entries(props)) {
    if (!required.has(name) && schema.default === undefined) {
      continue;
    }
    if (schema.default !== undefined) {
      out[name] = schema.default;
    } else {
      out[name] =
        schema.type === 'number' || schema.type === 'integer'
          ? 0
          : schema.type === 'boolean'
            ? false
            : schema.type === 'object'
              ? {}
              : schema.type === 'array'
                ? []
                : '';
    }
  }
  return out;
}

export class McpTab extends PygentTab {
  private _servers = new Map<string, IServer>();
  private _table: HTMLTableSectionElement;
  private _serverSelect: HTMLSelectElement;
  private _toolSelect: HTMLSelectElement;
  private _args: HTMLTextAreaElement;
  private _result: HTMLElement;
  private _call: HTMLButtonElement;
  private _notice: HTMLElement;
  /** Whether this user may start/stop/restart servers (`pygent:mcp`). */
  canManage = false;

  constructor(ctx: PanelContext) {
    super(ctx, 'mcp', 'MCP');
    this._table = h('tbody');
    this._notice = h(
      'div',
      { className: 'jp-pygent-summary', 'aria-live': 'polite' },
      'Loading servers…'
    );
    this._serverSelect = select([], { 'aria-label': 'Server', onchange: () => this._fillTools() });
    this._toolSelect = select([], { 'aria-label': 'Tool', onchange: () => this._fillArgs() });
    this._args = h('textarea', {
      className: 'jp-pygent-args',
      rows: 4,
      'aria-label': 'Tool arguments (JSON)',
      spellcheck: 'false'
    });
    this._result = h('pre', { className: 'jp-pygent-result', 'aria-live': 'polite', tabindex: 0 });
    this._call = button('Call tool', () => void this.callTool(), {
      className: 'jp-Button jp-mod-styled jp-mod-accept jp-pygent-call'
    });
    this.node.append(
      h(
        'div',
        { className: 'jp-pygent-toolbar' },
        button('Refresh', () => this.refresh(), {
          className: 'jp-Button jp-mod-styled jp-pygent-refresh'
        })
      ),
      this._notice,
      h(
        'table',
        { className: 'jp-pygent-table jp-pygent-mcp-servers', 'aria-label': 'MCP servers' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, 'Server'),
            h('th', { scope: 'col' }, 'State'),
            h('th', { scope: 'col' }, 'Health'),
            h('th', { scope: 'col' }, 'Tools'),
            h('th', { scope: 'col' }, 'Actions')
          )
        ),
        this._table
      ),
      h('h3', {}, 'Call a tool'),
      h(
        'div',
        { className: 'jp-pygent-toolbar' },
        field('Server', this._serverSelect),
        field('Tool', this._toolSelect)
      ),
      field('Arguments (JSON)', this._args),
      h('div', { className: 'jp-pygent-toolbar' }, this._call),
      this._result
    );
    this.track(ctx.conn.on('mcp_servers', d => this._setServers(d)));
    this.track(
      ctx.conn.on('mcp_server_status', d => {
        if (d.removed) {
          this._servers.delete(d.server_id);
        } else {
          this._server(d.server_id).status = d;
        }
        this._render();
      })
    );
    this.track(
      ctx.conn.on('mcp_server_health', d => {
        this._server(d.server_id).health = d;
        this._render();
      })
    );
    this.track(
      ctx.conn.on('tool_discovered', d => {
        const tools = Array.isArray((d as ToolDiscoveredData).tools) ? (d.tools as ITool[]) : [];
        this._server(d.server_id).tools = tools;
        this._render();
      })
    );
    void this._checkPermission();
    if (ctx.conn.state === 'connected') {
      this.refresh();
    }
  }

  /** Ask for the configured servers (answered by `mcp_servers`). */
  refresh(): void {
    this.ctx.conn
      .request('mcp_list_servers', {}, { timeout: 10_000, replyTypes: ['mcp_servers'] })
      .then(env => this._setServers(env.data as McpServersData))
      .catch(err => {
        const code = (err as { code?: string }).code;
        if (code === 'timeout' && this._servers.size === 0) {
          this._notice.textContent = 'No MCP servers reported by the server.';
        } else if (code === 'unknown_type' || code === 'unavailable') {
          this._notice.textContent = 'The MCP service is not running on this server.';
        } else if (this._servers.size === 0) {
          this._notice.textContent = `Could not list servers: ${(err as Error).message}`;
        }
      });
  }

  async callTool(): Promise<void> {
    const serverId = this._serverSelect.value;
    const tool = this._toolSelect.value;
    if (!serverId || !tool) {
      this._result.textContent = 'Pick a running server and one of its tools.';
      return;
    }
    let args: Record<string, unknown>;
    try {
      args = this._args.value.trim() ? JSON.parse(this._args.value) : {};
      if (typeof args !== 'object' || args === null || Array.isArray(args)) {
        throw new Error('arguments must be a JSON object');
      }
    } catch (err) {
      this._result.textContent = `Invalid arguments: ${(err as Error).message}`;
      return;
    }
    this._call.disabled = true;
    this._result.textContent = `Calling ${tool}…`;
    try {
      const env = await this.ctx.conn.request(
        'mcp_call_tool',
        { server_id: serverId, tool, arguments: args },
        { replyTypes: ['tool_call_result'] }
      );
      const d = env.data as ToolCallResultData;
      const content = Array.isArray(d.content) ? d.content : [];
      const text = content
        .map(c =>
          c && typeof c === 'object' && 'text' in c
            ? String((c as { text: unknown }).text)
            : JSON.stringify(c)
        )
        .join('\n');
      const took = typeof d.duration_ms === 'number' ? ` (${d.duration_ms.toFixed(1)} ms)` : '';
      const detail = text || d.error?.message || JSON.stringify(d.structured_content ?? d, null, 2);
      this._result.textContent = `${d.is_error ? 'Tool error' : 'Result'}${took}:\n${detail}`;
    } catch (err) {
      this._result.textContent = `Call failed: ${(err as Error).message}`;
    } finally {
      this._call.disabled = false;
    }
  }

  protected onConnected(): void {
    this.refresh();
  }

  private async _checkPermission(): Promise<void> {
    // Jupyter's own permission query: what may this user do on resource "pygent:mcp"?
    if (!this.ctx.fetchJSON) {
      return;
    }
    try {
      const q = encodeURIComponent(JSON.stringify({ 'pygent:mcp': ['execute'] }));
      const me = (await this.ctx.fetchJSON(`api/me?permissions=${q}`)) as {
        permissions?: Record<string, string[]>;
      };
      this.canManage = (me.permissions?.['pygent:mcp'] ?? []).includes('execute');
      this._render();
    } catch (err) {
      console.warn('pygent: could not query permissions', err);
    }
  }

  private _setServers(d: McpServersData): void {
    const seen = new Set<string>();
    for (const entry of d.servers ?? []) {
      seen.add(entry.server_id);
      const s = this._server(entry.server_id);
      const { tools, ...status } = entry;
      s.status = { since: '', ...s.status, ...status } as McpServerStatusData;
      if (Array.isArray(tools)) {
        s.tools = tools as ITool[];
      }
    }
    for (const id of [...this._servers.keys()]) {
      if (!seen.has(id)) {
        this._servers.delete(id);
      }
    }
    if (d.config_state === 'invalid') {
      this._notice.textContent = `The MCP configuration is invalid: ${d.config_error ?? 'unknown error'}`;
    } else if (this._servers.size === 0) {
      this._notice.textContent =
        'No MCP servers are configured (an administrator lists them in pygent-mcp.json).';
    }
    this._render();
  }

  private _server(id: string): IServer {
    let s = this._servers.get(id);
    if (!s) {
      s = { id, tools: [] };
      this._servers.set(id, s);
    }
    return s;
  }

  private _action(id: string, action: 'start' | 'stop' | 'restart'): void {
    this.ctx.conn
      .request('mcp_server_action', { server_id: id, action }, { timeout: 60_000 })
      .catch(err => {
        this._notice.textContent = `${action} ${id} failed: ${(err as Error).message}`;
        if ((err as { code?: string }).code === 'forbidden') {
          this.canManage = false;
          this._render();
        }
      });
  }

  private _render(): void {
    const rows = [...this._servers.values()].sort((a, b) => a.id.localeCompare(b.id));
    if (rows.length) {
      this._notice.textContent = `${rows.length} server${rows.length === 1 ? '' : 's'}`;
    }
    this._table.replaceChildren(
      ...rows.map(s => {
        const state = String(s.status?.state ?? 'unknown');
        const hl = s.health ?? ({} as McpServerHealthData);
        const health = [
          typeof hl.ping_ms === 'number' ? `ping ${hl.ping_ms.toFixed(1)} ms` : '',
          typeof hl.uptime === 'number' ? `up ${Math.round(hl.uptime)} s` : '',
          hl.last_error
            ? `error: ${hl.last_error}`
            : s.status?.error
              ? `error: ${s.status.error}`
              : ''
        ]
          .filter(Boolean)
          .join(' · ');
        const running = state === 'running';
        const actions = this.canManage
          ? [
              button(
                running ? 'Stop' : 'Start',
                () => this._action(s.id, running ? 'stop' : 'start'),
                { 'aria-label': `${running ? 'Stop' : 'Start'} ${s.id}` }
              ),
              button('Restart', () => this._action(s.id, 'restart'), {
                'aria-label': `Restart ${s.id}`,
                disabled: !running
              })
            ]
          : [];
        const tools = h(
          'details',
          {},
          h('summary', {}, `${s.tools.length} tool${s.tools.length === 1 ? '' : 's'}`),
          h(
            'ul',
            {},
            ...s.tools.map(t =>
              h('li', {}, h('code', {}, t.name), t.description ? ` – ${t.description}` : '')
            )
          )
        );
        return h(
          'tr',
          { 'data-server': s.id },
          h('td', {}, s.id),
          h('td', {}, h('span', { className: `jp-pygent-state jp-pygent-state-${state}` }, state)),
          h('td', {}, health || '–'),
          h('td', {}, tools),
          h('td', {}, ...actions)
        );
      })
    );
    const runningWithTools = rows.filter(s => s.tools.length > 0 && s.status?.state === 'running');
    setOptions(
      this._serverSelect,
      runningWithTools.map((s): [string, string] => [s.id, s.id])
    );
    this._fillTools();
  }

  private _fillTools(): void {
    const s = this._servers.get(this._serverSelect.value);
    const before = this._toolSelect.value;
    setOptions(
      this._toolSelect,
      (s?.tools ?? []).map((t): [string, string] => [t.name, t.name])
    );
    if (this._toolSelect.value !== before || !this._args.value) {
      this._fillArgs();
    }
  }

  private _fillArgs(): void {
    const s = this._servers.get(this._serverSelect.value);
    const tool = s?.tools.find(t => t.name === this._toolSelect.value);
    this._args.value = JSON.stringify(argumentSkeleton(tool), null, 1);
  }
}
