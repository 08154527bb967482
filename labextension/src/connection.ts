/**
 * PygentConnection: the one reconnecting, typed client of `/pygent/ws` per JupyterLab page.
 *
 * Pure TypeScript (no JupyterLab imports) so it runs under Vitest with a fake WebSocket.
 * Contracts:
 * - `send()` never throws for a closed socket: commands wait in a bounded queue and go out,
 *   in order, once the socket is open again.
 * - The session rules live in `session.ts` (the mirror of `protocol/session.py`, tested
 *   against the same vectors): after a reconnect the client sends `resume{last_seq, epoch}`
 *   so the server replays what it missed; if it cannot (server restarted: new epoch; buffer
 *   evicted) a local `resync` notification tells views to reload their state. Replayed
 *   duplicates are dropped; a restarted server's new numbering is not mistaken for old seqs.
 * - Topic subscriptions are reference counted and re-sent after every greeting.
 * - `capabilities` (services up) follow the greeting and the server's `capabilities` events.
 * - Send hooks (`addSendHook`) may amend a command's data before it goes out.
 * - Reconnect delays grow exponentially with full jitter, capped at `maxDelay`.
 */
import type {
  ClientMessages,
  ClientType,
  Envelope,
  EventType,
  IncomingEvents
} from './protocol.generated';
import { ClientSession, type IOutgoing, type IReceipt } from './session';

export type ConnectionState =
  'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'failed';

/** The subset of the DOM WebSocket the connection uses (so tests can pass a fake). */
export interface ISocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string) => ISocketLike;

export interface IBackoffOptions {
  /** First delay in ms (before jitter). */
  initialDelay: number;
  /** Upper bound of any delay in ms. */
  maxDelay: number;
  /** Growth per failed attempt. */
  factor: number;
}

export interface IConnectionOptions {
  /** Full ws(s) URL of the endpoint, without query string. */
  url: string;
  /** Jupyter token, sent as `?token=` (as Jupyter's own websockets do); omit to rely on cookies. */
  token?: string;
  /** Stable id of this client across reconnects; generated when omitted. */
  clientId?: string;
  /** Creates sockets; defaults to the global WebSocket. */
  socketFactory?: SocketFactory;
  backoff?: Partial<IBackoffOptions>;
  /** Give up (state `failed`, event `connection_failed`) after this many failed attempts. */
  maxAttempts?: number;
  /** Random source in [0, 1) for jitter (tests pass a fixed one). */
  random?: () => number;
  /** Most commands kept while disconnected; older ones are dropped first. */
  maxQueue?: number;
  /** Keepalive ping period in ms (0 disables); a ping unanswered for 2 periods forces a reconnect. */
  pingInterval?: number;
  /** Default timeout for `request()` in ms. */
  requestTimeout?: number;
}

export const DEFAULT_BACKOFF: IBackoffOptions = {
  initialDelay: 500,
  maxDelay: 30_000,
  factor: 2
};

/**
 * Delay before reconnect attempt `attempt` (1-based): "full jitter", i.e. uniform in
 * [cap/2, cap] where cap = min(maxDelay, initialDelay * factor^(attempt-1)). Never 0, so a
 * fleet of tabs does not reconnect in lockstep after a server restart.
 */
export function backoffDelay(
  attempt: number,
  options: IBackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random
): number {
  const exp = Math.max(0, attempt - 1);
  const cap = Math.min(options.maxDelay, options.initialDelay * Math.pow(options.factor, exp));
  return Math.round(cap / 2 + random() * (cap / 2));
}

/** The subset of `ServerConnection.ISettings` needed to address the socket. */
export interface IServerSettingsLike {
  wsUrl: string;
  token: string;
  appendToken: boolean;
}

/**
 * URL and auth from JupyterLab's server settings: `wsUrl` already carries the base URL
 * (e.g. `/user/alice/` under JupyterHub). The token is passed like Jupyter's kernel
 * websockets pass it: as a query parameter when `appendToken` is set; else the login
 * cookie authenticates.
 */
export function connectionOptionsFromSettings(settings: IServerSettingsLike): {
  url: string;
  token?: string;
} {
  const base = settings.wsUrl.endsWith('/') ? settings.wsUrl : settings.wsUrl + '/';
  return {
    url: base + 'pygent/ws',
    token: settings.appendToken && settings.token ? settings.token : undefined
  };
}

