/** What every tab shares: the one connection, user settings and the Markdown renderer. */
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import type { PygentConnection } from './connection';

export interface IPanelSettings {
  /** Agent preselected in the chat tab. */
  defaultAgent: string;
  /** Seconds between chart points; faster samples are coalesced (0: every sample). */
  metricsInterval: number;
  /** Seconds of history the metrics charts keep. */
  chartWindow: number;
}

export const DEFAULT_SETTINGS: IPanelSettings = {
  defaultAgent: 'general',
  metricsInterval: 0,
  chartWindow: 300
};

export class PanelContext {
  private _settings: IPanelSettings = { ...DEFAULT_SETTINGS };
  private _settingsChanged = new Signal<this, IPanelSettings>(this);

  constructor(
    readonly conn: PygentConnection,
    readonly rendermime: IRenderMimeRegistry | null,
    /** Fetches JSON from the Jupyter server (with its auth); null outside JupyterLab. */
    readonly fetchJSON: ((path: string) => Promise<unknown>) | null = null
  ) {}

  get settings(): IPanelSettings {
    return this._settings;
  }

  set settings(value: IPanelSettings) {
    this._settings = { ...DEFAULT_SETTINGS, ...value };
    this._settingsChanged.emit(this._settings);
  }

  get settingsChanged(): ISignal<this, IPanelSettings> {
    return this._settingsChanged;
  }
}

/** A tab of the side panel: owns its connection listeners and drops them on dispose. */
export abstract class PygentTab extends Widget {
  protected readonly ctx: PanelContext;
  private _offs: Array<() => void> = [];

  constructor(ctx: PanelContext, id: string, label: string) {
    super();
    this.ctx = ctx;
    this.id = `jp-pygent-tab-${id}`;
    this.addClass('jp-pygent-tab');
    this.addClass(`jp-pygent-tab-${id}`);
    this.title.label = label;
    this.title.caption = label;
    this.track(ctx.conn.onResync(() => this.onResync()));
    this.track(
      ctx.conn.onState(state => {
        if (state === 'connected') {
          this.onConnected();
        }
      })
    );
  }

  /** Remember an unsubscribe function to call on dispose. */
  protected track(off: () => void): void {
    this._offs.push(off);
  }

  /** The socket (re)opened: refresh what the server does not push by itself. */
  protected onConnected(): void {
    /* optional */
  }

  /** Events were lost (server restart): reload state. Defaults to onConnected. */
  protected onResync(): void {
    this.onConnected();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    for (const off of this._offs.splice(0)) {
      off();
    }
    super.dispose();
  }
}
