"""The fleet manager: one :class:`ServerHandle` per configured server, on the ``mcp`` SDK.

Each running server is held by one runner task that owns the transport and the SDK's
``ClientSession`` (anyio scopes must be entered and left in the same task); other tasks call
tools through the session concurrently. Every state change goes through
:meth:`ServerHandle._set_state`, which checks the state machine and emits
``mcp_server_status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import datetime, timezone
from typing import Any

import jsonschema  # imported at start-up: its lazy import costs seconds on the first call
import mcp_types
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from mcp import ClientSession
from mcp.client._transport import ReadStream, WriteStream
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage

from ..._version import __version__
from ...protocol import ErrorCode, PygentError
from ...protocol.envelope import check_value
from ...safe_regex import linear_time_validator
from .config import ServerConfig
from .policy import RestartPolicy, State, ToolPins, check_transition
from .process import ProcessInfo, stdio_process

__all__ = ["Emit", "Fleet", "ServerHandle", "ToolInfo"]

log = logging.getLogger("pygent_jupyter.mcp")

Emit = Callable[[str, dict[str, Any]], None]
"""``emit(type, data)``: hand an event to whoever publishes it (the service)."""

CLIENT_INFO = mcp_types.Implementation(name="pygent-jupyter", version=__version__)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")


def _leaf(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (anyio task groups wrap errors), else ``exc``."""
    while isinstance(getattr(exc, "exceptions", None), tuple) and exc.exceptions:  # type: ignore[attr-defined]
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    return exc


MAX_ARG_DEPTH = 32
"""Deepest nesting of tool-call arguments sent to an MCP server (agents' calls included)."""


class ToolInfo:
    """A discovered tool with its compiled argument validator."""

    __slots__ = ("description", "input_schema", "name", "validator")

    def __init__(self, name: str, description: str, input_schema: dict[str, Any]) -> None:
        self.name = name
        self.description = description
        self.input_schema = input_schema
        self.validator: Validator | None = None
        try:
            cls = jsonschema.validators.validator_for(input_schema, jsonschema.Draft202012Validator)
            cls.check_schema(input_schema)
            self.validator = linear_time_validator(cls)(input_schema)
        except SchemaError:
            log.warning("tool %s has an invalid input schema; arguments are not checked", name)

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
        }

    def validate(self, arguments: dict[str, Any]) -> None:
        """Raise ``invalid`` naming the first offending argument.

        Whatever the tool's schema says, arguments must be strict JSON a session can carry
        (finite numbers, valid Unicode, 64-bit integers, at most :data:`MAX_ARG_DEPTH` levels):
        a bad value fails this call only, never the shared session. ``pattern`` is matched
        in linear time (RE2).
        """
        if not isinstance(arguments, dict):
            raise PygentError(
                ErrorCode.INVALID, "tool arguments must be an object", field="data.arguments"
            )
        check_value(arguments, where="data.arguments", max_depth=MAX_ARG_DEPTH)
        if self.validator is None:
            return
        try:
            error = jsonschema.exceptions.best_match(self.validator.iter_errors(arguments))
        except RecursionError:  # a self-referencing schema walked too deep
            raise PygentError(
                ErrorCode.INVALID,
                f"arguments for tool {self.name!r} are nested too deeply for its schema",
                field="data.arguments",
            ) from None
        if error is not None:
            path = ".".join(str(p) for p in error.absolute_path)
            field = "data.arguments" + (f".{path}" if path else "")
            raise PygentError(
                ErrorCode.INVALID,
                f"arguments for tool {self.name!r} do not match its input schema: {error.message}",
                field=field,
            )


