"""One stylesheet for every pygent widget, written only with JupyterLab's CSS variables.

Light, dark and high-contrast themes therefore all work, and a theme switch restyles live
widgets and saved fallbacks at once. Each widget carries it in a hidden ``<style>`` (so it
works in any front end that renders ``ipywidgets.HTML``); the second value of each
``var()`` is the light-theme colour used where JupyterLab's variables are missing.

Plotly draws SVG with inline colours; the ``!important`` rules below re-colour its text,
grid lines and legend from the theme, and figures use a transparent background.
"""

from __future__ import annotations

__all__ = ["PLOT_CLASS", "STYLE"]

PLOT_CLASS = "pygent-plot"

_FG = "var(--jp-ui-font-color1, #1f1f1f)"
_CSS = f"""
.pygent-w {{ color: {_FG}; font-family: var(--jp-ui-font-family, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px); max-width: 100%; box-sizing: border-box; }}
.pygent-w .widget-html, .pygent-w .widget-html-content {{ height: auto; line-height: 1.4;
  white-space: normal; overflow: visible; color: {_FG}; }}
.pygent-w .widget-hbox.pygent-row {{ flex-wrap: wrap; gap: 4px 8px; align-items: center; }}
.pygent-w .widget-dropdown {{ flex: 1 1 180px; min-width: 0; max-width: 340px; }}
.pygent-w .widget-dropdown > select {{ min-width: 0; }}
.pygent-w .pygent-muted, .pygent-w .pygent-meta {{ color: {_FG}; opacity: 1;
  font-size: var(--jp-ui-font-size0, 11px); }}
.pygent-w .pygent-status-line {{ display: block; padding: 2px 0; }}
.pygent-w .pygent-offline {{ display: block; padding: 4px 8px; border-radius: 3px;
  border-left: 4px solid var(--jp-warn-color1, #f57c00);
  background: var(--jp-layout-color2, #eeeeee); color: {_FG}; }}
.pygent-w .pygent-error {{ display: block; padding: 4px 8px; border-radius: 3px;
  border-left: 4px solid var(--jp-error-color1, #d32f2f);
  background: var(--jp-layout-color2, #eeeeee); color: {_FG}; }}
.pygent-chat-log {{ max-height: 420px; overflow-y: auto; display: flex;
  flex-direction: column-reverse; padding: 4px; box-sizing: border-box;
  border: 1px solid var(--jp-border-color2, #e0e0e0);
  background: var(--jp-layout-color0, #ffffff); overscroll-behavior: contain; }}
.pygent-msg {{ margin: 4px 0; padding: 4px 8px; border-radius: 6px; color: {_FG};
  overflow-wrap: anywhere; }}
.pygent-msg p {{ margin: 2px 0; }}
.pygent-msg-user {{ background: var(--jp-layout-color2, #eeeeee); }}
.pygent-msg-agent {{ background: var(--jp-layout-color1, #ffffff);
  border: 1px solid var(--jp-border-color2, #e0e0e0); }}
.pygent-msg .pygent-who {{ font-weight: 600; margin-right: 6px; }}
.pygent-typing {{ font-style: italic; padding: 2px 4px; }}
.pygent-cursor {{ animation: pygent-blink 1s steps(1) infinite; }}
@keyframes pygent-blink {{ 50% {{ opacity: 0; }} }}
.pygent-w pre, .pygent-fallback pre {{ white-space: pre; overflow-x: auto; max-width: 100%; }}
.pygent-code pre, .pygent-msg pre {{ margin: 4px 0; padding: 6px; border-radius: 4px;
  background: var(--jp-layout-color0, #ffffff);
  border: 1px solid var(--jp-border-color2, #e0e0e0);
  color: var(--jp-content-font-color1, #1f1f1f);
  font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 13px); }}
.pygent-code .k, .pygent-code .kn, .pygent-code .kd, .pygent-code .kc, .pygent-code .ow {{
  color: var(--jp-mirror-editor-keyword-color, #008000); font-weight: bold; }}
.pygent-code .s, .pygent-code .s1, .pygent-code .s2, .pygent-code .sd, .pygent-code .sa {{
  color: var(--jp-mirror-editor-string-color, #ba2121); }}
.pygent-code .c, .pygent-code .c1, .pygent-code .cm, .pygent-code .ch {{
  color: {_FG}; font-style: italic; }}
.pygent-code .m, .pygent-code .mi, .pygent-code .mf {{
  color: var(--jp-mirror-editor-number-color, #080); }}
.pygent-code .nf, .pygent-code .nc {{ color: var(--jp-mirror-editor-def-color, #00f); }}
.pygent-code .nb, .pygent-code .bp {{ color: var(--jp-mirror-editor-builtin-color, #008000); }}
.pygent-code .o {{ color: var(--jp-mirror-editor-operator-color, #a2f); }}
.pygent-table-wrap {{ max-height: 320px; overflow: auto; max-width: 100%; }}
.pygent-table {{ border-collapse: collapse; width: 100%; }}
.pygent-table th, .pygent-table td {{ text-align: left; padding: 2px 6px; vertical-align: top;
  border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); color: {_FG}; }}
.pygent-alert {{ padding: 4px 8px; margin: 2px 0; border-radius: 3px; color: {_FG};
  background: var(--jp-layout-color2, #eeeeee);
  border-left: 4px solid var(--jp-warn-color1, #f57c00); }}
.pygent-alert-critical {{ border-left-color: var(--jp-error-color1, #d32f2f); }}
.pygent-badge {{ display: inline-block; padding: 0 6px; border-radius: 3px;
  background: var(--jp-layout-color2, #eeeeee); color: {_FG}; }}
.{PLOT_CLASS} {{ width: 100%; min-width: 0; }}
.{PLOT_CLASS} .main-svg .cartesianlayer text, .{PLOT_CLASS} .main-svg .infolayer text,
.{PLOT_CLASS} .main-svg .annotation text, .{PLOT_CLASS} .main-svg .g-gtitle text {{
  fill: {_FG} !important; }}
.{PLOT_CLASS} .main-svg .gridlayer path, .{PLOT_CLASS} .main-svg .zerolinelayer path {{
  stroke: var(--jp-border-color2, #e0e0e0) !important; }}
.{PLOT_CLASS} .main-svg .xaxislayer-above path, .{PLOT_CLASS} .main-svg .yaxislayer-above path {{
  stroke: var(--jp-border-color1, #bdbdbd) !important; }}
.{PLOT_CLASS} .main-svg .legend .bg {{ fill: transparent !important; }}
.pygent-svg-chart {{ width: 100%; height: auto; max-width: 100%; display: block; }}
.pygent-fallback {{ color: {_FG}; }}
.pygent-fallback .pygent-chat-log {{ max-height: 420px; }}
.pygent-w .pygent-proposal {{ margin: 4px 0; padding: 4px 8px; border-radius: 4px;
  border: 1px solid var(--jp-border-color1, #bdbdbd);
  background: var(--jp-layout-color1, #ffffff); color: {_FG}; }}
.pygent-w .pygent-diff {{ margin: 4px 0; padding: 4px; max-height: 240px; overflow: auto;
  background: var(--jp-layout-color2, #eeeeee); color: {_FG};
  font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 13px); }}
.pygent-w .pygent-diff span {{ display: block; }}
.pygent-w .pygent-diff .pygent-add {{ border-left: 3px solid var(--jp-success-color1, #388e3c);
  background: var(--jp-layout-color3, #e0e0e0); }}
.pygent-w .pygent-diff .pygent-del {{ border-left: 3px solid var(--jp-error-color1, #d32f2f);
  text-decoration: line-through; }}
.pygent-w .pygent-code-actions .widget-html code {{ color: {_FG};
  font-family: var(--jp-code-font-family, monospace); }}
"""
STYLE = "<style>" + " ".join(line.strip() for line in _CSS.strip().splitlines()) + "</style>"
"""The stylesheet as one ``<style>`` element."""
