"""The stdio transport: one MCP server process in its own process group.

Unlike the SDK's ``stdio_client`` this transport exposes what a fleet manager needs: the
pid, the last lines of stderr (drained continuously so the child never blocks on a full
pipe), a callback when the server dies or writes something that is not JSON-RPC to stdout,
and a clean kill of the whole process group (close stdin, then SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc
import mcp_types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.client.stdio import get_default_environment
from mcp.shared.message import SessionMessage

from .config import ServerConfig

__all__ = ["ProcessInfo", "kill_process_group", "stdio_process"]

MAX_LINE = 16 * 1024 * 1024  # one JSON-RPC message on stdout may not exceed this


@dataclass
class ProcessInfo:
    """Live facts about the child, updated by the transport's tasks."""

    pid: int
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=50))
    returncode: int | None = None
    exited_by_itself: bool = False
    stdout_closed: bool = False

    def stderr_tail(self, lines: int = 5) -> str:
        return "\n".join(list(self.stderr)[-lines:])


def resolve_command(config: ServerConfig, env: dict[str, str]) -> str:
    """The absolute executable for ``config.command``. Raises ``FileNotFoundError``."""
    assert config.command is not None
    command = config.command
    if os.sep in command:
        base = config.cwd or os.getcwd()
        path = command if os.path.isabs(command) else os.path.join(base, command)
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(f"command {command!r} is not an executable file")
        return path
    found = shutil.which(command, path=env.get("PATH", os.defpath))
    if found is None:
        raise FileNotFoundError(f"command {command!r} was not found on PATH")
    return found


async def kill_process_group(
    process: anyio.abc.Process, *, grace: float = 2.0, term_timeout: float = 2.0
) -> int | None:
    """Stop the child and everything in its process group. Returns its exit code.

    Closes stdin and waits ``grace`` seconds for a voluntary exit, then sends SIGTERM to the
    group, waits ``term_timeout`` seconds, then SIGKILL. Leftover members of the group (the
    server's own children) get SIGTERM/SIGKILL too, even after the leader exited.
    """
    pgid = process.pid
    with anyio.CancelScope(shield=True):
        if process.stdin is not None:
            with contextlib.suppress(Exception):
                await process.stdin.aclose()
        if not await _wait_exit(process, grace):
            _signal_group(pgid, signal.SIGTERM)
            if not await _wait_exit(process, term_timeout):
                _signal_group(pgid, signal.SIGKILL)
                await _wait_exit(process, 2.0)
        # Sweep the group: children the server left behind die with it.
        if _signal_group(pgid, signal.SIGTERM):
            await anyio.sleep(0.05)
            _signal_group(pgid, signal.SIGKILL)
    return process.returncode


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


async def _wait_exit(process: anyio.abc.Process, timeout: float) -> bool:
    with anyio.move_on_after(timeout):
        while process.returncode is None:
            await anyio.sleep(0.01)
    return process.returncode is not None


Streams = tuple[
    MemoryObjectReceiveStream[SessionMessage | Exception],
    MemoryObjectSendStream[SessionMessage],
]


@asynccontextmanager
async def stdio_process(
    config: ServerConfig,
    on_fault: Callable[[str], None],
    *,
    grace: float = 2.0,
    term_timeout: float = 2.0,
) -> AsyncIterator[tuple[ProcessInfo, Streams]]:
    """Spawn ``config``'s server; yield its info and the session's stream pair.

    ``on_fault(reason)`` is called (once per fault, from a transport task) when the server
    exits, closes stdout or writes a line that is not JSON-RPC. Leaving the context kills the
    process group.
    """
    env = get_default_environment() | dict(config.env)
    command = resolve_command(config, env)
    process = await anyio.open_process(
        [command, *config.args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=config.cwd,
        start_new_session=True,
    )
    info = ProcessInfo(pid=process.pid)
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
    stopping = False

    def fault(reason: str) -> None:
        if not stopping:
            on_fault(reason)

    async def stdout_reader() -> None:
        assert process.stdout is not None
        buffer = b""
        try:
            async with read_writer:
                async for chunk in process.stdout:
                    buffer += chunk
                    if len(buffer) > MAX_LINE and b"\n" not in buffer:
                        fault(f"wrote a stdout line longer than {MAX_LINE} bytes")
                        return
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if not line.strip():
                            continue
                        try:
                            message = mcp_types.jsonrpc_message_adapter.validate_json(
                                line, by_name=False
                            )
                        except ValueError:
                            text = line[:200].decode("utf-8", "replace")
                            fault(f"wrote output that is not JSON-RPC to stdout: {text!r}")
                            return
                        await read_writer.send(SessionMessage(message))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            return
        info.stdout_closed = True
        await _wait_exit(process, 1.0)
        info.returncode = process.returncode
        if process.returncode is None:
            fault("closed its stdout")
        else:
            fault(f"exited with code {process.returncode}")

    async def stderr_reader() -> None:
        assert process.stderr is not None
        buffer = b""
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            async for chunk in process.stderr:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        info.stderr.append(line[:1000].decode("utf-8", "replace").rstrip())
                if len(buffer) > 64 * 1024:  # a very long line: keep its start
                    info.stderr.append(buffer[:1000].decode("utf-8", "replace"))
                    buffer = b""
        if buffer.strip():
            info.stderr.append(buffer[:1000].decode("utf-8", "replace").rstrip())

    async def stdin_writer() -> None:
        assert process.stdin is not None
        try:
            async with write_reader:
                async for message in write_reader:
                    payload = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send((payload + "\n").encode())
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            fault("stopped reading its stdin")

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(stdout_reader)
            tg.start_soon(stderr_reader)
            tg.start_soon(stdin_writer)
            try:
                yield info, (read_stream, write_stream)
            finally:
                stopping = True
                with anyio.CancelScope(shield=True):
                    write_stream.close()
                    read_stream.close()
                    if info.stdout_closed:  # it went away by itself: let it be reaped
                        await _wait_exit(process, 1.0)
                    info.exited_by_itself = process.returncode is not None
                    info.returncode = await kill_process_group(
                        process, grace=grace, term_timeout=term_timeout
                    )
                    for stream in (process.stdout, process.stderr):
                        if stream is not None:
                            with contextlib.suppress(Exception):
                                await stream.aclose()
                tg.cancel_scope.cancel()
    finally:
        with contextlib.suppress(Exception):
            await process.aclose()
        if sys.platform != "win32":
            _signal_group(info.pid, signal.SIGKILL)
