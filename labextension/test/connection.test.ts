import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  backoffDelay,
  connectionOptionsFromSettings,
  ISocketLike,
  PygentConnection,
  PygentRequestError,
  socketUrl
} from '../src/connection';
import { EXAMPLES } from '../src/protocol.generated';

/** A scriptable stand-in for the browser WebSocket. */
class FakeSocket implements ISocketLike {
  readyState = 0;
  sent: any[] = [];
  closed: { code?: number; reason?: string } | null = null;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string): void {
    if (this.readyState !== 1) {
      throw new Error('send on a socket that is not open');
    }
    this.sent.push(JSON.parse(data));
  }
  close(code?: number, reason?: string): void {
    this.closed = { code, reason };
    this.readyState = 3;
  }
  // test helpers
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  serverSends(env: object): void {
    this.onmessage?.({ data: JSON.stringify(env) });
  }
  greet(lastSeq: number, seq: number, epoch = 'e1', capabilities?: string[]): void {
    this.serverSends({
      type: 'connection_status',
      seq,
      data: {
        state: 'connected',
        last_seq: lastSeq,
        client_id: 'x',
        epoch,
        ...(capabilities ? { capabilities } : {})
      }
    });
  }
  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
}

function setup(opts: Partial<ConstructorParameters<typeof PygentConnection>[0]> = {}) {
  const sockets: FakeSocket[] = [];
  const conn = new PygentConnection({
    url: 'ws://h/user/alice/pygent/ws',
    clientId: 'lab-test',
    socketFactory: url => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    random: () => 0.5,
    pingInterval: 0,
    ...opts
  });
  return { conn, sockets };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('addressing', () => {
  it('builds the URL from server settings under a JupyterHub base URL', () => {
    const o = connectionOptionsFromSettings({
      wsUrl: 'wss://hub.example/user/alice/',
      token: 'tok en',
      appendToken: true
    });
    expect(o.url).toBe('wss://hub.example/user/alice/pygent/ws');
    expect(socketUrl(o.url, 'c1', o.token)).toBe(
      'wss://hub.example/user/alice/pygent/ws?client_id=c1&token=tok%20en'
    );
  });

  it('leaves the token out when the cookie authenticates', () => {
    const o = connectionOptionsFromSettings({
      wsUrl: 'ws://localhost:8888',
      token: 'secret',
      appendToken: false
    });
    expect(o).toEqual({ url: 'ws://localhost:8888/pygent/ws', token: undefined });
    expect(socketUrl(o.url, 'c1', o.token)).not.toContain('secret');
  });
});

describe('backoff', () => {
  it('grows exponentially, is capped, and is jittered within [cap/2, cap]', () => {
    const opts = { initialDelay: 100, maxDelay: 1000, factor: 2 };
    expect(backoffDelay(1, opts, () => 0)).toBe(50);
    expect(backoffDelay(1, opts, () => 0.999999)).toBe(100);
    expect(backoffDelay(3, opts, () => 0.999999)).toBe(400);
    expect(backoffDelay(10, opts, () => 0.999999)).toBe(1000);
    expect(backoffDelay(10, opts, () => 0)).toBe(500);
    const delays = new Set(Array.from({ length: 20 }, () => backoffDelay(4, opts)));
    expect(delays.size).toBeGreaterThan(1); // real jitter spreads reconnecting tabs
  });

  it('reconnects after the jittered delay, not before', () => {
    const { conn, sockets } = setup({ backoff: { initialDelay: 1000, maxDelay: 8000, factor: 2 } });
    const states: string[] = [];
    conn.onState(s => states.push(s));
    conn.connect();
    sockets[0].open();
    sockets[0].drop();
    expect(conn.state).toBe('reconnecting');
    vi.advanceTimersByTime(749); // attempt 1: cap 1000, random 0.5 -> 750
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(2);
    sockets[1].drop(); // attempt 2: cap 2000 -> 1500
    vi.advanceTimersByTime(1499);
    expect(sockets).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(3);
    sockets[2].open();
    expect(conn.attempt).toBe(0);
    expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
  });

  it('gives up after maxAttempts with connection_failed', () => {
    const { conn, sockets } = setup({ maxAttempts: 2 });
    const errors: any[] = [];
    const failed: any[] = [];
    conn.on('connection_error', d => errors.push(d));
    conn.on('connection_failed', d => failed.push(d));
    conn.connect();
    sockets[0].drop();
    vi.advanceTimersByTime(60_000);
    sockets[1].drop();
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(2);
    expect(conn.state).toBe('failed');
    expect(errors.map(e => e.attempt)).toEqual([1, 2]);
    expect(failed[0].attempts).toBe(2);
  });
});

describe('typed events and requests', () => {
  it('dispatches typed events by type and by reply_to', () => {
    const { conn, sockets } = setup();
    conn.connect();
    sockets[0].open();
    const deltas: string[] = [];
    conn.on('chat_stream', d => deltas.push(d.delta));
    const id = conn.send('chat_message', { message: { content: 'hi', agentId: 'general' } });
    const replies: string[] = [];
    conn.onReply(id, env => replies.push(env.type));
    expect(sockets[0].sent[0]).toEqual({
      type: 'chat_message',
      id,
      data: { message: { content: 'hi', agentId: 'general' } }
    });
    for (const [i, delta] of ['Hel', 'lo'].entries()) {
      sockets[0].serverSends({
        type: 'chat_stream',
        reply_to: id,
        seq: 10 + i,
        data: { message_id: 'm', delta }
      });
    }
    sockets[0].serverSends({ ...EXAMPLES.chat_response, reply_to: id, seq: 12 });
    expect(deltas).toEqual(['Hel', 'lo']);
    expect(replies).toEqual(['chat_stream', 'chat_stream', 'chat_response']);
    expect(conn.lastSeq).toBe(12);
  });

  it('request() resolves on the reply and rejects on error with the stable code', async () => {
    const { conn, sockets } = setup();
    conn.connect();
    sockets[0].open();
    const ok = conn.request('memory_search', { query: 'gpu' });
    const sent = sockets[0].sent.at(-1);
    sockets[0].serverSends({
      type: 'memory_update',
      reply_to: sent.id,
      seq: 3,
      data: { kind: 'results', results: [] }
    });
    await expect(ok).resolves.toMatchObject({ type: 'memory_update' });

    const bad = conn.request('mcp_server_action', { server_id: 'time', action: 'stop' });
    const sent2 = sockets[0].sent.at(-1);
    sockets[0].serverSends({
      type: 'error',
      reply_to: sent2.id,
      seq: 4,
      data: { code: 'forbidden', message: 'needs pygent:mcp' }
    });
    const err = await bad.catch(e => e);
    expect(err).toBeInstanceOf(PygentRequestError);
    expect(err.code).toBe('forbidden');
  });

  it('request() times out', async () => {
    const { conn, sockets } = setup();
    conn.connect();
    sockets[0].open();
    const p = conn.request('ping', {}, { timeout: 1000 });
    vi.advanceTimersByTime(1001);
    await expect(p).rejects.toMatchObject({ code: 'timeout' });
  });

  it('ignores frames that are not JSON envelopes', () => {
    const { conn, sockets } = setup();
    conn.connect();
    sockets[0].open();
    const seen: string[] = [];
    conn.onAny(e => seen.push(e.type));
    sockets[0].onmessage?.({ data: 'not json' });
    sockets[0].onmessage?.({ data: '[1,2]' });
    sockets[0].serverSends(EXAMPLES.pong);
    expect(seen).toEqual(['pong']);
  });
});

describe('offline queue, resume and subscriptions', () => {
  it('queues commands while disconnected and flushes them in order after open', () => {
    const { conn, sockets } = setup({ maxQueue: 2 });
    conn.connect();
    conn.send('ping', { ts: 1 });
    conn.send('ping', { ts: 2 });
    conn.send('ping', { ts: 3 }); // pushes out ts:1
    sockets[0].open();
    expect(sockets[0].sent.map(m => m.data.ts)).toEqual([2, 3]);
  });

  it('resumes from the last seq and epoch after a reconnect, ignoring greeting seqs', () => {
    const { conn, sockets } = setup();
    conn.connect();
    sockets[0].open();
    sockets[0].greet(0, 1);
    sockets[0].serverSends({ type: 'chat_stream', seq: 41, data: { message_id: 'm', delta: 'x' } });
    sockets[0].drop();
    vi.advanceTimersByTime(60_000);
    sockets[1].open();
    expect(sockets[1].sent).toEqual([]); // resume waits for the greeting
    sockets[1].greet(44, 45); // events 42..44 happened while we were away
    expect(sockets[1].sent).toEqual([
      expect.objectContaining({ type: 'resume', data: { last_seq: 41, epoch: 'e1' } })
    ]);
    const replayed: number[] = [];
    conn.on('chat_stream', (_d, env) => replayed.push(env.seq!));
    for (const seq of [42, 43, 43]) {
      sockets[1].serverSends({ type: 'chat_stream', seq, data: { message_id: 'm', delta: 'y' } });
    }
    expect(replayed).toEqual([42, 43]); // the duplicate 43 is dropped
  });

  it('does not resume on the first connection', () => {
    const { conn, sockets } = setup();
    conn.connect();
    sockets[0].open();
    sockets[0].greet(10, 11);
    expect(sockets[0].sent).toEqual([]);
  });

  it('signals resync instead of resuming when the server restarted', () => {
    const { conn, sockets } = setup();
    const resyncs: string[] = [];
    conn.onResync(i => resyncs.push(i.reason));
    conn.connect();
    sockets[0].open();
    sockets[0].greet(0, 100);
    sockets[0].drop();
    vi.advanceTimersByTime(60_000);
    sockets[1].open();
    sockets[1].greet(0, 1, 'e2');
    expect(sockets[1].sent.filter(m => m.type === 'resume')).toEqual([]);
    expect(resyncs).toEqual(['server_restarted']);
    expect(conn.lastSeq).toBe(1);
  });

  it('signals resync when the server answers resume with error{code:resync}', () => {
    const { conn, sockets } = setup();
    const resyncs: string[] = [];
    conn.onResync(i => resyncs.push(i.reason));
    conn.connect();
    sockets[0].open();
    sockets[0].serverSends({ type: 'error', seq: 5, data: { code: 'resync', message: 'gone' } });
    expect(resyncs).toEqual(['buffer_evicted']);
  });

  it('reference-counts topics and re-subscribes after a reconnect', () => {
    const { conn, sockets } = setup();
    conn.connect();
    sockets[0].open();
    sockets[0].greet(0, 1);
    const a = conn.subscribe('metrics');
    const b = conn.subscribe('metrics');
    expect(sockets[0].sent.map(m => m.type)).toEqual(['subscribe']);
    a();
    a(); // releasing twice is harmless
    expect(sockets[0].sent.map(m => m.type)).toEqual(['subscribe']);
    sockets[0].drop();
    vi.advanceTimersByTime(60_000);
    sockets[1].open();
    sockets[1].greet(5, 6);
    expect(sockets[1].sent.map(m => m.type)).toEqual(['resume', 'subscribe']);
    expect(sockets[1].sent[1]).toMatchObject({ type: 'subscribe', data: { topics: ['metrics'] } });
    b();
    expect(sockets[1].sent.at(-1)).toMatchObject({
      type: 'unsubscribe',
      data: { topics: ['metrics'] }
    });
    expect(conn.topics).toEqual([]);
  });

  it('reconnects when pings go unanswered', () => {
    const { conn, sockets } = setup({ pingInterval: 1000 });
    conn.connect();
    sockets[0].open();
    vi.advanceTimersByTime(2000);
    expect(sockets[0].sent.filter(m => m.type === 'ping')).toHaveLength(2);
    vi.advanceTimersByTime(1000);
    expect(sockets[0].closed).not.toBeNull();
    expect(sockets).toHaveLength(2);
  });

  it('keeps the link when pongs come back', () => {
    const { conn, sockets } = setup({ pingInterval: 1000 });
    conn.connect();
    sockets[0].open();
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(1000);
      sockets[0].serverSends({ type: 'pong', seq: i + 1, data: { server_ts: 1 } });
    }
    expect(sockets).toHaveLength(1);
    expect(sockets[0].closed).toBeNull();
  });

  it('stops reconnecting and rejects pending requests on dispose', async () => {
    const { conn, sockets } = setup();
    conn.connect();
    sockets[0].open();
    const p = conn.request('get_history', {});
    conn.dispose();
    await expect(p).rejects.toMatchObject({ code: 'unavailable' });
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
    expect(conn.state).toBe('disconnected');
  });
});

