/**
 * pygent-jupyter lab extension: one PygentConnection per page, a right-sidebar panel
 * (chat, reasoning, evolution, metrics, MCP, memory), a status-bar item and commands.
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Token } from '@lumino/coreutils';
import { connectionOptionsFromSettings, PygentConnection } from './connection';
import { DEFAULT_SETTINGS, IPanelSettings, PanelContext } from './context';
import { PygentPanel, pygentIcon } from './panel';
import { PygentStatus } from './status';
import { watchNotebooks } from './fallback';
import { installNotebookAgent } from './notebook/agent';

export { PygentConnection } from './connection';
export * from './protocol.generated';

/** The page's one connection to `/pygent/ws`, for other extensions to reuse. */
export const IPygentConnection = new Token<PygentConnection>(
  'pygent-jupyter:IPygentConnection',
  'The JupyterLab page’s one reconnecting connection to /pygent/ws.'
);

export const PLUGIN_ID = 'pygent-jupyter:plugin';

export namespace CommandIDs {
  export const open = 'pygent:open-panel';
  export const newChat = 'pygent:new-chat';
  export const reconnect = 'pygent:reconnect';
}

const connectionPlugin: JupyterFrontEndPlugin<PygentConnection> = {
  id: 'pygent-jupyter:connection',
  description: 'Opens the page’s one connection to /pygent/ws.',
  autoStart: true,
  provides: IPygentConnection,
  activate: (): PygentConnection => {
    const settings = ServerConnection.makeSettings();
    const conn = new PygentConnection(connectionOptionsFromSettings(settings));
    conn.connect();
    window.addEventListener('online', () => {
      if (conn.state !== 'connected') {
        conn.reconnectNow();
      }
    });
    window.addEventListener('beforeunload', () => conn.dispose());
    (window as unknown as { __pygentConnection?: PygentConnection }).__pygentConnection = conn;
    return conn;
  }
};

const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The Pygent side panel, status-bar item and commands.',
  autoStart: true,
  requires: [IPygentConnection],
  optional: [ILabShell, ICommandPalette, IStatusBar, ISettingRegistry, IRenderMimeRegistry],
  activate: (
    app: JupyterFrontEnd,
    conn: PygentConnection,
    labShell: ILabShell | null,
    palette: ICommandPalette | null,
    statusBar: IStatusBar | null,
    settingRegistry: ISettingRegistry | null,
    rendermime: IRenderMimeRegistry | null
  ): void => {
    const serverSettings = ServerConnection.makeSettings();
    const fetchJSON = async (path: string): Promise<unknown> => {
      const response = await ServerConnection.makeRequest(
        URLExt.join(serverSettings.baseUrl, path),
        {},
        serverSettings
      );
      if (!response.ok) {
        throw new ServerConnection.ResponseError(response);
      }
      return response.json();
    };
    const ctx = new PanelContext(conn, rendermime, fetchJSON);
    const panel = new PygentPanel(ctx);
    app.shell.add(panel, 'right', { rank: 900 });
    installNotebookAgent(app, conn, panel.chat.node); // notebook agents (issue 13)

    const open = () => {
      app.shell.activateById(panel.id);
    };
    app.commands.addCommand(CommandIDs.open, {
      label: 'Open Pygent Panel',
      caption: 'Show the Pygent side panel (chat, reasoning, evolution, metrics, MCP, memory)',
      icon: pygentIcon,
      execute: open
    });
    app.commands.addCommand(CommandIDs.newChat, {
      label: 'New Pygent Chat',
      caption: 'Start a new conversation with a Pygent agent',
      execute: () => {
        panel.currentWidget = panel.chat;
        panel.chat.newChat();
        open(); // activation focuses the composer once the shell has shown the panel
      }
    });
    app.commands.addCommand(CommandIDs.reconnect, {
      label: 'Reconnect Pygent',
      caption: 'Reconnect to /pygent/ws now',
      execute: () => conn.reconnectNow()
    });
    if (palette) {
      for (const command of [CommandIDs.open, CommandIDs.newChat, CommandIDs.reconnect]) {
        palette.addItem({ command, category: 'Pygent' });
      }
    }
    if (statusBar) {
      statusBar.registerStatusItem('pygent-jupyter:status', {
        item: new PygentStatus(conn, open),
        align: 'left',
        rank: 50
      });
    }
    if (settingRegistry) {
      const apply = (s: ISettingRegistry.ISettings) => {
        ctx.settings = {
          ...DEFAULT_SETTINGS,
          ...(s.composite as unknown as Partial<IPanelSettings>)
        };
      };
      settingRegistry
        .load(PLUGIN_ID)
        .then(s => {
          apply(s);
          s.changed.connect(apply);
        })
        .catch(err => console.warn('pygent: could not load settings', err));
    }
    void labShell;
  }
};

/** Saved notebooks show each pygent widget's last state instead of "model not found". */
const fallbackPlugin: JupyterFrontEndPlugin<void> = {
  id: 'pygent-jupyter:widget-fallback',
  description: 'Shows the static snapshot of pygent widgets whose kernel is gone.',
  autoStart: true,
  activate: (app: JupyterFrontEnd): void => {
    watchNotebooks(app.docRegistry);
  }
};

export default [connectionPlugin, panelPlugin, fallbackPlugin];
