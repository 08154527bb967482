/**
 * The session rules of `/pygent/ws`, sans I/O: a line-by-line mirror of
 * `pygent_jupyter/protocol/session.py` (read its docstring for the rules). `connection.ts`
 * does the I/O around a `ClientSession`; both implementations pass the same test vectors
 * (`tests/protocol/session_vectors.json`).
 *
 * In short: drop a seq seen before (not a seq below the newest: replays may come late);
 * after a reconnect, resume `{last_seq, epoch}` when the greeting shows the same epoch and a
 * counter not behind ours, else (the server restarted) forget the numbering and resync;
 * renew topics after every greeting; match replies to pending requests.
 */

export type ResyncReason = 'server_restarted' | 'buffer_evicted';

/** How many recent seqs are remembered to drop duplicates (older ones count as seen). */
export const SEEN_WINDOW = 1024;

type Json = Record<string, unknown>;

function asObject(value: unknown): Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Json)
    : {};
}

function isInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

/** Duplicate filtering across reconnects and server restarts. */
export class SeqFilter {
  epoch: string | null;
  lastSeq = 0;
  private _floor = 0; // every seq <= floor counts as seen
  private _recent: number[] = [];
  private _seen = new Set<number>();

  constructor(
    epoch: string | null = null,
    private readonly _window: number = SEEN_WINDOW
  ) {
    this.epoch = epoch;
  }

  /** False for a seq seen before; true, and remembered, else (always true without a seq). */
  accept(seq: unknown): boolean {
    if (!isInt(seq)) {
      return true;
    }
    if (seq <= this._floor || this._seen.has(seq)) {
      return false;
    }
    this._seen.add(seq);
    this._recent.push(seq);
    if (this._recent.length > this._window) {
      const old = this._recent.shift()!;
      this._seen.delete(old);
      this._floor = Math.max(this._floor, old);
    }
    if (seq > this.lastSeq) {
      this.lastSeq = seq;
    }
    return true;
  }

  /** Whether a greeting comes from a restarted server (other epoch, or counter behind). */
  isRestart(epoch: unknown, serverLastSeq: unknown): boolean {
    if (typeof epoch === 'string' && this.epoch !== null && epoch !== this.epoch) {
      return true;
    }
    return isInt(serverLastSeq) && serverLastSeq < this.lastSeq;
  }

  /** Apply a server greeting; true (and every seq forgotten) on a restart. */
  greeting(epoch: unknown, serverLastSeq: unknown): boolean {
    const restarted = this.isRestart(epoch, serverLastSeq);
    if (restarted) {
      this.reset();
    }
    if (typeof epoch === 'string') {
      this.epoch = epoch;
    }
    return restarted;
  }

  /** Forget every seq seen (a new numbering starts after `lastSeq`). */
  reset(lastSeq = 0): void {
    this.lastSeq = lastSeq;
    this._floor = 0;
    this._recent = [];
    this._seen.clear();
  }
}

export interface IReplyMatch {
  id: string;
  /** `reply`: more to come; `final` / `error`: the request is no longer pending. */
  kind: 'reply' | 'final' | 'error';
}

/** An outgoing message without `id` (the adapter assigns one). */
export interface IOutgoing {
  type: string;
  data: Json;
}

/** What `ClientSession.receive` decided about one event. */
export interface IReceipt {
  /** Hand it to handlers (false for a duplicate). */
  deliver: boolean;
  /** Messages to send now, in order. */
  send: IOutgoing[];
  /** Views must reload their state (why). */
  resync: ResyncReason | null;
  /** The pending request it answers. */
  reply: IReplyMatch | null;
}

/** One client's view of its session with the server, across sockets. */
export class ClientSession {
  readonly filter: SeqFilter;
  readonly topics = new Set<string>();
  capabilities: string[] | null = null;
  /** A greeting arrived on the current socket. */
  greeted = false;
  private _everGreeted = false;
  private _awaitingGreeting = false;
  private _pending = new Map<string, Set<string> | null>();

  constructor(window: number = SEEN_WINDOW) {
    this.filter = new SeqFilter(null, window);
  }

  get epoch(): string | null {
    return this.filter.epoch;
  }

  get lastSeq(): number {
    return this.filter.lastSeq;
  }

  /** A socket opened: its first `connection_status` is the server's greeting. */
  opened(): void {
    this._awaitingGreeting = true;
    this.greeted = false;
  }

