"""The contract every hosted service follows (agents, reasoning, metrics, …)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from traitlets.config import LoggingConfigurable

from .seams import Publisher, Seams

if TYPE_CHECKING:
    from ..hub import Request
    from ..storage import Database

__all__ = ["Service"]


class Service(LoggingConfigurable):
    """A long-lived feature behind the socket.

    Subclasses set ``name``, return their command handlers from :meth:`commands`, and do
    blocking work off the event loop. Traits on the subclass are configurable as
    ``c.<ClassName>.<trait>``; the app passes itself as ``parent``.

    After :meth:`start` returns the service handles commands; after :meth:`stop` returns it
    holds no tasks, threads or processes. The Hub never routes a command to a service whose
    :meth:`start` has not returned (it waits, bounded, or answers ``unavailable``), so handlers
    may assume everything :meth:`start` set up is there.

    Services meet only through typed seams (:mod:`.seams`): ``hub`` is the
    :class:`~.seams.Publisher` (events, topics, permissions; never connections), what a
    service offers the others is :meth:`offers`, and the app hands each service the database
    and the seams of the others through :meth:`bind` (:func:`~.seams.wire`) before
    :meth:`start`.
    """

    name: ClassVar[str] = ""

    def __init__(self, hub: Publisher, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hub = hub
        #: the project database, from :meth:`bind` (None: not bound, or none is usable)
        self.db: Database | None = None
        self.start_error: str | None = None
        self.started = False  # set by the Hub once start() returned without raising

    def offers(self) -> Seams:
        """The seams this service offers the others (fields set to ``self``); none here."""
        return Seams()

    def bind(self, db: Database | None, seams: Seams) -> None:
        """Take the database and the seams this service uses; called once by
        :func:`~.seams.wire`, before :meth:`start`. Subclasses that use seams extend it
        (and call ``super().bind``)."""
        self.db = db

    def commands(self) -> Mapping[str, Callable[[Request], Awaitable[None]]]:
        """Message type -> handler. Types must be in the protocol catalog."""
        return {}

    async def start(self) -> None:
        """Acquire resources; called once after the server's event loop runs."""

    async def stop(self) -> None:
        """Release everything :meth:`start` acquired."""

    def health(self) -> dict[str, Any]:
        """``{"state": "up" | "degraded" | "down", …}`` for ``/pygent/api/health``."""
        if self.start_error:
            return {"state": "down", "error": self.start_error}
        return {"state": "up"}

    def greeting(self, user: str) -> Iterable[tuple[str, dict[str, Any]]]:
        """Events sent to a connection of ``user`` right after it opens (e.g. the current
        status)."""
        return ()
