/**
 * Saved notebooks show pygent widgets without a kernel.
 *
 * A pygent widget's output carries, next to the ipywidgets view, a static `text/html`
 * snapshot and the marker mime type `application/vnd.pygent.widget+json`. In each notebook
 * this module registers a renderer for the marker, preferred over the widget view: it shows
 * the live widget when its model exists, and the snapshot otherwise (a reopened notebook,
 * no kernel) instead of "Error displaying widget: model not found". While the widget is live
 * the snapshot the kernel keeps current (a hidden `.pygent-snapshot` element) is copied into
 * the output just before the notebook is saved, so the file holds the last state.
 */
import type { IRenderMime } from '@jupyterlab/rendermime';
import { Panel, Widget } from '@lumino/widgets';

export const FALLBACK_MIME = 'application/vnd.pygent.widget+json';
export const WIDGET_VIEW_MIME = 'application/vnd.jupyter.widget-view+json';

/** What the renderer needs from a notebook's RenderMimeRegistry (tests pass a fake). */
export interface IRegistryLike {
  createRenderer(mimeType: string): IRenderMime.IRenderer;
  addFactory(factory: IRenderMime.IRendererFactory, rank?: number): void;
  getFactory?(mimeType: string): IRenderMime.IRendererFactory | undefined;
}

/** Pure: is the rendered widget view live (not an error, not still loading)? */
export function isLiveWidget(node: Element): boolean {
  return node.querySelector('.pygent-w, .pygent-snapshot') !== null;
}

/** Pure: the snapshot HTML a live view holds, or null. */
export function liveSnapshot(node: Element): string | null {
  const snap = node.querySelector('.pygent-snapshot .widget-html-content, .pygent-snapshot');
  if (!snap) {
    return null;
  }
  const html = snap.innerHTML.trim();
  return html ? html : null;
}

export class PygentWidgetRenderer extends Panel implements IRenderMime.IRenderer {
  private _fallbackWidget: Widget;
  private _fallback: HTMLElement;
  private _live: IRenderMime.IRenderer | null = null;
  private _modelId = '';
  private _model: IRenderMime.IMimeModel | null = null;
  private _observer: MutationObserver | null = null;
  private _rendering = false;

  constructor(private _registry: IRegistryLike) {
    super();
    this.addClass('jp-pygent-widget-output');
    // children are Lumino widgets, so the live view gets its attach messages whenever the
    // output area attaches this renderer (it renders before it is in the page)
    this._fallbackWidget = new Widget();
    this._fallbackWidget.addClass('jp-pygent-widget-fallback');
    this._fallback = this._fallbackWidget.node;
    this.addWidget(this._fallbackWidget);
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this._model = model;
    const view = model.data[WIDGET_VIEW_MIME] as { model_id?: string } | undefined;
    const modelId = view?.model_id ?? '';
    if (modelId === this._modelId && (this._live || this._rendering)) {
      return; // the same widget (e.g. our own snapshot update re-rendered the output)
    }
    this._modelId = modelId;
    this._rendering = true;
    try {
      await this._renderLive(model, modelId);
    } finally {
      this._rendering = false;
    }
  }

  private async _renderLive(model: IRenderMime.IMimeModel, modelId: string): Promise<void> {
    await this._renderFallback(model);
    this._live?.dispose();
    this._live = null;
    this._observer?.disconnect();
    if (!modelId) {
      return;
    }
    let live: IRenderMime.IRenderer;
    try {
      live = this._registry.createRenderer(WIDGET_VIEW_MIME);
    } catch {
      return; // no widget manager in this notebook: the snapshot is all there is
    }
    this._live = live;
    live.node.classList.add('jp-pygent-live');
    live.node.style.display = 'none';
    this.addWidget(live as unknown as Widget);
    const update = () => this._update();
    this._observer = new MutationObserver(update);
    this._observer.observe(live.node, { childList: true, subtree: true });
    try {
      await live.renderModel(model);
    } catch (err) {
      console.warn('pygent: widget view failed, showing its snapshot', err);
    }
    update();
  }

