// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { ISocketLike, PygentConnection } from '../src/connection';
import { PanelContext } from '../src/context';
import { McpTab } from '../src/tabs/mcp';
import { EXAMPLES } from '../src/protocol.generated';

class Socket implements ISocketLike {
  readyState = 0;
  sent: any[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(): void {}
}

async function mcpTab(permissions: string[]) {
  const socket = new Socket();
  const conn = new PygentConnection({
    url: 'ws://h/pygent/ws',
    socketFactory: () => socket,
    pingInterval: 0
  });
  conn.connect();
  socket.readyState = 1;
  socket.onopen?.({});
  const asked: string[] = [];
  const ctx = new PanelContext(conn, null, async path => {
    asked.push(path);
    return { identity: { username: 'u' }, permissions: { 'pygent:mcp': permissions } };
  });
  const tab = new McpTab(ctx);
  await new Promise(r => setTimeout(r, 0));
  const list = socket.sent.find(m => m.type === 'mcp_list_servers');
  socket.onmessage?.({
    data: JSON.stringify({ ...EXAMPLES.mcp_servers, reply_to: list.id, seq: 2 })
  });
  return { tab, socket, asked };
}

describe('MCP tab', () => {
  it('asks Jupyter for pygent:mcp and offers start/stop to users who may', async () => {
    const { tab, asked } = await mcpTab(['execute']);
    expect(decodeURIComponent(asked[0])).toBe('api/me?permissions={"pygent:mcp":["execute"]}');
    const row = tab.node.querySelector('tr[data-server]')!;
    expect(row).not.toBeNull();
    const labels = [...row.querySelectorAll('button')].map(b => b.textContent);
    expect(labels.length).toBe(2);
    expect(labels[1]).toBe('Restart');
  });

  it('shows no start/stop to users who may not', async () => {
    const { tab } = await mcpTab([]);
    const row = tab.node.querySelector('tr[data-server]')!;
    expect(row).not.toBeNull();
    expect(row.querySelectorAll('button')).toHaveLength(0);
  });

  it('lists the servers from mcp_servers with state and tools', async () => {
    const { tab } = await mcpTab([]);
    const servers = (EXAMPLES.mcp_servers.data as any).servers as Array<{
      server_id: string;
      state: string;
    }>;
    const rows = [...tab.node.querySelectorAll('tr[data-server]')];
    expect(rows.map(r => r.getAttribute('data-server')).sort()).toEqual(
      servers.map(s => s.server_id).sort()
    );
    const first = tab.node.querySelector(
      `tr[data-server="${servers[0].server_id}"] .jp-pygent-state`
    )!;
    expect(first.textContent).toBe(servers[0].state);
  });
});

describe('a service that starts after the page connected', () => {
  it('makes the MCP tab list its servers when mcp comes up, without a reload', async () => {
    const socket = new Socket();
    const conn = new PygentConnection({
      url: 'ws://h/pygent/ws',
      socketFactory: () => socket,
      pingInterval: 0
    });
    conn.connect();
    socket.readyState = 1;
    socket.onopen?.({});
    const greeting = { state: 'connected', last_seq: 0, epoch: 'e1', capabilities: ['metrics'] };
    socket.onmessage?.({
      data: JSON.stringify({ type: 'connection_status', seq: 1, data: greeting })
    });
    const tab = new McpTab(new PanelContext(conn, null));
    const first = socket.sent.find(m => m.type === 'mcp_list_servers');
    socket.onmessage?.({
      data: JSON.stringify({
        type: 'error',
        reply_to: first.id,
        seq: 2,
        data: { code: 'unavailable', message: 'the mcp service is still starting' }
      })
    });
    await new Promise(r => setTimeout(r, 0));
    expect(tab.node.textContent).toContain('not running');
    socket.onmessage?.({
      data: JSON.stringify({
        type: 'capabilities',
        seq: 3,
        data: { capabilities: ['metrics', 'mcp'], service: 'mcp', state: 'up' }
      })
    });
    expect(conn.capabilities).toEqual(['metrics', 'mcp']);
    const again = socket.sent.filter(m => m.type === 'mcp_list_servers');
    expect(again).toHaveLength(2);
    socket.onmessage?.({
      data: JSON.stringify({ ...EXAMPLES.mcp_servers, reply_to: again[1].id, seq: 4 })
    });
    await new Promise(r => setTimeout(r, 0));
    expect(tab.node.querySelectorAll('tr[data-server]').length).toBeGreaterThan(0);
  });
});
