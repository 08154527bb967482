"""`AgentsService`: streaming chat over the socket, conversation memory, and the seams other
services plug into. See the package docstring (:mod:`pygent_jupyter.services.agents`)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from traitlets import Bool, Dict, Float, Int, List, Unicode

from ...llm import BackendError, Completion, LLMProvider
from ...llm.backends import Fallback, MeteredProvider, build_registry
from ...llm.local import LocalProvider
from ...llm.ollama import OllamaProvider, export_host
from ...protocol import ErrorCode, PygentError
from ..base import Service
from ..seams import (
    AnswerListener,
    BackendMonitor,
    CallTool,
    ContextProvider,
    ListTools,
    Publisher,
    Seams,
)
from .deltas import DeltaSender
from .factory import (
    AgentFactory,
    AgentRegistry,
    AgentTurn,
    CodingAgent,
    GeneralAgent,
    ReasoningAgent,
    closing,
    tool_result_text,
)
from .scope import ChatScope, current_chat
from .store import ConversationStore, new_id

if TYPE_CHECKING:
    from ...hub import Request
    from ...llm.backends import BackendSpec
    from ...protocol.types import (
        ChatMessageData,
        DeleteConversationData,
        GetHistoryData,
        GetUsageData,
        ListBackendsData,
        OllamaListModelsData,
        RenameConversationData,
    )
    from ...storage import Database

__all__ = ["AgentsService", "ContextProvider", "ToolCall", "confidence"]

ToolCall = CallTool  # the name this module exported before the seams module


def confidence(logprobs: Sequence[float] | None) -> float | None:
    """The mean probability the model gave the tokens it produced, in [0, 1].

    ``mean(exp(logprob_i))`` over the answer's sampled tokens (the end-of-turn token included:
    a model unsure where to stop is less sure of its answer). ``None`` when the backend gave
    no log-probabilities (an Ollama too old to return them).
    """
    if not logprobs:
        return None
    values = [math.exp(lp) for lp in logprobs if math.isfinite(lp)]
    if not values:
        return None
    return round(sum(values) / len(values), 4)


@dataclass
class _ToolSource:
    name: str
    list_tools: ListTools
    call_tool: ToolCall


class AgentsService(Service):
    """Handles ``chat_message``, ``get_history``, ``ollama_list_models``, ``list_backends``
    and ``get_usage``."""

    name = "agents"

    backend = Unicode(
        "auto",
        help="Which backend answers when a request names none: 'auto' takes the first "
        "reachable backend of `backends` (by default Ollama) and the embedded model otherwise; "
        "a backend's name ('ollama', 'local', or one from `backends`) forces it.",
    ).tag(config=True)

    backends = List(
        Dict(),
        help="Named LLM backends, in order of preference. Each is a dict: 'name', 'kind' "
        "('openai' for any OpenAI-compatible server, 'ollama', 'local'), 'base_url' (openai: "
        "…/v1), 'api_key_env' or 'api_key_file' (where the credential is; never the credential "
        "itself), 'default_model', 'embed_model', 'models' (the ones offered; default: all "
        "listed by the server), 'tools' (offer tools, default true), 'timeout', "
        "'connect_timeout', 'max_retries' and 'max_retry_wait' (429 handling), 'stream_usage', "
        "'top_k', 'logprobs', 'headers'. Empty: Ollama, then the embedded model. The embedded "
        "model is always appended last. See docs/backends.md.",
    ).tag(config=True)

    first_probe_wait = Float(
        5.0,
        help="Most seconds a request waits for a backend's first health probe before the "
        "choice passes it over (a slow-to-answer Ollama is not replaced by the embedded model "
        "just because its first probe has not come back yet).",
    ).tag(config=True)

    recheck_interval = Float(
        10.0,
        help="A backend found down longer ago than this is probed again before a request "
        "falls back past it.",
    ).tag(config=True)

    backend_probe_timeout = Float(
        3.0, help="Total seconds for one health probe of an OpenAI-compatible backend."
    ).tag(config=True)

    prices = Dict(
        help="Price per million tokens by model, for usage cost: {'gpt-4o-mini': {'prompt': "
        "0.15, 'completion': 0.6}, 'gpu/Qwen2.5-7B': {...}}. A key 'backend/model' wins over "
        "'model'. Models without a price have cost null.",
    ).tag(config=True)

    currency = Unicode("USD", help="Unit of `prices` and costs (shown to users).").tag(config=True)

    daily_token_budget = Int(
        0,
        help="Most tokens (prompt + completion) one user may use per UTC day over chat, "
        "reasoning and evolution; new work is refused with `rate_limited` once spent. 0: no "
        "limit.",
    ).tag(config=True)

    daily_cost_budget = Float(
        0.0,
        help="Most cost (in `currency`, from `prices`) one user may spend per UTC day; new work "
        "is refused with `rate_limited` once spent. 0: no limit.",
    ).tag(config=True)

    default_agent = Unicode("general", help="Agent type used when a chat_message names none.").tag(
        config=True
    )

    history_window = Int(
        20, help="Most earlier messages of the conversation carried in the prompt."
    ).tag(config=True)

    history_max_chars = Int(
        16000,
        help="Most characters of earlier messages carried in the prompt (the newest are kept).",
    ).tag(config=True)

    max_tool_rounds = Int(4, help="Most model -> tool -> model rounds in one answer.").tag(
        config=True
    )

    context_timeout = Float(
        3.0, help="Seconds a context provider (memory) may take before it is skipped."
    ).tag(config=True)

    max_context_items = Int(8, help="Most context items put into one prompt.").tag(config=True)

    tool_timeout = Float(60.0, help="Seconds one tool call may take.").tag(config=True)

    auto_titles = Bool(
        False,
        help="After a conversation's first answer, ask the model in the background for a short "
        "title (the first words of the question stay when it cannot; a renamed conversation "
        "is never retitled). Off by default: it costs one more model call per conversation.",
    ).tag(config=True)

    title_timeout = Float(
        30.0, help="Most seconds the background title request may take (then the first words stay)."
    ).tag(config=True)

    def __init__(self, hub: Publisher, **kwargs: Any) -> None:
        super().__init__(hub, **kwargs)
        self.ollama = OllamaProvider(parent=self)
        self.local = LocalProvider(parent=self)
        self.registry, self._config_error = build_registry(
            self.backends,
            ollama=self.ollama,
            local=self.local,
            probe_timeout=self.backend_probe_timeout,
            log=self.log,
        )
        export_host(self.ollama.host)
        self.agents = AgentRegistry(self)
        self.agents.register("general", GeneralAgent)
        self.agents.register("coding", CodingAgent)
        self.agents.register("reasoning", ReasoningAgent)
        self.store: ConversationStore | None = None
        self._override: LLMProvider | None = None
        self._context_providers: list[ContextProvider] = []
        self._answer_listeners: list[AnswerListener] = []
        self._listener_tasks: set[asyncio.Future[Any]] = set()
        self._tool_sources: list[_ToolSource] = []
        self._monitor: BackendMonitor | None = None

    def offers(self) -> Seams:
        """A model source, the agent-type registry, the chat hooks and the backends."""
        return Seams(models=self, agent_types=self, chat_hooks=self, backends=self)

    def bind(self, db: Database | None, seams: Seams) -> None:
        super().bind(db, seams)
        self._monitor = seams.monitor

    # -- backends ----------------------------------------------------------------------------

    def backend_order(self) -> list[str]:
        """The backends 'auto' tries, in order: the configured ones, the embedded model last
        (left out when it is not installed, unless it is the only one)."""
        names = self.registry.names()
        if not self.local.available and len(names) > 1:
            names = [n for n in names if n != "local"]
        return names

    def _reachable(self, name: str) -> bool | None:
        if name == "local":
            return self.local.available
        provider = self.registry.get(name)
        reachable = getattr(provider, "reachable", None)
        state = self.registry.states.get(name)
        if reachable is None and state is not None:
            reachable = state.reachable
        return reachable

    async def choose(self, backend: str | None = None) -> tuple[LLMProvider, list[Fallback]]:
        """The provider for a request naming ``backend`` (None: the trait's choice), and the
        backends passed over on the way (to announce). A named backend is never replaced;
        'auto' waits (bounded) for first probes and re-checks a down backend before falling
        back past it."""
        if self._override is not None and not backend:
            return self._override, []
        choice = backend or self.backend
        if choice != "auto":
            provider = self.registry.get(choice)
            if provider is None:
                raise PygentError(
                    ErrorCode.NOT_FOUND,
                    f"no backend {choice!r}; configured: {', '.join(self.registry.names())}",
                    field="data.message.backend",
                )
            return provider, []
        name, fallbacks = await self.registry.choose(
            self.backend_order(),
            first_probe_wait=self.first_probe_wait,
            recheck_after=self.recheck_interval,
        )
        return self.registry.providers[name], fallbacks

    async def resolve_provider(
        self,
        backend: str | None = None,
        model: str | None = None,
        *,
        user: str | None = None,
        source: str = "reasoning",
    ) -> LLMProvider:
        """A provider for another service's run (reasoning, evolution): the named backend
        (else the 'auto' choice), answering with ``model`` by default; with ``user``, every
        call's tokens are recorded in the usage table under ``source`` and the user's daily
        budget is checked first (``rate_limited`` when spent)."""
        if user is not None:
            await self.check_budget(user)
        provider, fallbacks = await self.choose(backend or None)
        for fb in fallbacks:
            self.log.info(
                "%s run falls back from %s to %s (%s)", source, fb.skipped, fb.chosen, fb.reason
            )
        if user is None and not model:
            return provider
        store = self.store

        def record(completion: Completion) -> None:
            if user is None or store is None:
                return
            task = asyncio.ensure_future(
                store.add_usage(
                    user,
                    backend=completion.backend,
                    model=completion.model,
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens,
                    cost=self.cost(completion),
                    source=source,
                )
            )
            self._listener_tasks.add(task)
            task.add_done_callback(self._listener_tasks.discard)

        return MeteredProvider(provider, record, model=model or None)

    def cost(self, completion: Completion) -> float | None:
        """The answer's cost from the price table, or None when its model has no price."""
        price = self.prices.get(f"{completion.backend}/{completion.model}") or self.prices.get(
            completion.model
        )
        if not isinstance(price, dict):
            return None
        try:
            value = (
                completion.prompt_tokens * float(price.get("prompt", 0.0))
                + completion.completion_tokens * float(price.get("completion", 0.0))
            ) / 1_000_000
        except (TypeError, ValueError):
            return None
        return round(value, 8)

    async def usage(self, user: str, conversation_id: str | None = None) -> dict[str, Any]:
        """The usage gauge: today's and (optionally) a conversation's totals, and the budget."""
        usage = await self._store().usage(user, conversation_id=conversation_id)
        usage["currency"] = self.currency
        usage["budget"] = self._budget(usage["today"])
        return usage

    def _budget(self, today: dict[str, Any]) -> dict[str, Any]:
        budget: dict[str, Any] = {
            "tokens": self.daily_token_budget or None,
            "cost": self.daily_cost_budget or None,
            "exceeded": False,
        }
        if self.daily_token_budget:
            left = self.daily_token_budget - int(today["total_tokens"])
            budget["tokens_left"] = max(0, left)
            budget["exceeded"] = left <= 0
        if self.daily_cost_budget:
            left_cost = self.daily_cost_budget - float(today["cost"] or 0.0)
            budget["cost_left"] = round(max(0.0, left_cost), 6)
            budget["exceeded"] = budget["exceeded"] or left_cost <= 0
        return budget

    async def check_budget(self, user: str) -> None:
        """Raise ``rate_limited`` (details ``reason: "budget"``) when ``user`` has spent the
        day's token or cost budget."""
        if not (self.daily_token_budget or self.daily_cost_budget):
            return
        usage = await self._store().usage(user)
        budget = self._budget(usage["today"])
        if budget["exceeded"]:
            spent = usage["today"]
            raise PygentError(
                ErrorCode.RATE_LIMITED,
                f"your daily model budget is spent ({spent['total_tokens']} tokens"
                + (f", {spent['cost']:.4f} {self.currency}" if spent["cost"] is not None else "")
                + f" today); it resets at 00:00 UTC (day {usage['day']})",
                details={
                    "reason": "budget",
                    "day": usage["day"],
                    "tokens": spent["total_tokens"],
                    "token_budget": self.daily_token_budget or None,
                    "cost": spent["cost"],
                    "cost_budget": self.daily_cost_budget or None,
                },
            )

    def backend_status(self) -> dict[str, Any]:
        """``backend_status`` data: every backend with health and models, and the default."""
        active = self.provider()
        return {
            "backends": self.registry.describe(active.name),
            "default": {"backend": active.name, "model": active.default_model},
            "currency": self.currency,
        }

    # -- seams for other services -----------------------------------------------------------

    def backend_named(self, name: str) -> tuple[BackendSpec, LLMProvider] | None:
        """The configured backend ``name``: its spec and provider, or None."""
        provider = self.registry.get(name)
        spec = self.registry.specs.get(name)
        if provider is None or spec is None:
            return None
        return spec, provider

    @property
    def tool_call_timeout(self) -> float:
        """Seconds one tool call may take (``tool_timeout``)."""
        return float(self.tool_timeout)

    def provider(self, backend: str | None = None) -> LLMProvider:
        """The LLM provider that answers now, without waiting: the one set with
        :meth:`set_provider`, else ``backend`` (this call's, else the trait's), where 'auto'
        is the first backend in order not known to be down (one whose first probe is still
        out counts as up), else the last (the embedded model). (:meth:`choose` is the
        waiting, announcing one.)"""
        if self._override is not None and backend is None:
            return self._override
        choice = backend or self.backend
        found = self.registry.get(choice)
        if found is not None:
            return found
        order = self.backend_order()
        for name in order:
            if self._reachable(name) is not False:  # up, or its first probe still out
                return self.registry.providers[name]
        return self.registry.providers[order[-1]]

    def set_provider(self, provider: LLMProvider | None) -> None:
        """Answer with ``provider`` from now on (None: back to the backend choice)."""
        self._override = provider

    def register_agent_type(
        self, name: str, factory: AgentFactory, *, user: str | None = None
    ) -> None:
        """Add or replace an agent type, for everyone or for ``user`` only."""
        self.agents.register(name, factory, user=user)

    def unregister_agent_type(self, name: str, *, user: str | None = None) -> None:
        self.agents.unregister(name, user=user)

    def add_context_provider(self, provider: ContextProvider) -> Callable[[], None]:
        """Add ``async provider(user, query) -> [{"content": str, …}]``. Its items go into the
        system prompt and into ``chat_response.message.metadata.memories``. A provider that
        fails or takes longer than ``context_timeout`` is skipped for that message.
        Returns a function that removes the provider."""
        self._context_providers.append(provider)
        return lambda: self._context_providers.remove(provider)

    def add_answer_listener(self, listener: AnswerListener) -> Callable[[], None]:
        """Add ``async listener(user, conversation_id, text, metadata)``, called in the
        background after each complete answer is committed (e.g. to embed it in memory).
        Failures are logged, never shown to the chat. Returns a remover."""
        self._answer_listeners.append(listener)
        return lambda: self._answer_listeners.remove(listener)

    def _notify_answer(self, user: str, conv_id: str, text: str, meta: dict[str, Any]) -> None:
        async def call(listener: AnswerListener) -> None:
            try:
                await listener(user, conv_id, text, meta)
            except Exception:
                self.log.exception("answer listener failed")

        for listener in list(self._answer_listeners):
            task = asyncio.ensure_future(call(listener))
            self._listener_tasks.add(task)
            task.add_done_callback(self._listener_tasks.discard)

    def add_tool_provider(
        self, list_tools: ListTools, call_tool: ToolCall, *, name: str = "tools"
    ) -> Callable[[], None]:
        """Offer tools to the agents.

        ``async list_tools(user)`` returns Ollama-format specs (``{"type": "function",
        "function": {"name", "description", "parameters"}}``; an optional top-level
        ``"server_id"`` names where the tool lives and is not shown to the model).
        ``async call_tool(user, tool_name, arguments)`` runs one and returns its result (text
        or anything JSON-able). Each call is reported to the client as ``tool_call_result``.
        Returns a function that removes the provider."""
        source = _ToolSource(name, list_tools, call_tool)
        self._tool_sources.append(source)
        return lambda: self._tool_sources.remove(source)

    # -- lifecycle ---------------------------------------------------------------------------

    def commands(self) -> dict[str, Callable[[Request], Awaitable[None]]]:
        return {
            "chat_message": self._chat_message,
            "get_history": self._get_history,
            "rename_conversation": self._rename_conversation,
            "delete_conversation": self._delete_conversation,
            "ollama_list_models": self._list_models,
            "list_backends": self._list_backends,
            "get_usage": self._get_usage,
        }

    async def start(self) -> None:
        if self._config_error:
            raise RuntimeError(f"c.AgentsService.backends: {self._config_error}")
        if self.backend != "auto" and self.registry.get(self.backend) is None:
            raise RuntimeError(
                f"c.AgentsService.backend is {self.backend!r}, which is not one of the "
                f"backends ({', '.join(self.registry.names())}) nor 'auto'"
            )
        if self.db is None:
            raise RuntimeError("the agents service needs the project database")
        self.store = ConversationStore(self.db)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.store.migrate)
        self.agents.load_entry_points()
        if self.auto_titles:
            from .titles import TitleWriter

            self.add_answer_listener(
                TitleWriter(
                    lambda: self.store, self.provider, self.hub.publish, timeout=self.title_timeout
                )
            )
        # first probes: start waits for them briefly (as it waited for Ollama's before); a
        # request that comes while one is still out waits up to first_probe_wait for it
        if self.backend != "local":
            self.registry.start_first_probes()
            await self.registry.wait_first_probes(
                min(self.first_probe_wait, self.backend_probe_timeout)
            )

    async def stop(self) -> None:
        await self.registry.aclose()
        await self.ollama.aclose()
        for provider in self.registry.providers.values():
            if provider is not self.ollama and provider is not self.local:
                aclose = getattr(provider, "aclose", None)
                if aclose is not None:
                    await aclose()

    def health(self) -> dict[str, Any]:
        if self.start_error:
            return {"state": "down", "error": self.start_error}
        active = self.provider()
        state = "up"
        if (active is self.ollama and not self.ollama.reachable) or (
            self._override is None and self._reachable(active.name) is False
        ):
            state = "degraded"
        return {
            "state": state,
            "backend": active.name,
            "ollama_reachable": bool(self.ollama.reachable),
            "local_available": self.local.available,
            "agents": self.agents.names(),
            "backends": self.registry.describe(active.name),
        }

    # -- handlers ----------------------------------------------------------------------------

    def _store(self) -> ConversationStore:
        if self.store is None:
            raise PygentError(ErrorCode.UNAVAILABLE, "the agents service has not started")
        return self.store

    async def _chat_message(self, request: Request[ChatMessageData]) -> None:
        store = self._store()
        user = request.user
        message = request.data["message"]
        content: str = message["content"]
        agent_name = message.get("agentId") or self.default_agent
        agent = self.agents.get(agent_name, user)
        if agent is None:
            raise PygentError(
                ErrorCode.NOT_FOUND,
                f"no agent type {agent_name!r}; available: {', '.join(self.agents.names(user))}",
                field="data.message.agentId",
            )
        await self.check_budget(user)
        asked_backend = message.get("backend") or ""
        asked_model = message.get("model") or ""
        if asked_backend and self.registry.get(asked_backend) is None:
            raise PygentError(
                ErrorCode.NOT_FOUND,
                f"no backend {asked_backend!r}; configured: {', '.join(self.registry.names())}",
                field="data.message.backend",
            )
        asked = (asked_backend, asked_model) if asked_backend or asked_model else None
        committed: asyncio.Future[Any] | None = None
        if request.data.get("conversation_id") is None:
            # A new conversation has no history to read: commit the user's turn while the
            # model starts, holding every reply until the commit is done (the client sees
            # nothing before its turn is durable; the first token waits for the later of
            # the two instead of their sum).
            conv_id, user_msg_id = new_id("cv"), new_id("msg")
            committed = asyncio.ensure_future(
                store.add_user_message(
                    user, conv_id, content, agent_name, message_id=user_msg_id, preferences=asked
                )
            )
            request.hold_replies(committed)
            history: list[dict[str, Any]] = []
            remembered: tuple[str, str] = ("", "")
        else:
            conv_id, user_msg, history = await store.add_user_message(
                user,
                request.data.get("conversation_id"),
                content,
                agent_name,
                history=self.history_window,
                history_chars=self.history_max_chars,
                preferences=asked,
            )
            user_msg_id = user_msg["id"]
            # the picker's choice sticks per conversation (same trip to the database)
            remembered = user_msg.pop("preferences", ("", ""))
        backend_name, model_name = asked or remembered
        if backend_name and self.registry.get(backend_name) is None:
            backend_name, model_name = "", ""  # the admin removed that backend since
        provider, fallbacks = await self.choose(backend_name or None)
        if fallbacks and model_name and not asked_model:
            model_name = ""  # a remembered model belongs to the backend passed over
        answer_id = new_id("msg")
        started = time.perf_counter()
        ids = {"conversation_id": conv_id, "agentId": agent_name}
        typing: dict[str, Any] = {
            "active": True,
            **ids,
            "message_id": answer_id,
            "user_message_id": user_msg_id,
            "backend": provider.name,
        }
        if model_name:
            typing["model"] = model_name
        announced = [fb.to_dict() for fb in fallbacks]
        if announced:
            typing["fallback"] = announced
        request.reply("typing_indicator", typing)
        for fb in fallbacks:
            self._announce_fallback(request, fb)
        parts: list[str] = []
        first_token: list[float] = []
        try:
            current_chat.set(ChatScope(request, conv_id, answer_id))
            context = await self._gather_context(user, content)
            tools, call_tool = await self._gather_tools(request, conv_id, answer_id)
            turn = AgentTurn(
                user=user,
                conversation_id=conv_id,
                message_id=answer_id,
                content=content,
                provider=provider,
                history=history,  # type: ignore[arg-type]
                context=context,
                model=model_name or None,
                tools=tools,
                call_tool=call_tool,
                max_tool_rounds=self.max_tool_rounds,
                emit=request.reply,
            )
            completion = await self._stream(
                request, agent, turn, answer_id, parts, first_token, explicit=bool(backend_name)
            )
        except asyncio.CancelledError:
            if committed is not None:
                await committed  # the partial answer goes into the conversation
            await self._incomplete(
                request,
                ids,
                answer_id,
                parts,
                started,
                "cancelled",
                provider.name,
                always_respond=True,
            )
            raise
        except PygentError as error:
            if committed is not None:
                await committed
            if isinstance(error, BackendError):
                request.reply(error.event_type, error.event_data())
                self._poke_monitor()
            await self._incomplete(
                request, ids, answer_id, parts, started, error.code.value, provider.name
            )
            raise
        except Exception:
            if committed is not None:
                await committed
            await self._incomplete(
                request, ids, answer_id, parts, started, "internal", provider.name
            )
            raise

        if committed is not None:
            await committed
        elapsed = time.perf_counter() - started
        metadata: dict[str, Any] = {
            "processing_time": round(elapsed, 4),
            "confidence": confidence(completion.token_logprobs),
            "reasoning_path": list(turn.metadata.get("reasoning_path", [])),
            "model": completion.model,
            "backend": completion.backend,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "tokens_per_s": round(completion.tokens_per_s, 2),
            "time_to_first_token": round(first_token[0] - started, 4) if first_token else None,
            "done_reason": completion.done_reason,
        }
        cost = self.cost(completion)
        if cost is not None:
            metadata["cost"] = cost
            metadata["currency"] = self.currency
        announced += turn.metadata.pop("fallback", [])
        if announced:
            metadata["fallback"] = announced
        if context:
            metadata["memories"] = context
        if completion.tool_calls:
            metadata["tool_calls"] = completion.tool_calls
        for key, value in turn.metadata.items():
            metadata.setdefault(key, value)
        await store.add_answer(
            user, conv_id, answer_id, completion.text, agent_name, metadata=metadata
        )
        await store.add_usage(
            user,
            backend=completion.backend,
            model=completion.model,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            cost=cost,
            conversation_id=conv_id,
            message_id=answer_id,
        )
        self._notify_answer(user, conv_id, completion.text, {"agentId": agent_name})
        request.reply(
            "chat_response",
            {
                "conversation_id": conv_id,
                "message": {
                    "id": answer_id,
                    "type": "agent",
                    "content": completion.text,
                    "agentId": agent_name,
                    "metadata": metadata,
                },
            },
        )
        self._report_metrics(request, _metrics(completion))
        request.reply("usage", await self.usage(user, conv_id))
        request.reply("typing_indicator", {"active": False, **ids, "message_id": answer_id})

    async def _stream(
        self,
        request: Request,
        agent: Any,
        turn: AgentTurn,
        answer_id: str,
        parts: list[str],
        first_token: list[float],
        *,
        explicit: bool = False,
    ) -> Completion:
        """Run the agent, forwarding its deltas as ``chat_stream`` (coalesced per loop turn,
        see :class:`~.deltas.DeltaSender`). With backend ``auto``, a backend found unreachable
        before the first token is passed over for the next one in order (announced with
        ``backend_error``/``ollama_error`` carrying ``fallback``, and in
        ``metadata.fallback``)."""
        tried: set[str] = set()
        deltas = DeltaSender(request, answer_id, turn.conversation_id)
        while True:
            try:
                async with closing(agent.respond(turn)) as stream:
                    async for chunk in stream:
                        if chunk.done:
                            if chunk.completion is None:
                                break
                            return chunk.completion
                        if chunk.delta:
                            if not first_token:
                                first_token.append(time.perf_counter())
                            deltas.add(chunk.delta)
                            parts.append(chunk.delta)
                raise PygentError(ErrorCode.INTERNAL, "the agent ended without an answer")
            except BackendError as error:
                code = error.backend_code
                failed = turn.provider.name
                tried.add(failed)
                order = [n for n in self.backend_order() if n not in tried]
                if (
                    code != "unreachable"
                    or parts
                    or self._override is not None
                    or self.backend != "auto"
                    or explicit
                    or not order
                ):
                    raise
                self.registry.mark_down(failed, code)
                name, _skipped = await self.registry.choose(
                    order, first_probe_wait=0.0, recheck_after=self.recheck_interval
                )
                fallback = Fallback(failed, name, code)
                event = {**error.event_data(), "fallback": name}
                request.reply(error.event_type, event)
                self._poke_monitor()
                turn.metadata.setdefault("fallback", []).append(fallback.to_dict())
                turn.provider = self.registry.providers[name]
                turn.model = None
                if name == "local":
                    turn.tools = []
            finally:
                deltas.flush()  # before chat_response / the error

    def _announce_fallback(self, request: Request, fallback: Fallback) -> None:
        """Tell the requester that ``fallback.skipped`` was passed over (never silent)."""
        skipped = fallback.skipped
        spec = self.registry.specs.get(skipped)
        message = (
            f"backend {skipped!r} is not answering ({fallback.reason}); "
            f"{fallback.chosen!r} answers instead"
        )
        data: dict[str, Any] = {
            "backend": skipped,
            "kind": spec.kind if spec else "custom",
            "code": "unreachable",
            "message": message,
            "reason": fallback.reason,
            "fallback": fallback.chosen,
        }
        request.reply("backend_error", data)
        if skipped == "ollama":
            request.reply(
                "ollama_error",
                {
                    "code": "unreachable",
                    "message": message,
                    "host": self.ollama.host,
                    "fallback": fallback.chosen,
                },
            )

    def _report_metrics(self, request: Request, data: dict[str, Any]) -> None:
        """``ollama_metrics`` to the requester, and to the user's other connections that
        subscribed to the ``ollama`` topic (a dashboard in another tab)."""
        request.reply("ollama_metrics", data)
        self.hub.publish_user_topic(
            request.user, "ollama", "ollama_metrics", data, except_client=request.client_id
        )

    def _poke_monitor(self) -> None:
        if self._monitor is not None:
            self._monitor.poll_now()

    async def _incomplete(
        self,
        request: Request,
        ids: dict[str, str],
        answer_id: str,
        parts: list[str],
        started: float,
        reason: str,
        backend: str,
        *,
        always_respond: bool = False,
    ) -> None:
        """Save the partial answer as incomplete and close the exchange for the client."""
        content = "".join(parts)
        metadata = {
            "incomplete": True,
            "reason": reason,
            "backend": backend,
            "processing_time": round(time.perf_counter() - started, 4),
        }
        try:
            await self._store().add_answer(
                request.user,
                ids["conversation_id"],
                answer_id,
                content,
                ids["agentId"],
                status="incomplete",
                metadata=metadata,
            )
        except Exception:
            self.log.exception("could not save the incomplete answer %s", answer_id)
        if request.closed:
            return  # the command died with its socket (like the Hub, send nothing after it)
        if content or always_respond:
            request.reply(
                "chat_response",
                {
                    "conversation_id": ids["conversation_id"],
                    "message": {
                        "id": answer_id,
                        "type": "agent",
                        "content": content,
                        "agentId": ids["agentId"],
                        "metadata": {**metadata, "confidence": None, "reasoning_path": []},
                    },
                },
            )
        request.reply("typing_indicator", {"active": False, **ids, "message_id": answer_id})

    async def _gather_context(self, user: str, query: str) -> list[dict[str, Any]]:
        if not self._context_providers:
            return []

        async def one(provider: ContextProvider) -> Sequence[dict[str, Any]]:
            try:
                return await asyncio.wait_for(provider(user, query), self.context_timeout)
            except Exception:
                self.log.warning("context provider %r failed or timed out", provider, exc_info=True)
                return []

        results = await asyncio.gather(*(one(p) for p in list(self._context_providers)))
        items: list[dict[str, Any]] = []
        for result in results:
            for item in result or []:
                if isinstance(item, dict) and str(item.get("content", "")).strip():
                    items.append(dict(item))
        return items[: self.max_context_items]

    async def _gather_tools(
        self,
        request: Request,
        conversation_id: str,
        message_id: str,
    ) -> tuple[list[dict[str, Any]], Callable[[str, dict[str, Any]], Awaitable[str]] | None]:
        if not self._tool_sources:
            return [], None
        user = request.user
        routes: dict[str, tuple[_ToolSource, str]] = {}
        specs: list[dict[str, Any]] = []
        for source in list(self._tool_sources):
            try:
                listed = await asyncio.wait_for(source.list_tools(user), self.context_timeout)
            except Exception:
                self.log.warning(
                    "tool provider %s failed to list tools", source.name, exc_info=True
                )
                continue
            for spec in listed:
                spec = dict(spec)
                server_id = str(spec.pop("server_id", source.name))
                tool_name = str((spec.get("function") or {}).get("name", ""))
                if tool_name and tool_name not in routes:
                    routes[tool_name] = (source, server_id)
                    specs.append(spec)
        if not specs:
            return [], None

        async def call_tool(name: str, arguments: dict[str, Any]) -> str:
            route = routes.get(name)
            started = time.perf_counter()
            is_error = False
            if route is None:
                result: Any = f"Error: there is no tool named {name!r}"
                is_error = True
                server_id = ""
            else:
                source, server_id = route
                try:
                    result = await asyncio.wait_for(
                        source.call_tool(user, name, arguments), self.tool_timeout
                    )
                except asyncio.TimeoutError:
                    result, is_error = f"Error: the tool {name!r} timed out", True
                except Exception as exc:
                    result, is_error = f"Error: {type(exc).__name__}: {exc}", True
            text = tool_result_text(result)
            request.reply(
                "tool_call_result",
                {
                    "server_id": server_id,
                    "tool": name,
                    "arguments": arguments,
                    "is_error": is_error,
                    "content": [{"type": "text", "text": text}],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "conversation_id": conversation_id,
                    "message_id": message_id,
                },
            )
            return text

        return specs, call_tool

    async def _get_history(self, request: Request[GetHistoryData]) -> None:
        store = self._store()
        data = request.data
        limit = int(data.get("limit", 50))
        conv_id = data.get("conversation_id")
        if conv_id is None:
            query = str(data.get("query") or "").strip()
            conversations, has_more = await store.conversations(
                request.user, limit=limit, query=query
            )
            reply: dict[str, Any] = {"conversations": conversations, "has_more": has_more}
            if query:
                reply["query"] = query
            request.reply("chat_history", reply)
            return
        messages, has_more = await store.messages(
            request.user, conv_id, before=data.get("before"), limit=limit
        )
        request.reply(
            "chat_history", {"conversation_id": conv_id, "messages": messages, "has_more": has_more}
        )

    async def _rename_conversation(self, request: Request[RenameConversationData]) -> None:
        row = await self._store().rename(
            request.user, request.data["conversation_id"], request.data["title"]
        )
        request.reply("chat_history", {"conversations": [row], "has_more": False})

    async def _delete_conversation(self, request: Request[DeleteConversationData]) -> None:
        conv_id = request.data["conversation_id"]
        await self._store().delete(request.user, conv_id)
        request.reply("chat_history", {"conversations": [], "deleted": conv_id, "has_more": False})

    async def _list_backends(self, request: Request[ListBackendsData]) -> None:
        if request.data.get("refresh"):
            await self.registry.probe_all()
        else:
            await self.registry.wait_first_probes(self.first_probe_wait)
        request.reply("backend_status", self.backend_status())

    async def _get_usage(self, request: Request[GetUsageData]) -> None:
        conv_id = request.data.get("conversation_id")
        request.reply("usage", await self.usage(request.user, conv_id))

    async def _list_models(self, request: Request[OllamaListModelsData]) -> None:
        provider = self.provider()
        try:
            models = await provider.list_models()
        except BackendError as error:
            request.reply(error.event_type, error.event_data())
            raise
        data: dict[str, Any] = {"backend": provider.name, "models": models}
        if provider is self.ollama:
            data["host"] = self.ollama.host
        request.reply("ollama_model_update", data)


def _metrics(completion: Completion) -> dict[str, Any]:
    """``ollama_metrics`` for one finished answer (same fields for every backend)."""
    return {
        "backend": completion.backend,
        "model": completion.model,
        "eval_count": completion.completion_tokens,
        "eval_duration_ms": round(completion.eval_duration_s * 1000, 3),
        "prompt_eval_count": completion.prompt_tokens,
        "prompt_eval_duration_ms": round(completion.prompt_eval_duration_s * 1000, 3),
        "load_duration_ms": round(completion.load_duration_s * 1000, 3),
        "total_duration_ms": round(completion.total_duration_s * 1000, 3),
        "tokens_per_s": round(completion.tokens_per_s, 2),
    }