  /** The socket is gone; pending requests stay (their answers may be replayed). */
  closed(): void {
    this._awaitingGreeting = false;
    this.greeted = false;
  }

  /** Account for one incoming event and say what to do with it. */
  receive(event: { type?: unknown; data?: unknown; seq?: unknown; reply_to?: unknown }): IReceipt {
    const receipt: IReceipt = { deliver: true, send: [], resync: null, reply: null };
    const type = event.type;
    const data = asObject(event.data);
    // a greeting or a resync may start a new numbering: before the event's own seq counts
    if (type === 'connection_status' && this._awaitingGreeting) {
      this._greet(data, receipt);
    } else if (type === 'error' && data.code === 'resync') {
      receipt.resync = this._resynced(data.details);
    }
    if (!this.filter.accept(event.seq)) {
      receipt.deliver = false;
      receipt.resync = null;
      return receipt;
    }
    if (type === 'capabilities' && Array.isArray(data.capabilities)) {
      this.capabilities = data.capabilities.map(String);
    }
    const replyTo = event.reply_to;
    if (typeof replyTo === 'string' && this._pending.has(replyTo)) {
      const final = this._pending.get(replyTo)!;
      let kind: IReplyMatch['kind'];
      if (type === 'error') {
        kind = 'error';
      } else if (final === null || final.has(String(type))) {
        kind = 'final';
      } else {
        kind = 'reply';
      }
      if (kind !== 'reply') {
        this._pending.delete(replyTo);
      }
      receipt.reply = { id: replyTo, kind };
    }
    return receipt;
  }

  private _greet(data: Json, receipt: IReceipt): void {
    this._awaitingGreeting = false;
    this.greeted = true;
    const resumeFrom = this.filter.lastSeq;
    const knownEpoch = this.filter.epoch;
    if (this.filter.greeting(data.epoch, data.last_seq)) {
      receipt.resync = 'server_restarted';
    } else if (this._everGreeted) {
      const resume: Json = { last_seq: resumeFrom };
      if (knownEpoch !== null) {
        resume.epoch = knownEpoch;
      }
      receipt.send.push({ type: 'resume', data: resume });
    }
    this._everGreeted = true;
    if (this.topics.size) {
      receipt.send.push({ type: 'subscribe', data: { topics: [...this.topics].sort() } });
    }
    if (Array.isArray(data.capabilities)) {
      this.capabilities = data.capabilities.map(String);
    }
  }

  /** The server refused a resume: continue from its current position. */
  private _resynced(details: unknown): ResyncReason {
    const d = asObject(details);
    let reason: ResyncReason = 'buffer_evicted';
    if (
      typeof d.epoch === 'string' &&
      this.filter.epoch !== null &&
      d.epoch !== this.filter.epoch
    ) {
      reason = 'server_restarted';
      this.filter.reset();
    }
    if (typeof d.epoch === 'string') {
      this.filter.epoch = d.epoch;
    }
    if (isInt(d.last_seq) && d.last_seq > this.filter.lastSeq) {
      this.filter.lastSeq = d.last_seq;
    }
    return reason;
  }

  /** Topics to renew after every reconnect (the caller sends `subscribe` itself). */
  subscribe(topics: Iterable<string>): void {
    for (const t of topics) {
      this.topics.add(t);
    }
  }

  unsubscribe(topics: Iterable<string>): void {
    for (const t of topics) {
      this.topics.delete(t);
    }
  }

  /** Record what an outgoing message changes: `subscribe` / `unsubscribe` topics. */
  noteSent(message: { type?: unknown; data?: unknown }): void {
    const topics = asObject(message.data).topics;
    if (!Array.isArray(topics)) {
      return;
    }
    if (message.type === 'subscribe') {
      this.subscribe(topics.map(String));
    } else if (message.type === 'unsubscribe') {
      this.unsubscribe(topics.map(String));
    }
  }

  /**
   * A request went out: events with `reply_to === id` answer it until one of a type in
   * `final` (the first reply when null or empty) or an `error`.
   */
  expect(id: string, final: Iterable<string> | null = null): void {
    const types = new Set(final ?? []);
    this._pending.set(id, types.size ? types : null);
  }

  /** Stop matching replies for `id` (the caller gave up on it). */
  forget(id: string): void {
    this._pending.delete(id);
  }

  /** Every pending request id (no answer will come); forgets them. */
  failPending(): string[] {
    const ids = [...this._pending.keys()];
    this._pending.clear();
    return ids;
  }

  get pending(): string[] {
    return [...this._pending.keys()];
  }
}