describe('server restart (new epoch) with a live panel', () => {
  it('keeps delivering events whose new seqs are below the old ones, and renews topics', async () => {
    const { conn, sockets } = setup();
    const resyncs: string[] = [];
    conn.onResync(i => resyncs.push(i.reason));
    const samples: number[] = [];
    conn.on('system_metrics', (_d, env) => samples.push(env.seq!));
    conn.subscribe('metrics');
    conn.connect();
    sockets[0].open();
    sockets[0].greet(0, 1, 'e1');
    expect(sockets[0].sent.map(m => m.type)).toEqual(['subscribe']);
    for (let seq = 2; seq <= 300; seq++) {
      sockets[0].serverSends({ ...EXAMPLES.system_metrics, seq });
    }
    expect(samples).toHaveLength(299);
    sockets[0].drop(1012);
    vi.advanceTimersByTime(60_000);
    sockets[1].open();
    sockets[1].greet(0, 1, 'e2'); // a new process: numbering from 1 again
    expect(resyncs).toEqual(['server_restarted']);
    expect(sockets[1].sent.map(m => m.type)).toEqual(['subscribe']); // nothing to resume
    expect(conn.epoch).toBe('e2');
    for (let seq = 3; seq <= 5; seq++) {
      sockets[1].serverSends({ ...EXAMPLES.system_metrics, seq });
    }
    expect(samples.slice(299)).toEqual([3, 4, 5]);
    const pong = conn.request('ping', { ts: 1 });
    const id = sockets[1].sent.at(-1).id;
    sockets[1].serverSends({ type: 'pong', reply_to: id, seq: 6, data: { server_ts: 2 } });
    await expect(pong).resolves.toMatchObject({ type: 'pong', seq: 6 });
    // a later blip on the new server resumes within its epoch
    sockets[1].drop();
    vi.advanceTimersByTime(60_000);
    sockets[2].open();
    sockets[2].greet(9, 10, 'e2');
    expect(sockets[2].sent[0]).toMatchObject({
      type: 'resume',
      data: { last_seq: 6, epoch: 'e2' }
    });
  });

  it('notices a restart by the epoch even when the new counter is already ahead', () => {
    const { conn, sockets } = setup();
    const resyncs: string[] = [];
    conn.onResync(i => resyncs.push(i.reason));
    conn.connect();
    sockets[0].open();
    sockets[0].greet(0, 1, 'e1');
    sockets[0].drop();
    vi.advanceTimersByTime(60_000);
    sockets[1].open();
    sockets[1].greet(40, 41, 'e2');
    expect(resyncs).toEqual(['server_restarted']);
    expect(sockets[1].sent.filter(m => m.type === 'resume')).toEqual([]);
  });
});