  /** Copy the live snapshot into the output (called when the notebook is about to save). */
  persist(): void {
    const model = this._model;
    const live = this._live;
    if (!model || !live || !isLiveWidget(live.node)) {
      return;
    }
    const html = liveSnapshot(live.node);
    if (html && html !== model.data['text/html']) {
      model.setData({ data: { ...model.data, 'text/html': html } });
    }
  }

  dispose(): void {
    this._observer?.disconnect();
    this._live?.dispose();
    this._live = null;
    liveRenderers.delete(this);
    super.dispose();
  }

  private _update(): void {
    const isLive = this._live !== null && isLiveWidget(this._live.node);
    if (this._live) {
      this._live.node.style.display = isLive ? '' : 'none';
    }
    this._fallback.style.display = isLive ? 'none' : '';
    if (isLive) {
      liveRenderers.add(this);
    }
  }

  private async _renderFallback(model: IRenderMime.IMimeModel): Promise<void> {
    const html = model.data['text/html'];
    if (typeof html !== 'string' && !Array.isArray(html)) {
      this._fallback.textContent = 'pygent widget (run the cell to show it live)';
      return;
    }
    try {
      const r = this._registry.createRenderer('text/html');
      await r.renderModel(model); // sanitized unless the notebook is trusted
      this._fallback.replaceChildren(r.node);
    } catch (err) {
      this._fallback.textContent = 'pygent widget (run the cell to show it live)';
      console.warn('pygent: could not render the widget snapshot', err);
    }
  }
}

/** Renderers whose live widget is shown now, so a save can persist their snapshots. */
const liveRenderers = new Set<PygentWidgetRenderer>();

/** Persist every live pygent widget's snapshot under `root` (a notebook's node). */
export function persistSnapshots(root: Element): number {
  let n = 0;
  for (const r of liveRenderers) {
    if (!r.isDisposed && root.contains(r.node)) {
      r.persist();
      n++;
    }
  }
  return n;
}

/** Register the renderer in one notebook's registry, preferred over the widget view. */
export function addFallbackFactory(registry: IRegistryLike): void {
  if (registry.getFactory?.(FALLBACK_MIME)) {
    return;
  }
  registry.addFactory(
    {
      safe: false,
      mimeTypes: [FALLBACK_MIME],
      defaultRank: -1000,
      createRenderer: () => new PygentWidgetRenderer(registry)
    },
    -1000
  );
}

/** The parts of a NotebookPanel this module uses (typed structurally: no notebook import). */
interface INotebookPanelLike {
  node: HTMLElement;
  content: { rendermime?: IRegistryLike };
  context?: {
    saveState?: {
      connect(fn: (sender: unknown, state: string) => void): void;
    };
  };
}

/** Hook every notebook the document registry creates (JupyterLab's `Notebook` factory). */
export function watchNotebooks(docRegistry: {
  getWidgetFactory(name: string): unknown;
  changed: { connect(fn: () => void): void };
}): void {
  let hooked = false;
  const hook = () => {
    if (hooked) {
      return;
    }
    const factory = docRegistry.getWidgetFactory('Notebook') as
      | { widgetCreated: { connect(fn: (s: unknown, panel: INotebookPanelLike) => void): void } }
      | undefined;
    if (!factory?.widgetCreated) {
      return;
    }
    hooked = true;
    factory.widgetCreated.connect((_s, panel) => {
      const registry = panel.content?.rendermime;
      if (registry) {
        addFallbackFactory(registry);
      }
      panel.context?.saveState?.connect((_c, state) => {
        if (state === 'started') {
          persistSnapshots(panel.node);
        }
      });
    });
  };
  hook();
  docRegistry.changed.connect(hook);
}
