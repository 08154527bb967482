/** What every tab shares: the one connection, user settings and the Markdown renderer. */
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import type { ConnectionState, PygentConnection } from './connection';

/** Pure: the offline banner's text for a state (empty when connected). */
export function offlineText(
  state: ConnectionState,
  nextRetryAt: number | null,
  attempt: number,
  now: number = Date.now()
): string {
  if (state === 'connected') {
    return '';
  }
  if (state === 'failed') {
    return `Disconnected from the pygent server (gave up after ${attempt} attempts). Use “Reconnect”.`;
  }
  if (state === 'connecting') {
    return 'Connecting to the pygent server…';
  }
  const wait = nextRetryAt === null ? null : Math.max(0, Math.ceil((nextRetryAt - now) / 1000));
  const retry = wait === null || wait === 0 ? 'reconnecting now…' : `next try in ${wait} s`;
  return `Disconnected from the pygent server: ${retry}. Messages you send wait and go out when it is back.`;
}

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

/** The server service behind a tab, where its name differs from the tab's id. */
const TAB_SERVICES: Record<string, string> = { chat: 'agents' };

/** A tab of the side panel: owns its connection listeners and drops them on dispose. */
export abstract class PygentTab extends Widget {
  protected readonly ctx: PanelContext;
  /** Shown while the socket is down, with the next retry (every tab has one). */
  protected readonly offlineBanner: HTMLElement;
  private _offs: Array<() => void> = [];
  private _bannerTimer: ReturnType<typeof setInterval> | null = null;

  constructor(ctx: PanelContext, id: string, label: string) {
    super();
    this.ctx = ctx;
    this.id = `jp-pygent-tab-${id}`;
    this.addClass('jp-pygent-tab');
    this.addClass(`jp-pygent-tab-${id}`);
    this.title.label = label;
    this.title.caption = label;
    this.offlineBanner = document.createElement('div');
    this.offlineBanner.className = 'jp-pygent-offline';
    this.offlineBanner.setAttribute('role', 'status');
    this.offlineBanner.setAttribute('aria-live', 'polite');
    const reconnect = document.createElement('button');
    reconnect.type = 'button';
    reconnect.className = 'jp-Button jp-mod-styled jp-pygent-button jp-pygent-reconnect';
    reconnect.textContent = 'Reconnect';
    reconnect.addEventListener('click', () => ctx.conn.reconnectNow());
    this.offlineBanner.append(document.createElement('span'), reconnect);
    this.node.append(this.offlineBanner);
    this._showOffline();
    this.track(ctx.conn.onResync(() => this.onResync()));
    const service = TAB_SERVICES[id] ?? id;
    this.track(
      ctx.conn.onCapabilities(info => {
        if (info.service === service && info.state === 'up') {
          this.onServiceUp();
        }
      })
    );
    this.track(
      ctx.conn.onState(state => {
        this._showOffline();
        if (state === 'connected') {
          this.onConnected();
        }
      })
    );
    this.track(() => {
      if (this._bannerTimer !== null) {
        clearInterval(this._bannerTimer);
      }
    });
  }

  private _showOffline(): void {
    const conn = this.ctx.conn;
    const text = offlineText(conn.state, conn.nextRetryAt, conn.attempt);
    (this.offlineBanner.firstChild as HTMLElement).textContent = text;
    this.offlineBanner.hidden = !text;
    this.offlineBanner.dataset.state = conn.state;
    if (text && this._bannerTimer === null) {
      this._bannerTimer = setInterval(() => this._showOffline(), 1000);
    } else if (!text && this._bannerTimer !== null) {
      clearInterval(this._bannerTimer);
      this._bannerTimer = null;
    }
  }

  /** Remember an unsubscribe function to call on dispose. */
  protected track(off: () => void): void {
    this._offs.push(off);
  }

  /** The socket (re)opened: refresh what the server does not push by itself. */
  protected onConnected(): void {
    /* optional */
  }

  /** The tab's service finished starting after the page connected. Defaults to onConnected. */
  protected onServiceUp(): void {
    this.onConnected();
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