describe('capabilities and send hooks', () => {
  it('knows the services up from the greeting and the capabilities events', () => {
    const { conn, sockets } = setup();
    const changes: any[] = [];
    conn.onCapabilities(info => changes.push(info));
    conn.connect();
    sockets[0].open();
    expect(conn.capabilities).toBeNull();
    sockets[0].greet(0, 1, 'e1', ['metrics']);
    expect(conn.capabilities).toEqual(['metrics']);
    sockets[0].serverSends({
      type: 'capabilities',
      seq: 2,
      data: { capabilities: ['metrics', 'mcp'], service: 'mcp', state: 'up' }
    });
    expect(conn.capabilities).toEqual(['metrics', 'mcp']);
    expect(changes).toEqual([
      { capabilities: ['metrics'] },
      { capabilities: ['metrics', 'mcp'], service: 'mcp', state: 'up' }
    ]);
  });

  it('lets hooks amend commands before they go out, until removed', async () => {
    const { conn, sockets } = setup();
    conn.connect();
    sockets[0].open();
    const seen: string[] = [];
    const off = conn.addSendHook((type, data) => {
      seen.push(type);
      if (type === 'chat_message') {
        return { ...data, attachments: [{ kind: 'text', text: 'x' }] };
      }
    });
    conn.send('chat_message', { message: { content: 'hi', agentId: 'general' } });
    expect(sockets[0].sent.at(-1).data.attachments).toEqual([{ kind: 'text', text: 'x' }]);
    const p = conn.request('ping', { ts: 1 });
    expect(sockets[0].sent.at(-1).data).toEqual({ ts: 1 });
    sockets[0].serverSends({ type: 'pong', reply_to: sockets[0].sent.at(-1).id, seq: 3, data: {} });
    await p;
    off();
    conn.send('chat_message', { message: { content: 'again', agentId: 'general' } });
    expect(sockets[0].sent.at(-1).data.attachments).toBeUndefined();
    expect(seen).toEqual(['chat_message', 'ping']);
  });
});
