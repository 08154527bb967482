"""The admin-owned MCP server configuration: parsing, validation and change detection.

The file uses the ``mcpServers`` format other MCP hosts use::

    {"mcpServers": {
        "time": {"command": "uvx", "args": ["mcp-server-time"], "env": {}, "cwd": "/srv"},
        "search": {"url": "https://mcp.example.org/mcp", "headers": {"Authorization": "…"}},
        "old": {"command": "old-server", "disabled": true}
    }}

Each entry is either a stdio server (``command``, optional ``args``, ``env``, ``cwd``) or a
streamable-HTTP server (``url``, optional ``headers``), plus optional ``disabled`` and
``autoStart`` booleans. This module is pure: it never starts anything.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

__all__ = [
    "ConfigError",
    "FileState",
    "FleetConfig",
    "ServerConfig",
    "file_state",
    "load_config",
    "parse_config",
]

SERVER_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_STDIO_KEYS = {"command", "args", "env", "cwd"}
_HTTP_KEYS = {"url", "headers"}
_COMMON_KEYS = {"disabled", "autoStart", "type", "description"}


class ConfigError(ValueError):
    """The configuration file is unreadable or invalid; the message says where and why."""


@dataclass(frozen=True)
class ServerConfig:
    """One configured server. ``transport`` is ``"stdio"`` or ``"http"``."""

    server_id: str
    transport: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    disabled: bool = False
    auto_start: bool = False
    description: str = ""

    def public(self) -> dict[str, Any]:
        """What clients may see: never the command line, environment, headers or URL secrets."""
        data: dict[str, Any] = {
            "server_id": self.server_id,
            "transport": self.transport,
            "disabled": self.disabled,
            "auto_start": self.auto_start,
        }
        if self.description:
            data["description"] = self.description
        return data


@dataclass(frozen=True)
class FleetConfig:
    """Every configured server, by id, and warnings about ignored keys."""

    servers: dict[str, ServerConfig] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileState:
    """What identifies one version of the file on disk (``None`` fields: file missing)."""

    exists: bool
    mtime_ns: int = 0
    size: int = 0
    inode: int = 0


def file_state(path: str | Path) -> FileState:
    """Stat ``path``; a missing file is a state too."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return FileState(exists=False)
    return FileState(exists=True, mtime_ns=st.st_mtime_ns, size=st.st_size, inode=st.st_ino)


def load_config(path: str | Path) -> FleetConfig:
    """Read and parse the file. A missing file is an empty fleet; anything else wrong raises."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return FleetConfig()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(f"cannot read {Path(path).name}: {reason}") from None
    if not text.strip():
        return FleetConfig()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{Path(path).name} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from None
    return parse_config(raw)


def parse_config(raw: Any) -> FleetConfig:
    """Validate a decoded ``{"mcpServers": {...}}`` document. Raises :class:`ConfigError`."""
    if not isinstance(raw, dict):
        raise ConfigError("the top level must be a JSON object with an 'mcpServers' object")
    servers_raw = raw.get("mcpServers", {})
    if not isinstance(servers_raw, dict):
        raise ConfigError("'mcpServers' must be an object mapping server ids to settings")
    warnings = [f"ignored top-level key {k!r}" for k in raw if k != "mcpServers"]
    servers: dict[str, ServerConfig] = {}
    for server_id, entry in servers_raw.items():
        server, entry_warnings = _parse_server(server_id, entry)
        servers[server_id] = server
        warnings.extend(entry_warnings)
    return FleetConfig(servers=servers, warnings=tuple(warnings))


def _parse_server(server_id: str, entry: Any) -> tuple[ServerConfig, list[str]]:
    where = f"mcpServers.{server_id}"
    if not SERVER_ID_RE.match(server_id):
        raise ConfigError(
            f"{where}: server ids may only use letters, digits, '_', '.' and '-' (1-128 chars)"
        )
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object")
    has_command, has_url = "command" in entry, "url" in entry
    if has_command == has_url:
        raise ConfigError(f"{where} needs exactly one of 'command' (stdio) or 'url' (HTTP)")
    kind = entry.get("type")
    if kind is not None and kind not in ("stdio", "http", "streamable-http", "streamableHttp"):
        raise ConfigError(
            f"{where}.type {kind!r} is not supported (use 'stdio' or 'http'; the legacy SSE "
            "transport is not supported)"
        )
    transport = "stdio" if has_command else "http"
    if kind is not None and (kind == "stdio") != has_command:
        raise ConfigError(f"{where}.type {kind!r} does not match its 'command'/'url'")
    allowed = _COMMON_KEYS | (_STDIO_KEYS if has_command else _HTTP_KEYS)
    wrong = (_STDIO_KEYS | _HTTP_KEYS) - allowed
    for key in entry:
        if key in wrong:
            raise ConfigError(f"{where}.{key} is not allowed for a {transport} server")
    warnings = [f"{where}: ignored key {k!r}" for k in entry if k not in allowed]
    for flag in ("disabled", "autoStart"):
        if flag in entry and not isinstance(entry[flag], bool):
            raise ConfigError(f"{where}.{flag} must be true or false")
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}.description must be a string")
    common = {
        "server_id": server_id,
        "transport": transport,
        "disabled": entry.get("disabled", False),
        "auto_start": entry.get("autoStart", False),
        "description": description,
    }
    if has_command:
        command = entry["command"]
        if not isinstance(command, str) or not command.strip():
            raise ConfigError(f"{where}.command must be a non-empty string")
        args = entry.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ConfigError(f"{where}.args must be a list of strings")
        env = _string_map(entry.get("env", {}), f"{where}.env")
        cwd = entry.get("cwd")
        if cwd is not None and (not isinstance(cwd, str) or not cwd):
            raise ConfigError(f"{where}.cwd must be a non-empty string")
        return ServerConfig(command=command, args=tuple(args), env=env, cwd=cwd, **common), warnings
    url = entry["url"]
    parsed = urlparse(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{where}.url must be an http:// or https:// URL")
    headers = _string_map(entry.get("headers", {}), f"{where}.headers")
    return ServerConfig(url=url, headers=headers, **common), warnings


def _string_map(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(f"{where} must be an object of string values")
    return tuple(sorted(value.items()))
