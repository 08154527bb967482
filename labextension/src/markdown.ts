/** Markdown and code rendering for chat answers, through JupyterLab's sanitizing renderer. */
import { MimeModel, type IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { h } from './dom';

/**
 * Render `text` as Markdown into `host` (replacing its content). Uses JupyterLab's
 * `text/markdown` renderer (sanitized, untrusted, code highlighted) when there is one;
 * otherwise a minimal safe rendering: fenced code blocks as <pre><code>, the rest as text.
 */
export async function renderMarkdown(
  host: HTMLElement,
  text: string,
  rendermime: IRenderMimeRegistry | null
): Promise<void> {
  if (rendermime) {
    try {
      const renderer = rendermime.createRenderer('text/markdown');
      await renderer.renderModel(
        new MimeModel({ data: { 'text/markdown': text }, trusted: false })
      );
      host.replaceChildren(renderer.node);
      host.classList.add('jp-pygent-md');
      return;
    } catch (err) {
      console.warn('pygent: markdown renderer failed, using plain rendering', err);
    }
  }
  host.replaceChildren(...renderPlain(text));
}

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
