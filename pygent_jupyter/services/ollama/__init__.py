"""The Ollama monitor: who answers chat, and what Ollama is doing.

Events (all ``broadcast`` to every connected user, since Ollama is one per server):

- ``ollama_status{reachable, host, version, running_models, backend, local_model}``: to each
  connection on open (:meth:`OllamaService.greeting`) and whenever any of it changes;
- ``ollama_model_update{backend, host, models}``: when Ollama's model list changes (the
  answer to ``ollama_list_models`` comes from the agents service);
- ``ollama_error{code: "unreachable", …}``: when an Ollama that was reachable stops answering;
- ``backend_status{backends, default}``: every named backend of the agents service (Ollama,
  OpenAI-compatible servers, the embedded model) with health and models, on open and whenever
  any of it changes; ``backend_error{backend, code: "unreachable"}`` when a reachable one
  stops answering.

It polls ``/api/version`` and ``/api/ps`` every ``c.OllamaService.interval`` seconds (and
``/api/tags`` while reachable), through the agents service's :class:`OllamaProvider`, so there
is one host setting (``c.OllamaProvider.host`` / ``OLLAMA_HOST``) for chat, the monitor and
kernels. Pulling or deleting models is deliberately not offered to clients: Ollama has no
authentication, and a socket message must not drive it beyond chat and listing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from traitlets import Float

from ...llm.ollama import OllamaError, OllamaProvider, export_host
from ..base import Service
from ..seams import BackendFleet, Publisher, Seams

if TYPE_CHECKING:
    from ...storage import Database

__all__ = ["OllamaService"]


class OllamaService(Service):
    """Polls Ollama and broadcasts status, model-list changes and failures."""

    name = "ollama"

    interval = Float(
        5.0, help="Seconds between two polls of Ollama's /api/version and /api/ps."
    ).tag(config=True)

    backend_interval = Float(
        30.0,
        help="Seconds between two health probes (GET /v1/models) of the agents service's "
        "other backends (OpenAI-compatible servers); a chat failure probes at once.",
    ).tag(config=True)

    def __init__(self, hub: Publisher, **kwargs: Any) -> None:
        super().__init__(hub, **kwargs)
        self._backends: BackendFleet | None = None
        self._own: OllamaProvider | None = None
        self._status: dict[str, Any] | None = None
        self._models: list[dict[str, Any]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._started = False
        self._backends_key: tuple[Any, ...] | None = None
        self._backends_probed = 0.0
        self._backends_due = False

    # -- sources ----------------------------------------------------------------------------

    def offers(self) -> Seams:
        """The backend monitor (``poll_now``)."""
        return Seams(monitor=self)

    def bind(self, db: Database | None, seams: Seams) -> None:
        super().bind(db, seams)
        self._backends = seams.backends

    @property
    def agents(self) -> BackendFleet | None:
        """The agents service's backends (the ``backends`` seam); None without that service."""
        return self._backends

    @property
    def provider(self) -> OllamaProvider:
        """The agents service's Ollama provider (one host setting), else one of our own."""
        agents = self.agents
        if agents is not None:
            return agents.ollama
        if self._own is None:
            self._own = OllamaProvider(parent=self)
            export_host(self._own.host)
        return self._own

    def status(self) -> dict[str, Any]:
        """The latest ``ollama_status`` data (as last probed)."""
        base = dict(
            self._status
            or {
                "reachable": bool(self.provider.reachable),
                "host": self.provider.host,
                "version": self.provider.version,
                "running_models": [],
            }
        )
        base.pop("error", None)
        agents = self.agents
        if agents is not None:
            base["backend"] = agents.provider().name
            base["local_model"] = agents.local.default_model if agents.local.available else None
        else:
            base["backend"] = "ollama"
        return base

    # -- lifecycle ---------------------------------------------------------------------------

    def greeting(self, user: str) -> Iterable[tuple[str, dict[str, Any]]]:
        yield "ollama_status", self.status()
        agents = self.agents
        if agents is not None:
            yield "backend_status", agents.backend_status()

    async def start(self) -> None:
        await self.poll()
        self._started = True
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._own is not None:
            await self._own.aclose()

    def health(self) -> dict[str, Any]:
        if self.start_error:
            return {"state": "down", "error": self.start_error}
        return {
            "state": "up",
            "ollama_reachable": bool(self.provider.reachable),
            "host": self.provider.host,
        }

    def poll_now(self) -> None:
        """Ask for a poll (of every backend) as soon as possible (e.g. after a chat failure)."""
        self._backends_due = True
        self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.poll()
            except Exception:
                self.log.exception("polling Ollama failed")

    async def poll(self) -> None:
        """Probe Ollama once; broadcast what changed."""
        provider = self.provider
        was_reachable = bool(self._status and self._status.get("reachable"))
        probed = await provider.status()
        models: list[dict[str, Any]] | None = None
        if probed["reachable"]:
            try:
                models = await provider.list_models()
            except OllamaError:
                models = None
        previous = self.status() if self._status is not None else None
        self._status = probed
        current = self.status()
        if previous is not None and _key(previous) != _key(current):
            self.hub.broadcast("ollama_status", current)
        if was_reachable and not probed["reachable"]:
            self.hub.broadcast(
                "ollama_error",
                {
                    "code": "unreachable",
                    "message": f"Ollama stopped answering at {provider.host}",
                    "host": provider.host,
                },
            )
        if models is not None and _names(models) != _names(self._models):
            self._models = models
            if self._started:
                self.hub.broadcast(
                    "ollama_model_update",
                    {"backend": "ollama", "host": provider.host, "models": models},
                )
        await self._poll_backends(probed, models)

    async def _poll_backends(
        self, ollama: dict[str, Any], ollama_models: list[dict[str, Any]] | None
    ) -> None:
        """Probe the agents service's other backends; broadcast ``backend_status`` on a
        change and ``backend_error`` for a backend that stopped answering."""
        agents = self.agents
        if agents is None or agents.start_error:
            return
        registry = agents.registry
        before = {n: st.reachable for n, st in registry.states.items()}
        others = [n for n in registry.names() if registry.get(n) is not self.provider]
        now = time.monotonic()
        if self._backends_due or now - self._backends_probed >= self.backend_interval:
            self._backends_due = False
            self._backends_probed = now
            await asyncio.gather(*(registry.probe(n) for n in others))
        for name in registry.names():
            if registry.get(name) is self.provider:  # Ollama: this poll's result, no 2nd probe
                state = registry.states[name]
                state.reachable = bool(ollama.get("reachable"))
                state.version = ollama.get("version")
                state.error = None if state.reachable else str(ollama.get("error") or "down")
                if ollama_models is not None:
                    state.models = [
                        {**m, "backend": name, "tools": registry.specs[name].tools}
                        for m in ollama_models
                    ]
                elif not state.reachable:
                    state.models = []
        for name, was in before.items():
            state = registry.states[name]
            if was and state.reachable is False and registry.get(name) is not self.provider:
                self.hub.broadcast(
                    "backend_error",
                    {
                        "backend": name,
                        "kind": registry.kind(name),
                        "code": "unreachable",
                        "message": f"backend {name!r} stopped answering",
                    },
                )
        current = agents.backend_status()
        key = _backends_key(current)
        if self._started and key != self._backends_key:
            self.hub.broadcast("backend_status", current)
        self._backends_key = key


def _backends_key(status: dict[str, Any]) -> tuple[Any, ...]:
    """What a ``backend_status`` change is: reachability, models, the default."""
    backends = tuple(
        (
            b.get("name"),
            b.get("reachable"),
            b.get("active"),
            tuple(sorted(str(m.get("name")) for m in b.get("models") or [])),
        )
        for b in status.get("backends") or []
    )
    return (*backends, tuple(sorted((status.get("default") or {}).items())))


def _names(models: list[dict[str, Any]] | None) -> list[tuple[str, str]] | None:
    if models is None:
        return None
    return sorted((str(m.get("name")), str(m.get("digest", ""))) for m in models)


def _key(status: dict[str, Any]) -> tuple[Any, ...]:
    running = sorted(str(m.get("name")) for m in status.get("running_models") or [])
    return (
        status.get("reachable"),
        status.get("host"),
        status.get("version"),
        tuple(running),
        status.get("backend"),
    )