class ServerHandle:
    """One configured server: its state, session, tools, stats and restart policy."""

    def __init__(self, fleet: Fleet, config: ServerConfig) -> None:
        self.fleet = fleet
        self.config = config
        self.state = State.STOPPED
        self.since = time.time()
        self.error: str | None = None
        self.pid: int | None = None
        self.process: ProcessInfo | None = None
        self.session: ClientSession | None = None
        self.tools: dict[str, ToolInfo] = {}
        self.started_at: float | None = None
        self.ping_ms: float | None = None
        self.last_error: str | None = None
        self.calls = 0
        self.call_errors = 0
        self.call_ms_total = 0.0
        self.policy = RestartPolicy(
            initial=fleet.backoff_initial,
            maximum=fleet.backoff_max,
            max_failures=fleet.crash_loop_max,
            window=fleet.crash_loop_window,
        )
        self.lock = asyncio.Lock()
        self._runner: asyncio.Task[None] | None = None
        self._restart: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._fault: str | None = None
        self._fault_event = asyncio.Event()
        self._ready: asyncio.Future[None] | None = None
        self._rediscover: asyncio.Task[None] | None = None

    @property
    def server_id(self) -> str:
        return self.config.server_id

    # -- public views ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The ``mcp_server_status`` payload."""
        data: dict[str, Any] = {
            "server_id": self.server_id,
            "state": self.state.value,
            "since": _iso(self.since),
            "transport": self.config.transport,
            "tool_count": len(self.tools),
        }
        if self.pid is not None:
            data["pid"] = self.pid
        if self.error:
            data["error"] = self.error
        if self.config.disabled:
            data["disabled"] = True
        return data

    def health(self) -> dict[str, Any]:
        """The ``mcp_server_health`` payload."""
        uptime = time.time() - self.started_at if self.started_at else 0.0
        return {
            "server_id": self.server_id,
            "state": self.state.value,
            "ping_ms": None if self.ping_ms is None else round(self.ping_ms, 3),
            "tool_count": len(self.tools),
            "last_error": self.last_error,
            "uptime": round(uptime, 3),
            "calls": self.calls,
            "call_errors": self.call_errors,
            "avg_call_ms": round(self.call_ms_total / self.calls, 3) if self.calls else None,
        }

    def describe(self) -> dict[str, Any]:
        """Config (public part), status and tools, for ``mcp_servers``."""
        return {
            **self.config.public(),
            **self.status(),
            "tools": [
                {**t.public(), "trusted": self.fleet.pins.trusted(self.server_id, t.name)}
                for t in self.tools.values()
            ],
        }

    # -- state -------------------------------------------------------------------------

    def _set_state(self, state: State, error: str | None = None) -> None:
        check_transition(self.state, state)
        self.state = state
        self.since = time.time()
        self.error = error
        if state is State.RUNNING:
            self.started_at = self.since
        elif state is not State.STARTING:
            self.started_at = None
            self.ping_ms = None
        if state in (State.STOPPED, State.FAILED):
            self.pid = None
        if error:
            self.last_error = error
        log.info("MCP server %s: %s%s", self.server_id, state.value, f" ({error})" if error else "")
        self.fleet.emit("mcp_server_status", self.status())

    def fault(self, reason: str) -> None:
        """Mark the live connection broken (transport task, health check); the runner fails."""
        if self._fault is None:
            self._fault = reason
        self._fault_event.set()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, *, manual: bool = True) -> None:
        """Start (no-op when running or starting) and wait until running or failed."""
        if manual:
            self._cancel_restart()
            self.policy.reset()
        if self.state in (State.RUNNING, State.STARTING) and self._ready is not None:
            await asyncio.shield(self._ready)
            return
        if self.config.disabled:
            raise PygentError(
                ErrorCode.CONFLICT,
                f"MCP server {self.server_id!r} is disabled in the configuration file",
            )
        self._stop = asyncio.Event()
        self._fault = None
        self._fault_event = asyncio.Event()
        self._ready = asyncio.get_running_loop().create_future()
        self._set_state(State.STARTING)
        self._runner = asyncio.ensure_future(self._run(self._ready))
        await asyncio.shield(self._ready)

    async def stop(self) -> None:
        """Stop the server (and any pending automatic restart). Idempotent."""
        self._cancel_restart()
        runner = self._runner
        if runner is not None and not runner.done():
            self._stop.set()
            self._fault_event.set()  # also interrupts a handshake in progress
            try:
                await asyncio.wait_for(asyncio.shield(runner), self.fleet.stop_timeout)
            except asyncio.TimeoutError:
                runner.cancel()
                with contextlib.suppress(BaseException):
                    await runner
        if self.state is not State.STOPPED:
            self._set_state(State.STOPPED)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def _cancel_restart(self) -> None:
        if self._restart is not None and not self._restart.done():
            self._restart.cancel()
        self._restart = None

    async def _run(self, ready: asyncio.Future[None]) -> None:
        """Runner task: connect, discover, then wait for stop or a fault."""
        error: str | None = None
        try:
            async with AsyncExitStack() as stack:
                await self._connect(stack)
                await self._wait_stop_or_fault()
                if self._fault and not self._stop.is_set():
                    error = self._fault
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("MCP server %s runner failed", self.server_id, exc_info=True)
            error = self._fault or self._exit_reason() or self._reason(exc)
        finally:
            self.session = None
            self.tools = {}
            if self._rediscover is not None:
                self._rediscover.cancel()
            if not ready.done():
                ready.set_result(None)
        if error is not None and not self._stop.is_set():
            self._failed(error)
        elif self.state is not State.STOPPED:
            self._set_state(State.STOPPED)

    async def _connect(self, stack: AsyncExitStack) -> ClientSession:
        fleet = self.fleet
        read: ReadStream[SessionMessage | Exception]
        write: WriteStream[SessionMessage]
        if self.config.transport == "stdio":
            info, (read, write) = await stack.enter_async_context(
                stdio_process(
                    self.config,
                    self.fault,
                    grace=fleet.stop_grace,
                    term_timeout=fleet.term_timeout,
                )
            )
            self.process = info
            self.pid = info.pid
        else:
            assert self.config.url is not None
            client = create_mcp_http_client(headers=dict(self.config.headers) or None)
            await stack.enter_async_context(client)
            read, write = await stack.enter_async_context(
                streamable_http_client(self.config.url, http_client=client)
            )
            self.process = None
        session = await stack.enter_async_context(
            ClientSession(
                read,
                write,
                message_handler=self._on_message,
                client_info=CLIENT_INFO,
            )
        )
        self.session = session

        async def handshake() -> list[ToolInfo]:
            await session.initialize()
            return await self._list_tools(session)

        tools = await self._race_fault(asyncio.wait_for(handshake(), fleet.start_timeout))
        self.tools = {t.name: t for t in tools}
        self._set_state(State.RUNNING)
        self._announce_tools()
        assert self._ready is not None
        if not self._ready.done():
            self._ready.set_result(None)
        return session

    async def _race_fault(self, coro: Any) -> Any:
        """Await ``coro`` unless the transport reports a fault first."""
        task = asyncio.ensure_future(coro)
        fault = asyncio.ensure_future(self._fault_event.wait())
        try:
            await asyncio.wait({task, fault}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            fault.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise MCPError(code=mcp_types.CONNECTION_CLOSED, message=self._fault or "fault")
        return task.result()

    async def _wait_stop_or_fault(self) -> None:
        stop = asyncio.ensure_future(self._stop.wait())
        fault = asyncio.ensure_future(self._fault_event.wait())
        try:
            await asyncio.wait({stop, fault}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            fault.cancel()

    def _reason(self, exc: BaseException) -> str:
        """Why the runner failed, in words, from its (possibly grouped) exception."""
        leaf = _leaf(exc)
        if isinstance(leaf, FileNotFoundError):
            return str(leaf)
        if isinstance(leaf, asyncio.TimeoutError):
            return f"did not answer initialize/tools/list within {self.fleet.start_timeout:g} s"
        if isinstance(leaf, MCPError):
            return f"MCP error: {leaf.message}"
        return f"{type(leaf).__name__}: {leaf}"

    def _exit_reason(self) -> str | None:
        """'exited with code N' when the process died on its own (not killed by us)."""
        info = self.process
        if info is not None and info.exited_by_itself and info.returncode is not None:
            return f"exited with code {info.returncode}"
        return None

    def _failed(self, error: str) -> None:
        if self.process is not None:
            tail = self.process.stderr_tail(self.fleet.stderr_lines)
            if tail:
                error = f"{error}; last stderr lines:\n{tail}"
        if self.state is State.STOPPED:
            return
        delay = self.policy.on_failure(time.monotonic())
        if delay is None:
            error = (
                f"{error}\ncrash loop: {self.policy.max_failures} failures within "
                f"{self.policy.window:g} s; not restarting automatically (start it by hand)"
            )
        self._set_state(State.FAILED, error)
        if delay is not None and self.fleet.auto_restart:
            self._restart = asyncio.ensure_future(self._restart_later(delay))

    async def _restart_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if self.state is State.FAILED:
            async with self.lock:
                if self.state is State.FAILED:
                    with contextlib.suppress(PygentError):
                        await self.start(manual=False)

    # -- tools -------------------------------------------------------------------------

    async def _list_tools(self, session: ClientSession) -> list[ToolInfo]:
        tools: list[ToolInfo] = []
        cursor: str | None = None
        while True:
            params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
            result = await session.list_tools(params=params)
            tools.extend(
                ToolInfo(t.name, t.description or "", dict(t.input_schema or {}))
                for t in result.tools
            )
            cursor = result.next_cursor
            if not cursor or len(tools) > 10_000:
                return tools

    def _announce_tools(self) -> None:
        public = [t.public() for t in self.tools.values()]
        self.fleet.observe_tools(self.server_id, public)
        self.fleet.emit(
            "tool_discovered",
            {
                "server_id": self.server_id,
                "tools": [
                    {**t, "trusted": self.fleet.pins.trusted(self.server_id, t["name"])}
                    for t in public
                ],
            },
        )

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification):
            if self._rediscover is None or self._rediscover.done():
                self._rediscover = asyncio.ensure_future(self._refresh_tools())
        elif isinstance(message, Exception):
            self.fault(f"transport error: {message}")

    async def _refresh_tools(self) -> None:
        session = self.session
        if session is None or self.state is not State.RUNNING:
            return
        try:
            tools = await asyncio.wait_for(self._list_tools(session), self.fleet.start_timeout)
        except (MCPError, asyncio.TimeoutError) as exc:
            self.last_error = f"tools/list after list_changed failed: {exc}"
            return
        self.tools = {t.name: t for t in tools}
        self._announce_tools()

    async def ping(self) -> float:
        """Round-trip a ``ping``; returns milliseconds. A failure faults the server."""
        session = self.session
        if session is None or self.state is not State.RUNNING:
            raise PygentError(
                ErrorCode.UNAVAILABLE, f"MCP server {self.server_id!r} is not running"
            )
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(session.send_ping(), self.fleet.health_timeout)
        except (MCPError, asyncio.TimeoutError, OSError) as exc:
            reason = str(exc) or "no answer"
            self.last_error = f"health check failed: {reason}"
            self.fault(self.last_error)
            raise PygentError(ErrorCode.UNAVAILABLE, self.last_error) from None
        self.ping_ms = (time.perf_counter() - t0) * 1000
        return self.ping_ms

    async def call_tool(
        self, tool: str, arguments: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """Validate and call ``tool``; returns the ``tool_call_result`` payload.

        Raises ``unavailable`` (not running), ``not_found`` (no such tool), ``invalid``
        (arguments), ``timeout``. Cancelling the caller sends MCP ``notifications/cancelled``.
        """
        session = self.session
        if session is None or self.state is not State.RUNNING:
            raise PygentError(
                ErrorCode.UNAVAILABLE,
                f"MCP server {self.server_id!r} is {self.state.value}; start it first",
            )
        info = self.tools.get(tool)
        if info is None:
            raise PygentError(
                ErrorCode.NOT_FOUND,
                f"MCP server {self.server_id!r} has no tool {tool!r} "
                f"(known: {', '.join(sorted(self.tools)) or 'none'})",
                field="data.tool",
            )
        info.validate(arguments)
        t0 = time.perf_counter()
        data: dict[str, Any] = {"server_id": self.server_id, "tool": tool}
        try:
            result = await session.call_tool(tool, arguments, read_timeout_seconds=timeout)
        except MCPError as exc:
            self._count(t0, error=True)
            if exc.code == mcp_types.REQUEST_TIMEOUT:
                raise PygentError(
                    ErrorCode.TIMEOUT,
                    f"tool {tool!r} on MCP server {self.server_id!r} did not answer within "
                    f"{timeout:g} s; the call was cancelled",
                ) from None
            if exc.code == mcp_types.CONNECTION_CLOSED:
                with contextlib.suppress(asyncio.TimeoutError):  # let the transport say why
                    await asyncio.wait_for(asyncio.shield(self._fault_event.wait()), 1.5)
                raise PygentError(
                    ErrorCode.UNAVAILABLE,
                    f"MCP server {self.server_id!r} went away during the call "
                    f"({self._fault or exc.message})",
                ) from None
            data.update(
                is_error=True,
                content=[{"type": "text", "text": exc.message}],
                error={"code": exc.code, "message": exc.message},
            )
        else:
            self._count(t0, error=bool(result.is_error))
            data.update(
                is_error=bool(result.is_error),
                content=[
                    c.model_dump(mode="json", by_alias=True, exclude_none=True)
                    for c in result.content
                ],
            )
            if result.structured_content is not None:
                data["structured_content"] = result.structured_content
        data["duration_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        if data["is_error"]:
            self.last_error = (
                f"tool {tool!r}: "
                + " ".join(c.get("text", "") for c in data["content"] if isinstance(c, dict))[:500]
            )
        return data

    def _count(self, t0: float, *, error: bool) -> None:
        self.calls += 1
        self.call_ms_total += (time.perf_counter() - t0) * 1000
        if error:
            self.call_errors += 1


class Fleet:
    """Every configured server by id. Knobs are copied from the service's traits."""

    def __init__(
        self,
        emit: Emit,
        *,
        pins: ToolPins | None = None,
        on_pins: Callable[[dict[tuple[str, str], str]], None] | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        stop_grace: float = 2.0,
        term_timeout: float = 2.0,
        health_timeout: float = 5.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        crash_loop_max: int = 5,
        crash_loop_window: float = 60.0,
        auto_restart: bool = True,
        stderr_lines: int = 5,
    ) -> None:
        self.emit = emit
        self.pins = pins or ToolPins()
        self.on_pins = on_pins
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.stop_grace = stop_grace
        self.term_timeout = term_timeout
        self.health_timeout = health_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.crash_loop_max = crash_loop_max
        self.crash_loop_window = crash_loop_window
        self.auto_restart = auto_restart
        self.stderr_lines = stderr_lines
        self.servers: dict[str, ServerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, server_id: str) -> ServerHandle:
        handle = self.servers.get(server_id)
        if handle is None:
            raise PygentError(
                ErrorCode.NOT_FOUND,
                f"no MCP server {server_id!r} is configured (configured: "
                f"{', '.join(sorted(self.servers)) or 'none'})",
                field="data.server_id",
            )
        return handle

    def observe_tools(self, server_id: str, tools: list[dict[str, Any]]) -> None:
        """Pin first-seen tool descriptions; alert on changed ones."""
        new, changes = self.pins.observe(server_id, tools)
        if new and self.on_pins is not None:
            self.on_pins(new)
        for change in changes:
            self.emit(
                "system_alert",
                {
                    "metric": "mcp_tool_description",
                    "state": "firing",
                    "severity": "warning",
                    "source": "mcp",
                    "server_id": server_id,
                    "tool": change.tool,
                    "pinned_sha256": change.pinned,
                    "seen_sha256": change.seen,
                    "message": (
                        f"MCP server {server_id!r} changed the description or input schema of "
                        f"tool {change.tool!r} since it was first seen. Agents will not use it "
                        "until an admin accepts the change (mcp_server_action accept_tools)."
                    ),
                },
            )

    def accept_tools(self, server_id: str) -> list[str]:
        """Trust the current descriptions of ``server_id``'s changed tools."""
        accepted = self.pins.accept(server_id)
        if accepted and self.on_pins is not None:
            self.on_pins(accepted)
        return sorted(tool for _, tool in accepted)

    async def apply(self, servers: dict[str, ServerConfig]) -> None:
        """Reconcile with a new configuration: stop removed and changed servers, add new
        ones, restart changed running ones, auto-start where asked."""
        for server_id in list(self.servers):
            if server_id not in servers:
                handle = self.servers.pop(server_id)
                async with handle.lock:
                    await handle.stop()
                self.emit(
                    "mcp_server_status",
                    {**handle.status(), "state": "stopped", "removed": True},
                )
        for server_id, config in servers.items():
            existing = self.servers.get(server_id)
            if existing is None:
                handle = self.servers[server_id] = ServerHandle(self, config)
                self.emit("mcp_server_status", handle.status())
                if config.auto_start and not config.disabled:
                    self._background(self._start_quietly(handle))
                continue
            handle = existing
            if handle.config == config:
                continue
            was_live = handle.state in (State.RUNNING, State.STARTING)
            async with handle.lock:
                await handle.stop()
                handle.config = config
            if (was_live or config.auto_start) and not config.disabled:
                self._background(self._start_quietly(handle))

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_quietly(self, handle: ServerHandle) -> None:
        async with handle.lock:
            with contextlib.suppress(PygentError):
                await handle.start()

    async def close(self) -> None:
        """Stop every server; afterwards no process of the fleet is alive."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(
            *(self._stop_locked(h) for h in self.servers.values()), return_exceptions=True
        )

    async def _stop_locked(self, handle: ServerHandle) -> None:
        restart = handle._restart
        await handle.stop()
        if restart is not None:
            with contextlib.suppress(BaseException):
                await restart
