"""The server extension: builds the Hub and its services, mounts the socket and REST routes."""

from __future__ import annotations

import getpass
import importlib
import os
import secrets
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider, User
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from traitlets import Enum, Float, Int, List, Unicode, default

from ._version import __version__
from .hub import Hub
from .server.handler import PygentWebSocketHandler
from .server.rest import HealthHandler, SchemaHandler
from .services.base import Service
from .services.seams import Publisher, wire
from .storage import Database, DatabaseUnusable

__all__ = ["ENV_TOKEN", "ENV_URL", "PygentJupyter"]

ENV_URL = "PYGENT_URL"
ENV_TOKEN = "PYGENT_TOKEN"


class PygentJupyter(ExtensionApp):
    """pygent-jupyter: AI-agent services behind one authenticated WebSocket."""

    name = "pygent_jupyter"
    description = __doc__
    load_other_extensions = True

    max_message_size = Int(
        1024 * 1024,
        help="Largest client frame in bytes; a larger one closes the socket with 1009.",
    ).tag(config=True)

    max_concurrent_commands = Int(
        8, help="Commands one connection may have running at once; more get `rate_limited`."
    ).tag(config=True)

    max_queue_bytes = Int(
        8 * 1024 * 1024,
        help="Unsent bytes queued for one client before it is closed (1008) as too slow.",
    ).tag(config=True)

    outbox_high_water = Int(
        256 * 1024,
        help="Unflushed bytes on a socket above which events queue instead of being written.",
    ).tag(config=True)

    replay_buffer_size = Int(
        1000, help="Reliable events kept per user for `resume` after a reconnect."
    ).tag(config=True)

    replay_buffer_bytes = Int(
        4 * 1024 * 1024,
        help="Bytes of reliable events kept per user for `resume`; older events are dropped "
        "first and a client resuming from before them is told to `resync`.",
    ).tag(config=True)

    service_ready_timeout = Float(
        30.0,
        help="Seconds a command sent before its service has started waits for it; after "
        "that it is answered `unavailable` with a retry hint.",
    ).tag(config=True)

    db_path = Unicode(
        help="The SQLite database file (conversations, runs, memories). "
        "Default: <jupyter data dir>/pygent/pygent.db."
    ).tag(config=True)

    @default("db_path")
    def _default_db_path(self) -> str:
        return str(Path(jupyter_data_dir()) / "pygent" / "pygent.db")

    user_scope = Enum(
        ["auto", "owner", "identity"],
        default_value="auto",
        help="How socket users are told apart. 'identity': by the identity provider's "
        "username (JupyterHub, multi-user setups). 'owner': everyone who can authenticate is "
        "the server's owner (a single-user server, where the default token login names each "
        "browser session randomly). 'auto': 'owner' with Jupyter's default identity providers, "
        "else 'identity'.",
    ).tag(config=True)

    owner_name = Unicode(
        help="The user name used in 'owner' scope and for kernel credentials. "
        "Default: the OS user running the server."
    ).tag(config=True)

    @default("owner_name")
    def _default_owner_name(self) -> str:
        try:
            return getpass.getuser()
        except Exception:
            return "owner"

    services = List(
        Unicode(),
        default_value=[
            "pygent_jupyter.services.metrics.service:MetricsService",
            "pygent_jupyter.services.memory.service:MemoryService",
            "pygent_jupyter.services.agents:AgentsService",
            "pygent_jupyter.services.reasoning.service:ReasoningService",
            "pygent_jupyter.services.evolution.service:EvolutionService",
            "pygent_jupyter.services.ollama:OllamaService",
            "pygent_jupyter.services.mcp:MCPService",
            "pygent_jupyter.services.notebook:NotebookService",
        ],
        help="Services to host, as 'module:Class' import strings.",
    ).tag(config=True)

    kernel_token = Unicode(
        help="Credential exported to kernels as $PYGENT_TOKEN; valid only for /pygent/ws "
        "and acting as the server's owner. Random per server start unless set."
    ).tag(config=True)

    @default("kernel_token")
    def _default_kernel_token(self) -> str:
        return secrets.token_urlsafe(32)

    hub: Hub
    db: Database | None

    # -- wiring ---------------------------------------------------------------------------

    def initialize_settings(self) -> None:
        try:
            self.db = Database(self.db_path)
        except DatabaseUnusable as exc:
            # one clear ERROR, no traceback: the socket stays up and says why nothing works
            self.log.error("pygent-jupyter: %s Until then no pygent service runs.", exc)
            self.db = None
        self.hub = Hub(
            replay_size=self.replay_buffer_size,
            replay_bytes=self.replay_buffer_bytes,
            ready_timeout=self.service_ready_timeout,
            log=self.log,
        )
        for spec in self.services:
            if self.db is None:
                self.hub.unavailable[spec] = "the database is unusable; see the server log"
                continue
            service = self._make_service(spec)
            if service is not None:
                self.hub.register(service)
        # the one place services meet: each gets the database and the others' seams
        wire(self.hub.services.values(), self.db)
        self.settings["pygent_jupyter"] = self

    def _make_service(self, spec: str) -> Service | None:
        """Import and build one service; a broken one is logged and left out, not fatal."""
        try:
            module_name, _, class_name = spec.partition(":")
            cls = getattr(importlib.import_module(module_name), class_name)
            publisher: Publisher = self.hub  # services reach clients only through this seam
            return cls(hub=publisher, parent=self)
        except Exception as exc:
            self.log.exception("pygent service %r could not be loaded", spec)
            self.hub.unavailable[spec] = f"{type(exc).__name__}: {exc}"
            return None

    def initialize_handlers(self) -> None:
        self.handlers.extend(
            [
                (r"/pygent/ws", PygentWebSocketHandler),
                (r"/pygent/api/health", HealthHandler),
                (r"/pygent/api/schema", SchemaHandler),
            ]
        )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        self.export_kernel_environment()
        await self.hub.start()
        self.log.info("pygent-jupyter %s: socket at %s", __version__, self.ws_url)

    async def stop_extension(self) -> None:
        await self.hub.stop()
        if self.db is not None:
            self.db.close()

    # -- identity -------------------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        """The socket's URL on this server (ws:// or wss://, with base_url)."""
        assert self.serverapp is not None
        base = self.serverapp.connection_url
        if base.startswith("https"):
            base = "wss" + base[5:]
        elif base.startswith("http"):
            base = "ws" + base[4:]
        return url_path_join(base, "pygent/ws")

    def export_kernel_environment(self) -> None:
        """Put $PYGENT_URL and $PYGENT_TOKEN in the environment that kernels inherit."""
        os.environ[ENV_URL] = self.ws_url
        os.environ[ENV_TOKEN] = self.kernel_token

    def user_key(self, user: User | Any, *, kernel: bool = False) -> str:
        """The name events, conversations and memories are scoped to for ``user``."""
        if kernel or self._owner_scope():
            return str(self.owner_name)
        return str(getattr(user, "username", None) or user)

    def _owner_scope(self) -> bool:
        if self.user_scope != "auto":
            return self.user_scope == "owner"
        assert self.serverapp is not None
        provider = self.serverapp.identity_provider
        return type(provider) in (IdentityProvider, PasswordIdentityProvider)
