/** Pure helpers for the model picker and the usage gauge (backends, models, usage). */
import type { UsageData } from './protocol.generated';

/** Between backend and model in a model-picker value. */
export const SEP = '\u001f';

/** A model-picker value -> [backend, model] (both undefined for the default). */
export function splitModelChoice(value: string): [string | undefined, string | undefined] {
  if (!value) {
    return [undefined, undefined];
  }
  const at = value.indexOf(SEP);
  return at < 0 ? [undefined, value] : [value.slice(0, at), value.slice(at + 1)];
}

/** The usage gauge's text: this conversation, today, what the daily budget leaves. */
export function usageText(d: UsageData): string {
  const part = (label: string, t?: { total_tokens?: number; cost?: number | null }) => {
    if (!t) {
      return '';
    }
    let text = `${label}: ${(t.total_tokens ?? 0).toLocaleString()} tok`;
    if (typeof t.cost === 'number') {
      text += ` · ${t.cost.toFixed(4)} ${d.currency ?? ''}`;
    }
    return text;
  };
  const bits = [part('this chat', d.conversation), part('today', d.today)];
  const budget = d.budget ?? {};
  if (budget.tokens) {
    bits.push(`left today: ${(budget.tokens_left ?? 0).toLocaleString()} tok`);
  }
  if (budget.exceeded) {
    bits.push('daily budget spent');
  }
  return bits.filter(b => b).join(' | ');
}
