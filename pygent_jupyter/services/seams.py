"""The typed seams between services: what one service offers the others, and how they meet.

No service looks another up by name or probes it with ``getattr``. Instead:

- each service says what it *offers* in :meth:`Service.offers <.base.Service.offers>` (a
  :class:`Seams` with the fields it fills set to itself; mypy checks that it really has those
  methods, because every field is typed by one of the protocols below);
- the app (``app.py``, the one place that knows every service) builds the services and calls
  :func:`wire` once, before the hub starts them: it merges the offers and hands each service
  the database and the merged :class:`Seams` through :meth:`Service.bind <.base.Service.bind>`;
- a service keeps the seams it uses from ``bind``. A seam nobody offers (its service is not
  configured, or failed to load) is ``None``; code that cannot work without it calls
  :func:`require`, which raises ``unavailable`` with a message saying what is missing.

The hub is every service's :class:`Publisher`: events to a user, to everyone, to a topic,
to a user's subscribers of a topic, and the permission check. Services never see
connection objects.

Protocols, by who offers them (and who uses them):

- :class:`Publisher`: the hub (every service, as ``self.hub``);
- :class:`ModelSource`: agents (reasoning, evolution; memory's embedding backend);
- :class:`AgentTypes`: agents (reasoning's ToT agent, evolution's variants, notebook);
- :class:`ChatHooks`: agents (memory: context and answers; mcp and notebook: tools);
- :class:`BackendFleet`: agents (the Ollama monitor);
- :class:`BackendMonitor`: the Ollama monitor (agents: poll now after a chat failure);
- :class:`GpuMemoryReport`: memory (metrics: index bytes per GPU).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..protocol import ErrorCode, PygentError

if TYPE_CHECKING:
    from ..llm import LLMProvider
    from ..llm.backends import BackendRegistry, BackendSpec
    from ..llm.local import LocalProvider
    from ..llm.ollama import OllamaProvider
    from ..storage import Database
    from .agents.factory import AgentFactory
    from .base import Service

__all__ = [
    "AgentTypes",
    "AnswerListener",
    "BackendFleet",
    "BackendMonitor",
    "CallTool",
    "ChatHooks",
    "ContextProvider",
    "GpuMemoryReport",
    "ListTools",
    "ModelSource",
    "Publisher",
    "Remover",
    "Seams",
    "require",
    "wire",
]

T = TypeVar("T")

#: removes what an ``add_*`` call added
Remover = Callable[[], None]
#: ``async provider(user, query) -> [{"content": str, ...}]``
ContextProvider = Callable[[str, str], Awaitable[Sequence[dict[str, Any]]]]
#: ``async list_tools(user) -> [Ollama-format function spec]``
ListTools = Callable[[str], Awaitable[Sequence[dict[str, Any]]]]
#: ``async call_tool(user, tool_name, arguments) -> result``
CallTool = Callable[[str, str, dict[str, Any]], Awaitable[Any]]
#: ``async listener(user, conversation_id, text, metadata)``
AnswerListener = Callable[[str, str, str, dict[str, Any]], Awaitable[Any]]


class Publisher(Protocol):
    """How a service reaches clients (the hub implements it)."""

    def publish(
        self,
        user: str,
        type_: str,
        data: dict[str, Any],
        *,
        reply_to: str | None = None,
        client_id: str | None = None,
    ) -> int:
        """A reliable event to all of ``user``'s connections (``client_id``'s only, when
        given); kept for ``resume``. Returns its seq."""
        ...

    def broadcast(self, type_: str, data: dict[str, Any]) -> None:
        """A reliable event to every connected user."""
        ...

    def publish_topic(self, topic: str, type_: str, data: dict[str, Any]) -> int:
        """A lossy event to every subscriber of ``topic``; returns how many got it."""
        ...

    def publish_user_topic(
        self,
        user: str,
        topic: str,
        type_: str,
        data: dict[str, Any],
        *,
        except_client: str | None = None,
    ) -> int:
        """An event to ``user``'s connections subscribed to ``topic`` (not replayed), except
        the client ``except_client``; returns how many got it."""
        ...

    async def allowed(self, user: str, action: str, resource: str) -> bool:
        """Whether Jupyter's authorizer lets ``user`` do ``action`` on ``resource``; False
        when the user has no open connection to ask it with."""
        ...

    def on_topic_change(self, listener: Callable[[str, int], None]) -> None:
        """Call ``listener(topic, subscriber_count)`` whenever a topic's audience changes."""
        ...


