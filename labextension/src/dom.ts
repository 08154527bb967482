/** Tiny DOM helpers: the panel is plain DOM inside Lumino widgets (no framework). */

type Attrs = Record<string, string | number | boolean | undefined | null | EventListener>;

/** Create an element: attributes (on* keys become listeners) and children (strings or nodes). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Array<Node | string | null | undefined | false>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value as EventListener);
    } else if (key === 'className') {
      el.className = String(value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}

/** A labelled form control (label wraps text + control, so screen readers pair them). */
export function field(label: string, control: HTMLElement): HTMLLabelElement {
  return h('label', { className: 'jp-pygent-field' }, h('span', {}, label), control);
}

/** A <select> with options [value, label]. */
export function select(options: Array<[string, string]>, attrs: Attrs = {}): HTMLSelectElement {
  const el = h('select', { className: 'jp-mod-styled', ...attrs });
  setOptions(el, options);
  return el;
}

/** Replace the options of a select, keeping the current value when it still exists. */
export function setOptions(el: HTMLSelectElement, options: Array<[string, string]>): void {
  const current = el.value;
  el.replaceChildren(...options.map(([value, label]) => h('option', { value }, label)));
  if (options.some(([v]) => v === current)) {
    el.value = current;
  }
}

export function button(
  label: string,
  onClick: (ev: Event) => void,
  attrs: Attrs = {}
): HTMLButtonElement {
  return h(
    'button',
    {
      type: 'button',
      className: 'jp-Button jp-mod-styled jp-pygent-button',
      onclick: onClick,
      ...attrs
    },
    label
  );
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) {
    return '–';
  }
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 10 || i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatTime(ts: string | number | undefined): string {
  const d = ts === undefined ? new Date() : new Date(typeof ts === 'number' ? ts * 1000 : ts);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString();
}

/** How long after the last keystroke in the composer an unasked focus move is undone. */
export const FOCUS_GUARD_MS = 10_000;

/** Pure: does this key press in the composer move focus on purpose (Tab, a shortcut)? */
export function movesFocus(ev: {
  key: string;
  ctrlKey: boolean;
  altKey: boolean;
  metaKey: boolean;
}): boolean {
  return ev.key === 'Tab' || ev.key === 'F6' || ev.ctrlKey || ev.altKey || ev.metaKey;
}

/**
 * Pure: should focus that left the composer at `now` go back? Yes when the user typed there
 * within FOCUS_GUARD_MS and gave no pointer or key input elsewhere since (within the last
 * 400 ms: so the move is JupyterLab's, not theirs), unless it went into a dialog or the
 * command palette. Input elsewhere before the last keystroke does not count: the user came back.
 */
export function focusMoveIsUnasked(
  now: number,
  typedAt: number,
  intentAt: number,
  to: Element | null
): boolean {
  const followsIntent = intentAt > typedAt && now - intentAt < 400;
  if (now - typedAt > FOCUS_GUARD_MS || followsIntent) {
    return false;
  }
  return !to?.closest?.('.jp-Dialog, .lm-CommandPalette, .lm-Menu, .jp-pygent-panel');
}
