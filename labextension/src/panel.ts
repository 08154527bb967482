/** The right-sidebar panel: one tab per feature, all on the page's one connection. */
import { LabIcon } from '@jupyterlab/ui-components';
import type { Message } from '@lumino/messaging';
import { TabPanel } from '@lumino/widgets';
import type { PanelContext } from './context';
import { ChatTab } from './tabs/chat';
import { EvolutionTab } from './tabs/evolution';
import { McpTab } from './tabs/mcp';
import { MemoryTab } from './tabs/memory';
import { MetricsTab } from './tabs/metrics';
import { ReasoningTab } from './tabs/reasoning';

export const pygentIcon = new LabIcon({
  name: 'pygent-jupyter:icon',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161"><circle cx="6" cy="6" r="3"/><circle cx="18" cy="6" r="3"/>' +
    '<circle cx="12" cy="18" r="3"/><path d="M7.5 8.2 10.6 15.6l1.5-.6L9 7.6zM16.5 8.2l-3.1 7.4-1.5-.6L15 7.6zM8.8 5.2h6.4v1.6H8.8z"/></g></svg>'
});

export class PygentPanel extends TabPanel {
  readonly chat: ChatTab;
  readonly reasoning: ReasoningTab;
  readonly evolution: EvolutionTab;
  readonly metrics: MetricsTab;
  readonly mcp: McpTab;
  readonly memory: MemoryTab;

  constructor(ctx: PanelContext) {
    super({ tabPlacement: 'top', tabsMovable: false });
    this.id = 'pygent-panel';
    this.addClass('jp-pygent-panel');
    this.title.icon = pygentIcon;
    this.title.caption = 'Pygent';
    this.chat = new ChatTab(ctx);
    this.reasoning = new ReasoningTab(ctx);
    this.evolution = new EvolutionTab(ctx);
    this.metrics = new MetricsTab(ctx);
    this.mcp = new McpTab(ctx);
    this.memory = new MemoryTab(ctx);
    for (const tab of [
      this.chat,
      this.reasoning,
      this.evolution,
      this.metrics,
      this.mcp,
      this.memory
    ]) {
      this.addWidget(tab);
    }
    this.tabBar.node.setAttribute('aria-label', 'Pygent sections');
  }

  /** Activating the panel (sidebar click, command) moves focus into the current tab. */
  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this.currentWidget?.activate();
  }
}
