/** Markdown and code rendering for chat answers, through JupyterLab's sanitizing renderer. */
import { MimeModel, type IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { renderPlain } from './plaintext';

export { renderPlain };

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
