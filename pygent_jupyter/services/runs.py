"""`RunService`: the lifecycle the two run services share (reasoning and evolution).

A run belongs to the user who started it; each user may have ``max_runs_per_user`` going.
The service finds a run's model through the :class:`~.seams.ModelSource` seam (usage
metered under the service's name, the user's daily budget checked), or uses ``provider``
when one is set (tests, embedding applications). Stopping a run asks its engine to stop (it
ends with what it has); :meth:`RunService.stop` stops every run and waits, bounded, for the
tasks that drive them. Saved runs live in the project database; without one, listing and
reading saved runs answer ``unavailable``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from traitlets import Any as AnyTrait
from traitlets import Float, Int

from ..protocol import ErrorCode, PygentError
from .base import Service
from .seams import AgentTypes, ModelSource, Publisher, Seams, require

if TYPE_CHECKING:
    from ..llm import LLMProvider
    from ..storage import Database

__all__ = ["Run", "RunService"]


class _Engine(Protocol):
    def stop(self) -> None:
        """Ask the run to end soon with what it has."""
        ...


class Run(Protocol):
    """What the base needs of a run record."""

    @property
    def run_id(self) -> str: ...

    @property
    def user(self) -> str: ...

    @property
    def engine(self) -> _Engine: ...


R = TypeVar("R", bound=Run)


class RunService(Service, Generic[R]):
    """Runs keyed by user and id (``self.runs``), with a model from the model source."""

    #: the command that stops a run (named in the ``rate_limited`` message)
    stop_command: ClassVar[str] = ""

    max_runs_per_user = Int(2, help="Most runs one user may have going at once.").tag(config=True)

    stop_timeout = Float(
        5.0,
        help="Seconds the service waits, when the server stops, for its runs to end after "
        "being asked to stop; the rest are cancelled.",
    ).tag(config=True)

    provider = AnyTrait(
        None,
        allow_none=True,
        help="An LLMProvider every run uses instead of the agents service's backends (tests, "
        "embedding applications). Not settable from config files.",
    )

    def __init__(self, hub: Publisher, **kwargs: Any) -> None:
        super().__init__(hub, **kwargs)
        self.runs: dict[tuple[str, str], R] = {}  # (user, run_id): ids are per user
        self.models: ModelSource | None = None
        self.agent_types: AgentTypes | None = None
        self._drivers: set[asyncio.Task[Any]] = set()

    def bind(self, db: Database | None, seams: Seams) -> None:
        super().bind(db, seams)
        self.models = seams.models
        self.agent_types = seams.agent_types

    # -- runs -----------------------------------------------------------------------------

    def running(self, user: str) -> list[R]:
        """``user``'s runs that are going."""
        return [r for r in self.runs.values() if r.user == user]

    def check_capacity(self, user: str) -> None:
        """Raise ``rate_limited`` when ``user`` already has ``max_runs_per_user`` going."""
        mine = len(self.running(user))
        if mine >= self.max_runs_per_user:
            raise PygentError(
                ErrorCode.RATE_LIMITED,
                f"you already have {mine} {self.name} run(s) going (limit "
                f"{self.max_runs_per_user}); stop one with {self.stop_command} or wait for one "
                "to complete",
            )

    def owned_run(self, run_id: str, user: str) -> R:
        """The running run ``run_id`` of ``user``; ``not_found`` otherwise (another user's
        run is not found either)."""
        run = self.runs.get((user, run_id))
        if run is None:
            raise PygentError(
                ErrorCode.NOT_FOUND,
                f"no running {self.name} run {run_id!r} of yours",
                field="run_id",
            )
        return run

    def track(self, run: R) -> None:
        """Hold ``run`` as going (under its user: run ids are per user)."""
        self.runs[(run.user, run.run_id)] = run

    def untrack(self, run: R) -> None:
        """Forget ``run`` once it ended."""
        self.runs.pop((run.user, run.run_id), None)

    def drive(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a service task (it outlives the request); :meth:`stop` waits for it."""
        task = asyncio.ensure_future(coro)
        self._drivers.add(task)
        task.add_done_callback(self._drivers.discard)
        return task

    async def model_for(self, user: str, backend: str | None = None) -> LLMProvider:
        """The model a run of ``user`` uses: ``provider`` when set; else ``backend`` (None:
        the default) from the model source, metered under this service's name with the
        user's budget checked; else :meth:`fallback_model`."""
        if self.provider is not None:
            provider: LLMProvider = self.provider
            return provider
        if self.models is not None:
            return await self.models.resolve_provider(backend or None, user=user, source=self.name)
        return self.fallback_model()

    def fallback_model(self) -> LLMProvider:
        """The model without a model source: none here (``unavailable``)."""
        return require(None, "a language model (the agents service)")

    def require_db(self) -> Database:
        """The project database, or ``unavailable`` (runs are not saved)."""
        if self.db is None:
            raise PygentError(
                ErrorCode.UNAVAILABLE, f"{self.name} runs are not saved on this server"
            )
        return self.db

    # -- lifecycle ------------------------------------------------------------------------

    async def stop(self) -> None:
        """Ask every run to stop, wait up to ``stop_timeout`` for the driving tasks, cancel
        the rest."""
        for run in list(self.runs.values()):
            run.engine.stop()
        tasks = list(self._drivers)
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=self.stop_timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def health(self) -> dict[str, Any]:
        health = super().health()
        health["running"] = len(self.runs)
        return health