/** The socket URL with `client_id` and (optionally) `token` query parameters. */
export function socketUrl(url: string, clientId: string, token?: string): string {
  const params = [`client_id=${encodeURIComponent(clientId)}`];
  if (token) {
    params.push(`token=${encodeURIComponent(token)}`);
  }
  return url + (url.includes('?') ? '&' : '?') + params.join('&');
}

/** A request that ended in a server `error` event (or timed out / was disconnected). */
export class PygentRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly field?: string
  ) {
    super(message);
    this.name = 'PygentRequestError';
  }
}

type Handler<K extends EventType> = (data: IncomingEvents[K], envelope: Envelope<K>) => void;
type AnyHandler = (envelope: Envelope) => void;

/** Local notifications that are not protocol messages. */
export interface IResyncInfo {
  reason: 'server_restarted' | 'buffer_evicted';
}

/** The services up on the server: after each greeting, and when one comes up or goes down. */
export interface ICapabilitiesInfo {
  capabilities: string[];
  /** The service that changed (absent after a greeting). */
  service?: string;
  state?: 'up' | 'down';
}

/**
 * Called with every command about to be sent (by `send` or `request`); may return amended
 * data (or nothing to keep it). Hooks run in the order they were added.
 */
export type SendHook = (
  type: ClientType,
  data: Record<string, unknown>
) => Record<string, unknown> | void;

function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) {
    return c.randomUUID();
  }
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

const OPEN = 1;

export class PygentConnection {
  readonly clientId: string;
  private _options: Required<
    Omit<IConnectionOptions, 'token' | 'clientId' | 'backoff' | 'socketFactory'>
  > & { token?: string; backoff: IBackoffOptions; socketFactory: SocketFactory };
  private _socket: ISocketLike | null = null;
  private _state: ConnectionState = 'disconnected';
  private _attempt = 0;
  private _everConnected = false;
  private _session = new ClientSession();
  private _reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private _nextRetryAt: number | null = null;
  private _pingTimer: ReturnType<typeof setInterval> | null = null;
  private _pingOutstanding = 0;
  private _queue: string[] = [];
  private _handlers = new Map<string, Set<(data: unknown, env: Envelope) => void>>();
  private _anyHandlers = new Set<AnyHandler>();
  private _stateHandlers = new Set<(state: ConnectionState) => void>();
  private _resyncHandlers = new Set<(info: IResyncInfo) => void>();
  private _capabilityHandlers = new Set<(info: ICapabilitiesInfo) => void>();
  private _sendHooks: SendHook[] = [];
  private _requests = new Map<
    string,
    { resolve: (env: Envelope) => void; reject: (err: PygentRequestError) => void }
  >();
  private _replyHandlers = new Map<string, Set<AnyHandler>>();
  private _topics = new Map<string, number>();
  private _counter = 0;
  private _disposed = false;

  constructor(options: IConnectionOptions) {
    this.clientId = options.clientId ?? `lab-${randomId()}`;
    const factory =
      options.socketFactory ??
      ((url: string) => new (globalThis as any).WebSocket(url) as ISocketLike);
    this._options = {
      url: options.url,
      token: options.token,
      socketFactory: factory,
      backoff: { ...DEFAULT_BACKOFF, ...(options.backoff ?? {}) },
      maxAttempts: options.maxAttempts ?? Infinity,
      random: options.random ?? Math.random,
      maxQueue: options.maxQueue ?? 200,
      pingInterval: options.pingInterval ?? 30_000,
      requestTimeout: options.requestTimeout ?? 30_000
    };
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** Newest event seq received in the server's current epoch (null before the first). */
  get lastSeq(): number | null {
    return this._session.lastSeq || null;
  }

  /** The server's epoch (changes when it restarts; null before the first greeting). */
  get epoch(): string | null {
    return this._session.epoch;
  }

  /** Services up on the server (null before the first greeting). */
  get capabilities(): string[] | null {
    return this._session.capabilities;
  }

  /** When the next reconnect attempt starts (ms since the epoch), or null when none is due. */
  get nextRetryAt(): number | null {
    return this._nextRetryAt;
  }

  /** Failed attempts since the last successful open. */
  get attempt(): number {
    return this._attempt;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Open the socket (idempotent). */
  connect(): void {
    if (this._disposed || this._socket) {
      return;
    }
    this._clearReconnect();
    this._setState(this._everConnected || this._attempt > 0 ? 'reconnecting' : 'connecting');
    let socket: ISocketLike;
    try {
      socket = this._options.socketFactory(
        socketUrl(this._options.url, this.clientId, this._options.token)
      );
    } catch (err) {
      this._failedAttempt(String(err));
      return;
    }
    this._socket = socket;
    socket.onopen = () => this._onOpen(socket);
    socket.onmessage = ev => this._onMessage(socket, ev.data);
    socket.onerror = () => {
      /* onclose follows and handles it */
    };
    socket.onclose = ev => this._onClose(socket, ev.code, ev.reason);
  }

  /** Close for good: no more reconnects, handlers dropped, pending requests rejected. */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._clearReconnect();
    this._stopPing();
    const socket = this._socket;
    this._socket = null;
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.close(1000, 'disposed');
    }
    this._setState('disconnected');
    for (const [id, handlers] of this._replyHandlers) {
      for (const h of handlers) {
        h({
          type: 'error',
          data: { code: 'unavailable', message: 'connection closed' },
          reply_to: id
        });
      }
    }
    this._replyHandlers.clear();
    this._session.failPending();
    for (const pending of this._requests.values()) {
      pending.reject(new PygentRequestError('unavailable', 'connection closed'));
    }
    this._requests.clear();
    this._sendHooks = [];
    this._capabilityHandlers.clear();
    this._handlers.clear();
    this._anyHandlers.clear();
    this._stateHandlers.clear();
    this._resyncHandlers.clear();
  }

