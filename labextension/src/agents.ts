/** The chat agent picker's options (pure, testable without JupyterLab). */

export const BUILTIN_LABELS: Record<string, string> = {
  general: 'General',
  coding: 'Coding',
  reasoning: 'Reasoning'
};

/** Pure: picker options for the agent names the server reports (built-ins first). */
export function agentOptions(names: string[], preferred?: string): Array<[string, string]> {
  const all = [
    ...new Set([...Object.keys(BUILTIN_LABELS).filter(n => names.includes(n)), ...names])
  ];
  if (preferred && !all.includes(preferred)) {
    all.push(preferred);
  }
  return all.map((n): [string, string] => [n, BUILTIN_LABELS[n] ?? n]);
}

export const BUILTIN_AGENTS = Object.keys(BUILTIN_LABELS);
