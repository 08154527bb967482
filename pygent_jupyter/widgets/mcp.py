"""MCPPanel: configured MCP servers with state and health, their tools, a tool-call form."""

from __future__ import annotations

import concurrent.futures
import json
from typing import Any

import ipywidgets as W

from ._base import EventWidget, esc

__all__ = ["MCPPanel", "form_fields", "form_values"]


def form_fields(schema: dict[str, Any]) -> dict[str, W.Widget]:
    """One input widget per property of a tool's JSON-Schema ``input_schema``.

    strings → Text (Dropdown for ``enum``), integers → IntText, numbers → FloatText,
    booleans → Checkbox, anything else → a JSON Textarea. Required fields get a ``*``.
    """
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    fields: dict[str, W.Widget] = {}
    for name, prop in props.items():
        kind = prop.get("type")
        label = name + (" *" if name in required else "")
        tip = str(prop.get("description", ""))
        style = {"description_width": "initial"}
        widget: W.Widget
        if "enum" in prop:
            widget = W.Dropdown(options=list(prop["enum"]), description=label, style=style)
        elif kind == "integer":
            widget = W.IntText(value=int(prop.get("default", 0)), description=label, style=style)
        elif kind == "number":
            widget = W.FloatText(
                value=float(prop.get("default", 0.0)), description=label, style=style
            )
        elif kind == "boolean":
            widget = W.Checkbox(value=bool(prop.get("default", False)), description=label)
        elif kind == "string":
            widget = W.Text(
                value=str(prop.get("default", "")),
                description=label,
                placeholder=tip[:60],
                style=style,
            )
        else:
            widget = W.Textarea(
                value=json.dumps(prop.get("default", None)),
                description=label,
                placeholder="JSON",
                style=style,
            )
        widget.tooltip = tip
        fields[name] = widget
    return fields


def form_values(schema: dict[str, Any], fields: dict[str, W.Widget]) -> dict[str, Any]:
    """Arguments from a form made by :func:`form_fields`; empty optional fields are left out.

    Raises ``ValueError`` naming the field when a required one is empty or JSON is malformed.
    """
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    args: dict[str, Any] = {}
    for name, widget in fields.items():
        value = widget.value
        kind = props.get(name, {}).get("type")
        if isinstance(widget, W.Textarea) and kind != "string":
            text = value.strip()
            if not text or text == "null":
                value = None
            else:
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{name}: not valid JSON ({exc.msg})") from None
        if value in ("", None):
            if name in required:
                raise ValueError(f"{name} is required")
            continue
        args[name] = value
    return args


