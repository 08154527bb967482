/** Status-bar item: connection state and GPU utilization; click opens the panel. */
import { Widget } from '@lumino/widgets';
import type { ConnectionState, PygentConnection } from './connection';
import type { GpuMetricsData } from './protocol.generated';

const LABEL: Record<ConnectionState, string> = {
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting',
  disconnected: 'offline',
  failed: 'offline'
};

/** Pure: the status text for a state and GPU sample. */
export function statusText(state: ConnectionState, gpu: GpuMetricsData | null): string {
  let text = `Pygent: ${LABEL[state]}`;
  if (gpu) {
    if (gpu.available && gpu.gpus.length) {
      const utils = gpu.gpus.map(g =>
        typeof g.utilization === 'number' ? `${Math.round(g.utilization)}%` : '–'
      );
      text += ` · GPU ${utils.join(' ')}`;
    } else {
      text += ' · no GPU';
    }
  }
  return text;
}

export class PygentStatus extends Widget {
  private _state: ConnectionState;
  private _gpu: GpuMetricsData | null = null;
  private _text: HTMLElement;
  private _dot: HTMLElement;
  private _offs: Array<() => void> = [];

  constructor(conn: PygentConnection, onActivate: () => void) {
    super();
    this.addClass('jp-pygent-status');
    this.id = 'jp-pygent-status';
    this._dot = document.createElement('span');
    this._dot.className = 'jp-pygent-dot';
    this._text = document.createElement('span');
    this.node.append(this._dot, this._text);
    this.node.setAttribute('role', 'button');
    this.node.tabIndex = 0;
    this.node.addEventListener('click', onActivate);
    this.node.addEventListener('keydown', ev => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        onActivate();
      }
    });
    this._state = conn.state;
    this._offs.push(
      conn.onState(s => {
        this._state = s;
        this._render();
      }),
      conn.on('gpu_metrics', d => {
        this._gpu = d;
        this._render();
      }),
      conn.subscribe('metrics')
    );
    this._render();
  }

  dispose(): void {
    for (const off of this._offs.splice(0)) {
      off();
    }
    super.dispose();
  }

  private _render(): void {
    const text = statusText(this._state, this._gpu);
    this._text.textContent = text;
    this._dot.dataset.state = this._state;
    this.node.dataset.state = this._state;
    this.node.title = `${text} (click to open the Pygent panel)`;
    this.node.setAttribute('aria-label', this.node.title);
  }
}
