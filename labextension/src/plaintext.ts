/** Safe plain rendering of chat text (no JupyterLab imports, testable in Node). */
import { h } from './dom';

/** Split fenced code blocks out of text; everything is inserted as text, never as HTML. */
export function renderPlain(text: string): Node[] {
  const out: Node[] = [];
  const fence = /```([\w+-]*)\n([\s\S]*?)```/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = fence.exec(text)) !== null) {
    if (m.index > last) {
      out.push(h('p', { className: 'jp-pygent-text' }, text.slice(last, m.index)));
    }
    out.push(
      h('pre', { className: 'jp-pygent-code' }, h('code', { 'data-lang': m[1] || null }, m[2]))
    );
    last = m.index + m[0].length;
  }
  if (last < text.length) {
    out.push(h('p', { className: 'jp-pygent-text' }, text.slice(last)));
  }
  return out;
}