class MCPPanel(EventWidget):
    """The MCP fleet: state and health per server, tools, a form to call one, results."""

    EVENTS = (
        "mcp_servers",
        "mcp_server_status",
        "mcp_server_health",
        "tool_discovered",
        "tool_call_result",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.servers: dict[str, dict[str, Any]] = {}
        self.tools: dict[str, list[dict[str, Any]]] = {}
        self.results: list[dict[str, Any]] = []
        self.config_error = ""
        self.table = W.HTML()
        self.server_picker = W.Dropdown(options=[], description="Server")
        self.tool_picker = W.Dropdown(options=[], description="Tool")
        self.buttons = {
            action: W.Button(description=action, layout=W.Layout(width="80px"))
            for action in ("start", "stop", "restart")
        }
        for action, button in self.buttons.items():
            button.on_click(lambda _b, a=action: self._action_from_ui(a))
        self.form = W.VBox()
        self.call_button = W.Button(description="Call tool", button_style="primary")
        self.call_button.on_click(lambda _b: self._call_from_ui())
        self.output = W.HTML()
        self._fields: dict[str, W.Widget] = {}
        self._form_for: tuple[str, str] | None = None
        self.server_picker.observe(lambda _c: self.throttle.request(), names="value")
        self.tool_picker.observe(lambda _c: self.throttle.request(), names="value")
        self.children = (
            self.table,
            W.HBox([self.server_picker, *self.buttons.values()]),
            self.tool_picker,
            self.form,
            self.call_button,
            self.output,
            self.status,
        )
        self.throttle.request()

    # -- commands ---------------------------------------------------------------------------

    def refresh(self) -> None:
        self.command("mcp_list_servers", {})

    def action(self, server_id: str, action: str) -> str:
        """Send ``mcp_server_action``; returns the message id."""
        return self.command("mcp_server_action", {"server_id": server_id, "action": action})

    def call(
        self,
        server_id: str,
        tool: str,
        arguments: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> concurrent.futures.Future[Any]:
        """Call a tool; the future resolves to the ``tool_call_result`` data."""
        data: dict[str, Any] = {"server_id": server_id, "tool": tool, "arguments": arguments or {}}
        if timeout is not None:
            data["timeout"] = timeout
        return self.request("mcp_call_tool", data)[1]

    def _action_from_ui(self, action: str) -> None:
        if self.server_picker.value:
            self.action(self.server_picker.value, action)

    def _call_from_ui(self) -> None:
        server, tool = self.server_picker.value, self.tool_picker.value
        if not server or not tool:
            self.show_error("pick a server and a tool first")
            return
        schema = self._tool(server, tool).get("input_schema") or {}
        try:
            args = form_values(schema, self._fields)
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.call(server, tool, args)

    def _on_reconnected(self) -> None:
        self.command("subscribe", {"topics": ["mcp"]})

    def _on_attach(self) -> None:
        self.command("subscribe", {"topics": ["mcp"]})
        self.refresh()

    # -- events -----------------------------------------------------------------------------

    def _on_mcp_servers(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        self.config_error = str(data.get("config_error") or "")
        for server in data.get("servers") or []:
            sid = str(server.get("server_id"))
            self.servers.setdefault(sid, {}).update(
                {k: v for k, v in server.items() if k != "tools"}
            )
            if "tools" in server:
                self.tools[sid] = list(server["tools"])

    def _on_mcp_server_status(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        self.servers.setdefault(str(data["server_id"]), {}).update(data)

    def _on_mcp_server_health(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        server = self.servers.setdefault(str(data["server_id"]), {"state": "running"})
        server["health"] = data

    def _on_tool_discovered(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        sid = str(data["server_id"])
        self.tools[sid] = list(data.get("tools") or [])
        self.servers.setdefault(sid, {"state": "running"})

    def _on_tool_call_result(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        self.results.append(data)
        del self.results[:-20]
        self._resolve(event.get("reply_to"), data)

    def _tool(self, server: str, tool: str) -> dict[str, Any]:
        return next((t for t in self.tools.get(server, []) if t.get("name") == tool), {})

    # -- drawing ----------------------------------------------------------------------------

    def _draw(self) -> None:
        rows = []
        for sid, s in sorted(self.servers.items()):
            h = s.get("health") or {}
            state = str(s.get("state", "?"))
            color = {
                "running": "var(--jp-success-color1, #388e3c)",
                "failed": "var(--jp-error-color1, #d32f2f)",
                "starting": "var(--jp-warn-color1, #f57c00)",
            }.get(state, "var(--jp-ui-font-color1, #1f1f1f)")
            ping = h.get("ping_ms")
            rows.append(
                f"<tr><td><b>{esc(sid)}</b></td><td><span class='pygent-badge' "
                f"style='border-left:4px solid {color}'>{esc(state)}</span></td>"
                f"<td>{esc(f'{ping:.1f} ms' if isinstance(ping, (int, float)) else '')}</td>"
                f"<td>{len(self.tools.get(sid, []))}</td>"
                f"<td>{esc(h.get('last_error') or s.get('error') or '')}</td></tr>"
            )
        self.table.value = (
            "<table class='pygent-table'><tr><th>server</th><th>state</th><th>ping</th>"
            "<th>tools</th>"
            "<th>last error</th></tr>" + "".join(rows) + "</table>"
            if rows
            else "<i>No MCP servers configured: an admin lists them in the file named by "
            "c.MCPService.config_path (pygent-mcp.json in `jupyter --config-dir`).</i>"
        )
        if self.config_error:
            self.table.value += (
                f"<div class='pygent-error'>configuration error: {esc(self.config_error)}</div>"
            )
        servers = sorted(self.servers)
        if list(self.server_picker.options) != servers:
            current = self.server_picker.value
            self.server_picker.options = servers
            self.server_picker.value = (
                current if current in servers else (servers[0] if servers else None)
            )
        tools = [t.get("name") for t in self.tools.get(self.server_picker.value or "", [])]
        if list(self.tool_picker.options) != tools:
            current = self.tool_picker.value
            self.tool_picker.options = tools
            self.tool_picker.value = current if current in tools else (tools[0] if tools else None)
        key = (self.server_picker.value or "", self.tool_picker.value or "")
        if key != self._form_for:
            schema = self._tool(*key).get("input_schema") or {}
            self._fields = form_fields(schema)
            desc = self._tool(*key).get("description", "")
            self.form.children = (W.HTML(f"<small>{esc(desc)}</small>"), *self._fields.values())
            self._form_for = key
        self.call_button.disabled = not all(key)
        out = []
        for r in reversed(self.results[-5:]):
            texts = [
                c.get("text", json.dumps(c)) for c in r.get("content") or [] if isinstance(c, dict)
            ]
            style = "pygent-error" if r.get("is_error") else ""
            dur = r.get("duration_ms")
            out.append(
                f"<div class='{style}'><b>{esc(r.get('server_id'))}.{esc(r.get('tool'))}</b>"
                + (f" <small>{dur:.1f} ms</small>" if isinstance(dur, (int, float)) else "")
                + f"<pre>{esc(chr(10).join(texts))}</pre></div>"
            )
        self.output.value = "".join(out)

    def _snapshot_body(self) -> str:
        return f"<b>MCP servers</b><div>{self.table.value}</div><div>{self.output.value}</div>"
