/**
 * session.ts against the vectors pytest runs on protocol/session.py
 * (tests/protocol/session_vectors.json): both implementations follow the same rules.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClientSession, SeqFilter } from '../src/session';

const VECTORS = JSON.parse(
  readFileSync(new URL('../../tests/protocol/session_vectors.json', import.meta.url), 'utf-8')
);
const RECEIPT_DEFAULTS = { deliver: true, send: [], resync: null, reply: null };

type Step = Record<string, any>;
interface ICase {
  name: string;
  steps: Step[];
  epoch?: string;
  window?: number;
}

function pick(actual: Record<string, unknown>, wanted: Record<string, unknown>) {
  return Object.fromEntries(Object.keys(wanted).map(k => [k, actual[k]]));
}

function clientState(s: ClientSession): Record<string, unknown> {
  return {
    last_seq: s.lastSeq,
    epoch: s.epoch,
    topics: [...s.topics].sort(),
    capabilities: s.capabilities,
    greeted: s.greeted,
    pending: s.pending
  };
}

describe('client session vectors', () => {
  for (const c of VECTORS.client as ICase[]) {
    it(c.name, () => {
      const session = new ClientSession();
      c.steps.forEach((step, i) => {
        const where = `step ${i}: ${JSON.stringify(step)}`;
        switch (step.do) {
          case 'open':
            session.opened();
            break;
          case 'close':
            session.closed();
            break;
          case 'receive':
            expect(session.receive(step.event), where).toEqual({
              ...RECEIPT_DEFAULTS,
              ...(step.expect ?? {})
            });
            break;
          case 'subscribe':
            session.subscribe(step.topics);
            break;
          case 'unsubscribe':
            session.unsubscribe(step.topics);
            break;
          case 'note_sent':
            session.noteSent(step.message);
            break;
          case 'expect_reply':
            session.expect(step.id, step.final ?? null);
            break;
          case 'forget':
            session.forget(step.id);
            break;
          case 'fail_pending':
            expect(session.failPending(), where).toEqual(step.expect);
            break;
          case 'check':
            break;
          default:
            throw new Error(`unknown step ${step.do}`);
        }
        if (step.state) {
          expect(pick(clientState(session), step.state), where).toEqual(step.state);
        }
      });
    });
  }
});

describe('seq filter vectors', () => {
  for (const c of VECTORS.filter as ICase[]) {
    it(c.name, () => {
      const seqs = new SeqFilter(c.epoch ?? null, c.window ?? 1024);
      c.steps.forEach((step, i) => {
        const where = `step ${i}: ${JSON.stringify(step)}`;
        if (step.do === 'accept') {
          expect(seqs.accept(step.seq), where).toBe(step.expect);
        } else if (step.do === 'greeting') {
          expect(seqs.greeting(step.epoch, step.last_seq), where).toBe(step.expect);
        }
        if (step.state) {
          const actual = { last_seq: seqs.lastSeq, epoch: seqs.epoch };
          expect(pick(actual, step.state), where).toEqual(step.state);
        }
      });
    });
  }
});

it('the vector file has cases for both sides', () => {
  expect(VECTORS.client.length).toBeGreaterThan(5);
  expect(VECTORS.filter.length).toBeGreaterThan(2);
});