class ModelSource(Protocol):
    """Where a service gets a language model (the agents service's backends)."""

    def provider(self, backend: str | None = None) -> LLMProvider:
        """The provider that answers now, without waiting (``backend``, else the default)."""
        ...

    async def resolve_provider(
        self,
        backend: str | None = None,
        model: str | None = None,
        *,
        user: str | None = None,
        source: str = "reasoning",
    ) -> LLMProvider:
        """A provider for a run: the named backend (else the default choice), answering with
        ``model`` by default; with ``user``, usage is metered under ``source`` and the user's
        daily budget is checked first (``rate_limited`` when spent)."""
        ...

    def backend_named(self, name: str) -> tuple[BackendSpec, LLMProvider] | None:
        """The configured backend ``name`` (its spec and provider), or None."""
        ...


class AgentTypes(Protocol):
    """The registry of chat agent types."""

    def register_agent_type(
        self, name: str, factory: AgentFactory, *, user: str | None = None
    ) -> None:
        """Add or replace an agent type, for everyone or for ``user`` only."""
        ...

    def unregister_agent_type(self, name: str, *, user: str | None = None) -> None: ...


class ChatHooks(Protocol):
    """What other services add to the agents' chats: context, answer listeners, tools."""

    @property
    def tool_call_timeout(self) -> float:
        """Seconds one tool call may take."""
        ...

    def add_context_provider(self, provider: ContextProvider) -> Remover: ...

    def add_answer_listener(self, listener: AnswerListener) -> Remover: ...

    def add_tool_provider(
        self, list_tools: ListTools, call_tool: CallTool, *, name: str = "tools"
    ) -> Remover: ...


class BackendFleet(ModelSource, Protocol):
    """The agents service's backends as the Ollama monitor sees them."""

    start_error: str | None
    ollama: OllamaProvider
    local: LocalProvider
    registry: BackendRegistry

    def backend_status(self) -> dict[str, Any]:
        """``backend_status`` data: every backend with health and models, and the default."""
        ...


class BackendMonitor(Protocol):
    """The backend monitor (the Ollama service)."""

    def poll_now(self) -> None:
        """Probe every backend as soon as possible (after a chat saw one fail)."""
        ...


class GpuMemoryReport(Protocol):
    """GPU memory a service holds (memory's indexes), for ``gpu_metrics``."""

    def gpu_index_bytes(self) -> dict[int, int]:
        """``{gpu_index: bytes}``; cheap, non-blocking, ``{}`` without a GPU."""
        ...


@dataclass(frozen=True)
class Seams:
    """The seams one service offers (from :meth:`~.base.Service.offers`), or all of them
    merged (what :func:`wire` hands each service). ``None``: nobody offers it."""

    models: ModelSource | None = None
    agent_types: AgentTypes | None = None
    chat_hooks: ChatHooks | None = None
    backends: BackendFleet | None = None
    monitor: BackendMonitor | None = None
    gpu_memory: GpuMemoryReport | None = None


def wire(services: Iterable[Service], db: Database | None) -> Seams:
    """Merge what ``services`` offer and :meth:`~.base.Service.bind` each one to the database
    and the merged seams. Called once, after the services are built and before they start.
    Raises ``ValueError`` when two services offer the same seam."""
    services = list(services)
    merged: dict[str, Any] = {}
    offered_by: dict[str, str] = {}
    for service in services:
        offer = service.offers()
        for f in fields(Seams):
            value = offer.__dict__[f.name]
            if value is None:
                continue
            if f.name in merged:
                raise ValueError(
                    f"both the {offered_by[f.name]} and the {service.name} service offer "
                    f"the {f.name!r} seam"
                )
            merged[f.name] = value
            offered_by[f.name] = service.name
    seams = Seams(**merged)
    for service in services:
        service.bind(db, seams)
    return seams


def require(seam: T | None, what: str) -> T:
    """``seam``, or ``unavailable`` saying that ``what`` (e.g. "a language model (the agents
    service)") is not running on this server."""
    if seam is None:
        raise PygentError(
            ErrorCode.UNAVAILABLE,
            f"{what} is not available on this server (its service is not configured or did "
            "not load; see /pygent/api/health)",
        )
    return seam
