/** The chat tab's model-picker values and usage gauge text (pure helpers). */
import { describe, expect, it } from 'vitest';
import { splitModelChoice, usageText } from '../src/backends';
import { EXAMPLES } from '../src/protocol.generated';
import type { UsageData } from '../src/protocol.generated';

describe('model picker values', () => {
  it('splits backend and model, and keeps plain model names', () => {
    expect(splitModelChoice('')).toEqual([undefined, undefined]);
    expect(splitModelChoice('gpu\u001fQwen/Qwen2.5-7B-Instruct')).toEqual([
      'gpu',
      'Qwen/Qwen2.5-7B-Instruct'
    ]);
    expect(splitModelChoice('llama3.2:1b')).toEqual([undefined, 'llama3.2:1b']);
  });
});

describe('usage gauge', () => {
  it('shows this chat, today and what the budget leaves', () => {
    const data = EXAMPLES.usage.data as UsageData;
    expect(usageText(data)).toBe(
      `this chat: ${(380).toLocaleString()} tok · 0.0001 USD | today: ${(1140).toLocaleString()} tok · 0.0003 USD | left today: ${(198860).toLocaleString()} tok`
    );
    expect(usageText({ ...data, budget: { exceeded: true } })).toContain('daily budget spent');
  });
});
