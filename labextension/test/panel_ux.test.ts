// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { FOCUS_GUARD_MS, focusMoveIsUnasked, movesFocus } from '../src/dom';
import { runLabel } from '../src/tabs/reasoning';

describe('composer focus guard', () => {
  const key = (
    k: string,
    mods: Partial<Record<'ctrlKey' | 'altKey' | 'metaKey', boolean>> = {}
  ) => ({
    key: k,
    ctrlKey: false,
    altKey: false,
    metaKey: false,
    ...mods
  });

  it('undoes a move nobody asked for, shortly after typing', () => {
    const launcher = document.createElement('div');
    expect(focusMoveIsUnasked(10_000, 9_000, -Infinity, launcher)).toBe(true);
    expect(focusMoveIsUnasked(10_000, 9_000, 0, null)).toBe(true);
  });

  it('lets the user move focus (their click or key just before)', () => {
    expect(focusMoveIsUnasked(10_000, 9_700, 9_800, null)).toBe(false);
  });

  it('forgets a click elsewhere once the user typed in the composer again', () => {
    const launcher = document.createElement('div');
    expect(focusMoveIsUnasked(10_000, 9_900, 9_800, launcher)).toBe(true);
  });

  it('does nothing once the composer is idle', () => {
    expect(focusMoveIsUnasked(10_000, 10_000 - FOCUS_GUARD_MS - 1, 0, null)).toBe(false);
  });

  it('never fights a dialog or the command palette', () => {
    const dialog = document.createElement('div');
    dialog.className = 'jp-Dialog';
    const button = document.createElement('button');
    dialog.append(button);
    expect(focusMoveIsUnasked(10_000, 9_000, 0, button)).toBe(false);
  });

  it('Tab and shortcuts move focus on purpose, letters do not', () => {
    expect(movesFocus(key('Tab'))).toBe(true);
    expect(movesFocus(key('L', { ctrlKey: true }))).toBe(true);
    expect(movesFocus(key('a'))).toBe(false);
    expect(movesFocus(key('Enter'))).toBe(false);
  });
});

describe('reasoning run labels', () => {
  it('names the task, input, date and status, never the raw id', () => {
    const created = new Date(2026, 11, 2, 14, 5).getTime();
    const label = runLabel({
      id: 'tot-5f1c2a9b7d3e',
      task: 'game24',
      input: '4 5 6 10',
      status: 'solved',
      created
    });
    expect(label).toBe('Game of 24: 4 5 6 10 · Dec 2 14:05 · solved');
    expect(label).not.toContain('tot-');
  });

  it('shortens long problems and falls back to the id only when nothing is known', () => {
    const label = runLabel({
      id: 'tot-1',
      task: 'open',
      input: 'x'.repeat(100),
      status: 'running'
    });
    expect(label.startsWith('Open: ' + 'x'.repeat(39) + '…')).toBe(true);
    expect(runLabel({ id: 'tot-1' })).toBe('tot-1');
  });
});