  /** Listen to one event type; returns an unsubscribe function. */
  on<K extends EventType>(type: K, handler: Handler<K>): () => void {
    let set = this._handlers.get(type);
    if (!set) {
      set = new Set();
      this._handlers.set(type, set);
    }
    const h = handler as unknown as (data: unknown, env: Envelope) => void;
    set.add(h);
    return () => set!.delete(h);
  }

  /** Listen to every incoming envelope. */
  onAny(handler: AnyHandler): () => void {
    this._anyHandlers.add(handler);
    return () => this._anyHandlers.delete(handler);
  }

  /** Listen to state changes (called with the new state). */
  onState(handler: (state: ConnectionState) => void): () => void {
    this._stateHandlers.add(handler);
    return () => this._stateHandlers.delete(handler);
  }

  /** Called when replay was impossible and views should reload their state. */
  onResync(handler: (info: IResyncInfo) => void): () => void {
    this._resyncHandlers.add(handler);
    return () => this._resyncHandlers.delete(handler);
  }

  /** Called with the services up after each greeting and each `capabilities` event. */
  onCapabilities(handler: (info: ICapabilitiesInfo) => void): () => void {
    this._capabilityHandlers.add(handler);
    return () => this._capabilityHandlers.delete(handler);
  }

  /** Amend commands before they go out (see `SendHook`); returns the removal function. */
  addSendHook(hook: SendHook): () => void {
    this._sendHooks.push(hook);
    return () => {
      this._sendHooks = this._sendHooks.filter(h => h !== hook);
    };
  }

  /** Every event that answers the command with id `id` (`reply_to === id`). */
  onReply(id: string, handler: AnyHandler): () => void {
    let set = this._replyHandlers.get(id);
    if (!set) {
      set = new Set();
      this._replyHandlers.set(id, set);
    }
    set.add(handler);
    return () => {
      set!.delete(handler);
      if (set!.size === 0) {
        this._replyHandlers.delete(id);
      }
    };
  }

  /** A fresh command id. */
  nextId(prefix = 'c'): string {
    this._counter += 1;
    return `${prefix}${this._counter}-${this.clientId.slice(-6)}`;
  }

  /**
   * Send a command; returns its id. While disconnected the frame waits in a bounded queue
   * (oldest dropped first) and goes out in order after the next open.
   */
  send<K extends ClientType>(type: K, data: ClientMessages[K], id?: string): string {
    const msgId = id ?? this.nextId(type.slice(0, 2));
    let body = data as Record<string, unknown>;
    for (const hook of this._sendHooks) {
      try {
        body = hook(type, body) ?? body;
      } catch (err) {
        console.error('pygent: send hook failed', err);
      }
    }
    const frame = JSON.stringify({ type, data: body, id: msgId });
    const socket = this._socket;
    if (socket && socket.readyState === OPEN && this._state === 'connected') {
      socket.send(frame);
    } else {
      this._queue.push(frame);
      while (this._queue.length > this._options.maxQueue) {
        this._queue.shift();
      }
    }
    return msgId;
  }

