"""``GET /pygent/ws``: authenticate, enforce limits, decode frames, hand them to the Hub.

Modelled on jupyter_server's kernel websocket: the user is authenticated and authorized
(``execute`` on ``pygent``) before the upgrade, Jupyter's origin check is kept, and every
frame is delegated. No feature logic lives here.
"""

from __future__ import annotations

import asyncio
import hmac
import struct
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.auth.identity import User
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from .connections import Connection

if TYPE_CHECKING:
    from ..app import PygentJupyter

__all__ = ["KERNEL_TOKEN_HEADER", "PygentWebSocketHandler"]

AUTH_RESOURCE = "pygent"
KERNEL_TOKEN_HEADER = "X-Pygent-Token"
CLOSE_UNSUPPORTED = 1003
CLOSE_BAD_CLIENT_ID = 4400
FAIR_BURST = 32
"""Frames one socket may have handled before its reader yields a loop turn to the others."""


class PygentWebSocketHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """The one event socket. Frames go to ``app.hub.handle_frame``."""

    auth_resource = AUTH_RESOURCE
    connection: Connection | None = None

    @property
    def pygent(self) -> PygentJupyter:
        return self.settings["pygent_jupyter"]

    @property
    def max_message_size(self) -> int:
        """Frames larger than this close the socket with 1009 (Tornado enforces it)."""
        return int(self.pygent.max_message_size)

    def set_default_headers(self) -> None:
        """No HTML security headers on a websocket upgrade (as the kernel websocket)."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A refused upgrade gets a one-line text body and no traceback in the log (Jupyter's
        HTML error page would look up the user of a request that has none)."""
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(f"{status_code} {self._reason}\n")

    def get_compression_options(self) -> dict[str, Any] | None:
        return self.settings.get("websocket_compression_options", None)

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        """Authenticate: a kernel credential (``X-Pygent-Token``) or Jupyter's own auth."""
        secret = self.request.headers.get(KERNEL_TOKEN_HEADER)
        if secret is None:
            await super().prepare(*args, **kwargs)
            return
        if not self.check_host():
            raise web.HTTPError(403)
        expected = self.pygent.kernel_token
        if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
            self.log.warning("Rejected /pygent/ws upgrade with an invalid %s", KERNEL_TOKEN_HEADER)
            raise web.HTTPError(403)
        user = User(username=self.pygent.owner_name)
        self.current_user = self._jupyter_current_user = user
        self.kernel_credential = True

    kernel_credential = False
    _compressing = False
    _frames = 0

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Authorize before upgrading; anonymous or unauthorized requests get 403."""
        user = self.current_user
        if not await self._authorize("execute", AUTH_RESOURCE):
            raise web.HTTPError(403)
        self.pygent_user = self.pygent.user_key(user, kernel=self.kernel_credential)
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open()  # starts Jupyter's keepalive pings
        self.set_nodelay(True)
        self._compressing = self.get_compression_options() is not None
        try:
            client_id = self.get_argument("client_id", None)
        except web.HTTPError:  # undecodable percent-escapes
            client_id = ""
        if client_id is not None and not (0 < len(client_id) <= 128 and client_id.isprintable()):
            self.close(CLOSE_BAD_CLIENT_ID, "client_id must be 1 to 128 printable characters")
            return
        app = self.pygent
        self.connection = Connection(
            self,
            self.pygent_user,
            client_id=client_id,
            authorize=self._authorize,
            high_water=app.outbox_high_water,
            max_queue_bytes=app.max_queue_bytes,
            max_tasks=app.max_concurrent_commands,
            on_close=app.hub.close,
        )
        app.hub.open(self.connection)

    async def _authorize(self, action: str, resource: str) -> bool:
        """Ask Jupyter's authorizer (kernel credentials act as the server's owner)."""
        return bool(
            await ensure_async(
                self.authorizer.is_authorized(self, self.current_user, action, resource)
            )
        )

    def write_frames(self, frames: Sequence[str]) -> asyncio.Future[None]:
        """Write text frames with one stream write (one syscall) when compression is off."""
        if len(frames) == 1:
            return self.write_message(frames[0])
        ws = self.ws_connection
        if ws is None or ws.is_closing() or ws.stream is None:
            raise WebSocketClosedError()
        if self._compressing:
            future = self.write_message(frames[0])
            for frame in frames[1:]:
                future = self.write_message(frame)
            return future
        return ws.stream.write(b"".join(_text_frame(f.encode()) for f in frames))

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        """Hand the frame to the Hub. Every ``FAIR_BURST``-th frame first yields one loop turn:
        Tornado reads buffered frames without yielding, so a flooding client would otherwise
        hold the loop while everyone else's frames wait."""
        self._frames += 1
        if self._frames % FAIR_BURST == 0:
            return self._after_a_turn(message)
        self._handle(message)
        return None

    async def _after_a_turn(self, message: str | bytes) -> None:
        await asyncio.sleep(0)
        self._handle(message)

    def _handle(self, message: str | bytes) -> None:
        if self.connection is None or self.connection.closed:
            return
        if isinstance(message, bytes):
            self.connection.close(CLOSE_UNSUPPORTED, "binary frames are not supported")
            return
        self.pygent.hub.handle_frame(self.connection, message)

    def on_close(self) -> None:
        if self.connection is not None:
            self.connection.closed = True
            self.pygent.hub.close(self.connection)
            self.connection = None


def _text_frame(payload: bytes) -> bytes:
    """One unmasked, final WebSocket text frame (RFC 6455 section 5.2), as servers send."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n <= 0xFFFF:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload
