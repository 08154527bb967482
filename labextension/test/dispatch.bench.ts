/**
 * Incoming-event throughput: PygentConnection's dispatch (seq tracking, duplicate check,
 * typed + reply + catch-all handlers) against a bare JSON.parse + switch baseline, on a
 * stream of `chat_stream` deltas (the hottest path: one frame per generated token).
 */
import { bench, describe } from 'vitest';
import { ISocketLike, PygentConnection } from '../src/connection';

const N = 10_000;
const frames = Array.from({ length: N }, (_, i) =>
  JSON.stringify({
    type: 'chat_stream',
    reply_to: 'm1',
    seq: i + 1,
    ts: '2026-11-27T15:00:00.050Z',
    data: { message_id: 'msg-7', delta: 'token ', conversation_id: 'cv-1', index: i }
  })
);

class Sink implements ISocketLike {
  readyState = 1;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  send(): void {}
  close(): void {}
}

describe(`dispatch ${N} chat_stream frames`, () => {
  bench('baseline: JSON.parse + switch', () => {
    let text = '';
    for (const f of frames) {
      const env = JSON.parse(f);
      switch (env.type) {
        case 'chat_stream':
          text += env.data.delta;
          break;
      }
    }
    if (text.length !== 6 * N) {
      throw new Error('lost deltas');
    }
  });

  bench('PygentConnection', () => {
    const sink = new Sink();
    const conn = new PygentConnection({
      url: 'ws://x/pygent/ws',
      socketFactory: () => sink,
      pingInterval: 0
    });
    conn.connect();
    sink.onopen?.({});
    let text = '';
    let replies = 0;
    conn.on('chat_stream', d => {
      text += d.delta;
    });
    conn.onReply('m1', () => {
      replies++;
    });
    for (const f of frames) {
      sink.onmessage?.({ data: f });
    }
    if (text.length !== 6 * N || replies !== N) {
      throw new Error('lost deltas');
    }
    conn.dispose();
  });
});
