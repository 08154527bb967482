"""``MCPService``: the admin-configured MCP server fleet behind the socket.

Servers come only from the admin's configuration file (:mod:`.config`); a client message
names a configured ``server_id`` and nothing else (the catalog schemas reject any other
field, so a message can never carry a command line or a URL). Starting, stopping and
restarting need ``pygent:mcp``; calling a tool needs ``pygent:mcp:call``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from jupyter_core.paths import jupyter_config_dir
from traitlets import Bool, Float, Int, Unicode, default

from ...protocol import ErrorCode, PygentError
from ..base import Service
from ..seams import ChatHooks, Publisher, Seams
from .config import ConfigError, FileState, FleetConfig, file_state, load_config
from .manager import Fleet, ServerHandle
from .policy import State, ToolPins

if TYPE_CHECKING:
    from ...hub import Request
    from ...protocol.types import McpCallToolData, McpListServersData, McpServerActionData
    from ...storage import Database

__all__ = ["MCPService", "ToolCallFailed", "result_text"]

MIGRATIONS = [
    """
    CREATE TABLE mcp_tool_pins (
        server_id TEXT NOT NULL,
        tool TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        pinned_at REAL NOT NULL,
        PRIMARY KEY (server_id, tool)
    );
    """
]

_AGENT_NAME_RE = re.compile(r"[^A-Za-z0-9_-]")


class MCPService(Service):
    """Runs the MCP servers listed in the admin's ``mcpServers`` file."""

    name = "mcp"

    config_path = Unicode(
        help="The admin-owned MCP server file ({'mcpServers': {...}}, the format other MCP "
        "hosts use). Default: pygent-mcp.json in the Jupyter config directory "
        "(`jupyter --config-dir`, honours JUPYTER_CONFIG_DIR). Reloaded when it changes.",
    ).tag(config=True)

    @default("config_path")
    def _default_config_path(self) -> str:
        return os.path.join(jupyter_config_dir(), "pygent-mcp.json")

    config_poll_interval = Float(
        2.0, help="Seconds between checks of the configuration file for changes."
    ).tag(config=True)
    health_interval = Float(
        30.0, help="Seconds between health pings of running servers (mcp_server_health)."
    ).tag(config=True)
    health_timeout = Float(
        5.0, help="A server that does not answer a ping within this many seconds has failed."
    ).tag(config=True)
    call_timeout = Float(
        60.0, help="Default timeout of one tool call, in seconds (a call may ask for less)."
    ).tag(config=True)
    max_call_timeout = Float(
        600.0, help="The longest timeout a client may ask for on one tool call, in seconds."
    ).tag(config=True)
    start_timeout = Float(
        30.0, help="Seconds a server has to answer initialize and tools/list after starting."
    ).tag(config=True)
    stop_grace = Float(
        2.0, help="Seconds a stdio server has to exit after its stdin closes, before SIGTERM."
    ).tag(config=True)
    term_timeout = Float(
        2.0, help="Seconds after SIGTERM to the server's process group before SIGKILL."
    ).tag(config=True)
    auto_restart = Bool(
        True, help="Restart a failed server automatically, with exponential backoff."
    ).tag(config=True)
    restart_backoff_initial = Float(
        0.5, help="Delay before the first automatic restart; doubles on each failure."
    ).tag(config=True)
    restart_backoff_max = Float(30.0, help="Longest delay between automatic restarts.").tag(
        config=True
    )
    crash_loop_max = Int(
        5, help="After this many failures within crash_loop_window, stop restarting."
    ).tag(config=True)
    crash_loop_window = Float(
        60.0, help="The window, in seconds, in which crash_loop_max failures mean a crash loop."
    ).tag(config=True)
    stderr_lines = Int(
        5, help="How many of a failed server's last stderr lines go into its error."
    ).tag(config=True)

    def __init__(self, hub: Publisher, **kwargs: Any) -> None:
        super().__init__(hub, **kwargs)
        self._hooks: ChatHooks | None = None
        self.fleet: Fleet | None = None
        self.config_error: str | None = None
        self.config_warnings: tuple[str, ...] = ()
        self._file: FileState | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._agent_names: dict[str, tuple[str, str]] = {}
        self._remove_tools: Callable[[], None] | None = None

    # -- service contract --------------------------------------------------------------

    def bind(self, db: Database | None, seams: Seams) -> None:
        super().bind(db, seams)
        self._hooks = seams.chat_hooks

    def commands(self) -> Mapping[str, Callable[[Request], Awaitable[None]]]:
        return {
            "mcp_server_action": self.on_server_action,
            "mcp_list_servers": self.on_list_servers,
            "mcp_call_tool": self.on_call_tool,
        }

    async def start(self) -> None:
        pins = await self._load_pins()
        self.fleet = Fleet(
            self._emit,
            pins=pins,
            on_pins=self._save_pins,
            start_timeout=self.start_timeout,
            stop_grace=self.stop_grace,
            term_timeout=self.term_timeout,
            health_timeout=self.health_timeout,
            backoff_initial=self.restart_backoff_initial,
            backoff_max=self.restart_backoff_max,
            crash_loop_max=self.crash_loop_max,
            crash_loop_window=self.crash_loop_window,
            auto_restart=self.auto_restart,
            stderr_lines=self.stderr_lines,
        )
        await self.reload_config()
        if self._hooks is not None:
            self._remove_tools = self._hooks.add_tool_provider(
                self.list_agent_tools, self.call_agent_tool, name="mcp"
            )
        self._tasks = [
            asyncio.ensure_future(self._watch_config()),
            asyncio.ensure_future(self._health_loop()),
        ]

    async def stop(self) -> None:
        if self._remove_tools is not None:
            with contextlib.suppress(ValueError):
                self._remove_tools()
            self._remove_tools = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.fleet is not None:
            await self.fleet.close()

    def health(self) -> dict[str, Any]:
        if self.start_error or self.fleet is None:
            return super().health()
        states = [h.state for h in self.fleet.servers.values()]
        data: dict[str, Any] = {
            "state": "up",  # an invalid file keeps the last good fleet running
            "servers": len(states),
            "running": states.count(State.RUNNING),
            "failed": states.count(State.FAILED),
        }
        if self.config_error:
            data["config_error"] = self.config_error
        return data

    def greeting(self, user: str) -> Iterable[tuple[str, dict[str, Any]]]:
        if self.fleet is not None and self.fleet.servers:
            yield "mcp_servers", self.snapshot()

    # -- configuration -----------------------------------------------------------------

    async def reload_config(self) -> bool:
        """Load the file and reconcile the fleet. An invalid file keeps the last good config
        and broadcasts ``mcp_config_status{state: invalid}``. Returns whether it loaded."""
        assert self.fleet is not None
        self._file = file_state(self.config_path)
        try:
            config: FleetConfig = await asyncio.to_thread(load_config, self.config_path)
        except ConfigError as exc:
            self.config_error = str(exc)
            self.log.error("MCP configuration %s is invalid: %s", self.config_path, exc)
            self._emit(
                "mcp_config_status",
                {
                    "state": "invalid",
                    "error": self.config_error,
                    "servers": sorted(self.fleet.servers),
                    "message": "the file was not applied; the last good configuration is kept",
                },
            )
            return False
        self.config_error = None
        self.config_warnings = config.warnings
        for warning in config.warnings:
            self.log.warning("MCP configuration: %s", warning)
        await self.fleet.apply(config.servers)
        status: dict[str, Any] = {
            "state": "loaded" if self._file.exists else "missing",
            "servers": sorted(config.servers),
        }
        if config.warnings:
            status["warnings"] = list(config.warnings)
        self._emit("mcp_config_status", status)
        return True

    async def _watch_config(self) -> None:
        while True:
            await asyncio.sleep(self.config_poll_interval)
            try:
                if file_state(self.config_path) != self._file:
                    await self.reload_config()
            except Exception:
                self.log.exception("MCP configuration reload failed")

    # -- health ------------------------------------------------------------------------

    async def check_health(self) -> None:
        """Ping every running server once and publish ``mcp_server_health`` on ``mcp``."""
        assert self.fleet is not None
        handles = [h for h in self.fleet.servers.values() if h.state is State.RUNNING]
        await asyncio.gather(*(self._ping(h) for h in handles))
        for handle in self.fleet.servers.values():
            if handle.state is not State.STOPPED or handle.last_error:
                self._emit("mcp_server_health", handle.health())

    async def _ping(self, handle: ServerHandle) -> None:
        with contextlib.suppress(PygentError):
            await handle.ping()

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval)
            try:
                await self.check_health()
            except Exception:
                self.log.exception("MCP health check failed")

    # -- events ------------------------------------------------------------------------

    def _emit(self, type_: str, data: dict[str, Any]) -> None:
        if type_ == "mcp_server_health":
            self.hub.publish_topic("mcp", type_, data)
        else:
            self.hub.broadcast(type_, data)

    def snapshot(self) -> dict[str, Any]:
        """Every configured server with state and tools (``mcp_servers``)."""
        assert self.fleet is not None
        data: dict[str, Any] = {
            "servers": [h.describe() for h in self.fleet.servers.values()],
            "config_state": "invalid" if self.config_error else "loaded",
        }
        if self.config_error:
            data["config_error"] = self.config_error
        return data

    # -- commands ----------------------------------------------------------------------

    def _fleet(self) -> Fleet:
        if self.fleet is None:
            raise PygentError(ErrorCode.UNAVAILABLE, "the MCP service is not running")
        return self.fleet

    async def on_server_action(self, request: Request[McpServerActionData]) -> None:
        """``mcp_server_action``: start | stop | restart | status | accept_tools."""
        fleet = self._fleet()
        action = request.data["action"]
        handle = fleet.get(request.data["server_id"])
        if action == "status":
            request.reply("mcp_server_status", handle.status())
            return
        await request.authorize("pygent:mcp")
        extra: dict[str, Any] = {}
        if action == "stop":  # not behind the lock: a stop interrupts a start in progress
            await handle.stop()
            request.reply("mcp_server_status", handle.status())
            return
        async with handle.lock:
            if action == "start":
                await handle.start()
            elif action == "restart":
                await handle.restart()
            elif action == "accept_tools":
                extra["accepted"] = fleet.accept_tools(handle.server_id)
        request.reply("mcp_server_status", {**handle.status(), **extra})

    async def on_list_servers(self, request: Request[McpListServersData]) -> None:
        """``mcp_list_servers``: one ``mcp_servers`` reply with every server and its tools."""
        self._fleet()
        request.reply("mcp_servers", self.snapshot())

    async def on_call_tool(self, request: Request[McpCallToolData]) -> None:
        """``mcp_call_tool``: validate, call, reply ``tool_call_result``."""
        await request.authorize("pygent:mcp:call")
        handle = self._fleet().get(request.data["server_id"])
        timeout = min(float(request.data.get("timeout", self.call_timeout)), self.max_call_timeout)
        result = await handle.call_tool(
            request.data["tool"], request.data.get("arguments") or {}, timeout
        )
        request.reply("tool_call_result", result)

    # -- tools for agents --------------------------------------------------------------

    def agent_tools(self) -> list[dict[str, Any]]:
        """Tools an agent may call, in Ollama's ``tools=`` format.

        Only tools of running servers whose description matches its pin are offered; the
        function name is ``<server_id>__<tool>`` (sanitized to ``[A-Za-z0-9_-]``, ≤ 64).
        """
        if self.fleet is None:
            return []
        specs: list[dict[str, Any]] = []
        names: dict[str, tuple[str, str]] = {}
        for handle in self.fleet.servers.values():
            if handle.state is not State.RUNNING:
                continue
            for tool in handle.tools.values():
                if not self.fleet.pins.trusted(handle.server_id, tool.name):
                    continue
                name = _AGENT_NAME_RE.sub("_", f"{handle.server_id}__{tool.name}")[:64]
                if name in names:
                    continue
                names[name] = (handle.server_id, tool.name)
                specs.append(
                    {
                        "type": "function",
                        "function": {
                            "name": name,
                            "description": tool.description[:1024],
                            "parameters": tool.input_schema or {"type": "object"},
                        },
                    }
                )
        self._agent_names = names
        return specs

    async def _agent_allowed(self, user: str) -> bool:
        """Whether ``user`` may call MCP tools (``pygent:mcp:call``); a user with no open
        connection (the authorizer needs one) gets no tools."""
        return await self.hub.allowed(user, "execute", "pygent:mcp:call")

    async def list_agent_tools(self, user: str) -> list[dict[str, Any]]:
        """Tool hook for the agents (``list_tools``): :meth:`agent_tools` for permitted users,
        each spec tagged with its ``server_id``."""
        if not await self._agent_allowed(user):
            return []
        specs = self.agent_tools()
        for spec in specs:
            spec["server_id"] = self._agent_names[spec["function"]["name"]][0]
        return specs

    async def call_agent_tool(self, user: str, name: str, arguments: dict[str, Any]) -> str:
        """Tool hook for the agents (``call_tool``): run one call, return the text the model
        reads. A failed call raises :class:`ToolCallFailed` (the agent reports it as an error
        result, so the model can read what went wrong)."""
        target = self._agent_names.get(name)
        if target is None or self.fleet is None:
            raise ToolCallFailed(f"there is no MCP tool named {name!r}")
        if not await self._agent_allowed(user):
            raise ToolCallFailed("you are not allowed to call MCP tools (pygent:mcp:call)")
        server_id, tool = target
        if not self.fleet.pins.trusted(server_id, tool):
            raise ToolCallFailed(f"tool {name!r} changed its description; an admin must review it")
        try:
            result = await self.fleet.get(server_id).call_tool(tool, arguments, self.call_timeout)
        except PygentError as exc:
            raise ToolCallFailed(exc.message) from None
        text = result_text(result)
        if result["is_error"]:
            raise ToolCallFailed(text)
        return text

    # -- pins persistence --------------------------------------------------------------

    async def _load_pins(self) -> ToolPins:
        db = self.db
        if db is None:
            return ToolPins()
        await asyncio.to_thread(db.migrate, "mcp", MIGRATIONS)

        def read(conn: sqlite3.Connection) -> dict[tuple[str, str], str]:
            rows = conn.execute("SELECT server_id, tool, sha256 FROM mcp_tool_pins").fetchall()
            return {(r[0], r[1]): r[2] for r in rows}

        return ToolPins(await db.run(read))

    def _save_pins(self, pins: dict[tuple[str, str], str]) -> None:
        db = self.db
        if db is None:
            return
        now = time.time()

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO mcp_tool_pins (server_id, tool, sha256, pinned_at) "
                "VALUES (?, ?, ?, ?)",
                [(s, t, h, now) for (s, t), h in pins.items()],
            )

        task = asyncio.ensure_future(db.run(write))
        task.add_done_callback(_log_failure)


class ToolCallFailed(Exception):
    """An agent's tool call failed; the message is what the model reads."""


def result_text(result: dict[str, Any]) -> str:
    """A ``tool_call_result`` as the text a model reads: structured content as JSON when
    present, else the text blocks (other blocks are named by type)."""
    if result.get("structured_content") is not None:
        return json.dumps(result["structured_content"], ensure_ascii=False)
    parts = []
    for block in result.get("content", []):
        if block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        else:
            parts.append(f"[{block.get('type', 'content')} omitted]")
    return "\n".join(parts)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        import logging

        logging.getLogger("pygent_jupyter.mcp").error(
            "could not store MCP tool pins", exc_info=task.exception()
        )