  /**
   * Send a command and resolve with the first reply whose type is not `error` (or one of
   * `replyTypes` when given); reject with PygentRequestError on `error` or timeout.
   */
  request<K extends ClientType>(
    type: K,
    data: ClientMessages[K],
    options: { timeout?: number; replyTypes?: string[] } = {}
  ): Promise<Envelope> {
    const id = this.nextId(type.slice(0, 2));
    const timeout = options.timeout ?? this._options.requestTimeout;
    return new Promise<Envelope>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | null = null;
      const done = () => {
        this._requests.delete(id);
        if (timer !== null) {
          clearTimeout(timer);
        }
      };
      this._requests.set(id, {
        resolve: env => {
          done();
          resolve(env);
        },
        reject: err => {
          done();
          reject(err);
        }
      });
      this._session.expect(id, options.replyTypes ?? null);
      if (timeout > 0 && Number.isFinite(timeout)) {
        timer = setTimeout(() => {
          done();
          this._session.forget(id);
          reject(new PygentRequestError('timeout', `${type} got no reply in ${timeout} ms`));
        }, timeout);
      }
      this.send(type, data, id);
    });
  }

  /**
   * Subscribe to a topic (reference counted: `subscribe` goes out on 0 -> 1, `unsubscribe`
   * on 1 -> 0). Returns the release function. Subscriptions survive reconnects.
   */
  subscribe(topic: 'metrics' | 'ollama' | 'mcp' | 'memory'): () => void {
    const n = this._topics.get(topic) ?? 0;
    this._topics.set(topic, n + 1);
    if (n === 0) {
      this._session.subscribe([topic]);
      if (this._state === 'connected' && this._session.greeted) {
        this.send('subscribe', { topics: [topic] });
      } // else the next greeting renews it
    }
    let released = false;
    return () => {
      if (released) {
        return;
      }
      released = true;
      const m = (this._topics.get(topic) ?? 1) - 1;
      if (m <= 0) {
        this._topics.delete(topic);
        this._session.unsubscribe([topic]);
        if (this._state === 'connected' && this._session.greeted) {
          this.send('unsubscribe', { topics: [topic] });
        }
      } else {
        this._topics.set(topic, m);
      }
    };
  }

  /** Topics currently subscribed. */
  get topics(): string[] {
    return [...this._topics.keys()];
  }

  /** Drop the current socket and reconnect now (e.g. the browser came back online). */
  reconnectNow(): void {
    if (this._disposed) {
      return;
    }
    this._clearReconnect();
    const socket = this._socket;
    if (socket) {
      this._socket = null;
      socket.onclose = null;
      socket.onmessage = null;
      socket.close(4000, 'reconnect');
      this._stopPing();
    }
    this.connect();
  }

  // -- internals ---------------------------------------------------------------------

  private _setState(state: ConnectionState): void {
    if (state === this._state) {
      return;
    }
    this._state = state;
    for (const h of [...this._stateHandlers]) {
      try {
        h(state);
      } catch (err) {
        console.error('pygent: state handler failed', err);
      }
    }
  }

  private _onOpen(socket: ISocketLike): void {
    if (socket !== this._socket) {
      return;
    }
    this._attempt = 0;
    this._session.opened(); // resume and topic renewal follow the greeting
    this._everConnected = true;
    this._setState('connected');
    const queued = this._queue;
    this._queue = [];
    for (const frame of queued) {
      socket.send(frame);
    }
    this._startPing();
  }

  private _onMessage(socket: ISocketLike, raw: unknown): void {
    if (socket !== this._socket || typeof raw !== 'string') {
      return;
    }
    let env: Envelope;
    try {
      env = JSON.parse(raw) as Envelope;
    } catch {
      console.warn('pygent: dropped a frame that is not JSON');
      return;
    }
    if (!env || typeof env.type !== 'string') {
      return;
    }
    const wasGreeted = this._session.greeted;
    const receipt = this._session.receive(env);
    for (const message of receipt.send) {
      this._sendNow(socket, message); // resume{last_seq, epoch}, then topic renewal
    }
    if (!receipt.deliver) {
      return; // a duplicate (replayed after a live copy)
    }
    if (receipt.resync) {
      this._emitResync(receipt.resync);
    }
    if (env.type === 'pong') {
      this._pingOutstanding = 0;
    } else if (env.type === 'capabilities') {
      const d = env.data as { service?: string; state?: 'up' | 'down' };
      this._emitCapabilities({ service: d.service, state: d.state });
    } else if (env.type === 'connection_status' && !wasGreeted && this._session.greeted) {
      this._emitCapabilities({});
    }
    this._dispatch(env);
    this._settle(env, receipt);
  }

  private _sendNow(socket: ISocketLike, message: IOutgoing): void {
    const id = this.nextId(message.type === 'resume' ? 'r' : 's');
    socket.send(JSON.stringify({ type: message.type, data: message.data, id }));
  }

  /** Settle the `request()` this event answers, if any. */
  private _settle(env: Envelope, receipt: IReceipt): void {
    const reply = receipt.reply;
    const pending = reply ? this._requests.get(reply.id) : undefined;
    if (!reply || !pending || reply.kind === 'reply') {
      return;
    }
    if (reply.kind === 'error') {
      const d = env.data as { code?: string; message?: string; field?: string };
      pending.reject(new PygentRequestError(d.code ?? 'internal', d.message ?? 'error', d.field));
    } else {
      pending.resolve(env);
    }
  }

  private _emitCapabilities(change: Omit<ICapabilitiesInfo, 'capabilities'>): void {
    const capabilities = this._session.capabilities;
    if (capabilities === null) {
      return;
    }
    const info: ICapabilitiesInfo = { capabilities: [...capabilities], ...change };
    for (const h of [...this._capabilityHandlers]) {
      try {
        h(info);
      } catch (err) {
        console.error('pygent: capabilities handler failed', err);
      }
    }
  }

  private _emitResync(reason: IResyncInfo['reason']): void {
    for (const h of [...this._resyncHandlers]) {
      try {
        h({ reason });
      } catch (err) {
        console.error('pygent: resync handler failed', err);
      }
    }
  }

  private _dispatch(env: Envelope): void {
    const data = (env.data ?? {}) as unknown;
    // Iterating a Set directly is safe when a handler removes itself (the common case).
    const handlers = this._handlers.get(env.type);
    if (handlers) {
      for (const h of handlers) {
        try {
          h(data, env);
        } catch (err) {
          console.error(`pygent: handler for ${env.type} failed`, err);
        }
      }
    }
    if (env.reply_to) {
      const replies = this._replyHandlers.get(env.reply_to);
      if (replies) {
        for (const h of replies) {
          try {
            h(env);
          } catch (err) {
            console.error('pygent: reply handler failed', err);
          }
        }
      }
    }
    for (const h of this._anyHandlers) {
      try {
        h(env);
      } catch (err) {
        console.error('pygent: handler failed', err);
      }
    }
  }

  private _onClose(socket: ISocketLike, code: number, reason: string): void {
    if (socket !== this._socket) {
      return;
    }
    this._socket = null;
    this._session.closed();
    this._stopPing();
    if (this._disposed) {
      return;
    }
    this._failedAttempt(reason || `socket closed (code ${code})`, code);
  }

  private _failedAttempt(error: string, code?: number): void {
    this._attempt += 1;
    const local: Envelope<'connection_error'> = {
      type: 'connection_error',
      data: { error, attempt: this._attempt, ...(code !== undefined ? { code } : {}) }
    };
    this._dispatch(local);
    if (this._attempt >= this._options.maxAttempts) {
      this._setState('failed');
      this._dispatch({
        type: 'connection_failed',
        data: {
          error: `gave up after ${this._attempt} attempts: ${error}`,
          attempts: this._attempt
        }
      });
      return;
    }
    const delay = backoffDelay(this._attempt, this._options.backoff, this._options.random);
    this._nextRetryAt = Date.now() + delay;
    this._setState('reconnecting');
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      this._nextRetryAt = null;
      this.connect();
    }, delay);
  }

  private _clearReconnect(): void {
    this._nextRetryAt = null;
    if (this._reconnectTimer !== null) {
      clearTimeout(this._reconnectTimer);
      this._reconnectTimer = null;
    }
  }

  private _startPing(): void {
    this._stopPing();
    const every = this._options.pingInterval;
    if (!every) {
      return;
    }
    this._pingOutstanding = 0;
    this._pingTimer = setInterval(() => {
      const socket = this._socket;
      if (!socket || socket.readyState !== OPEN) {
        return;
      }
      if (this._pingOutstanding >= 2) {
        // Two pings without a pong: the link is dead even if the socket looks open.
        this.reconnectNow();
        return;
      }
      this._pingOutstanding += 1;
      socket.send(
        JSON.stringify({ type: 'ping', data: { ts: Date.now() / 1000 }, id: this.nextId('p') })
      );
    }, every);
  }

  private _stopPing(): void {
    if (this._pingTimer !== null) {
      clearInterval(this._pingTimer);
      this._pingTimer = null;
    }
  }
}
