"""`AgentsService`: streaming chat over the socket, conversation memory, and the seams other
services plug into. See the package docstring (:mod:`pygent_jupyter.services.agents`)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from traitlets import Enum, Float, Int, Unicode

from ...llm import Completion, LLMProvider
from ...protocol import ErrorCode, PygentError
from ..base import Service
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
from .local import LocalProvider
from .ollama import OllamaError, OllamaProvider, export_host
from .store import ConversationStore, new_id

if TYPE_CHECKING:
    from ...hub import Hub, Request

__all__ = ["AgentsService", "ContextProvider", "ToolCall", "confidence"]

ContextProvider = Callable[[str, str], Awaitable[Sequence[dict[str, Any]]]]
ListTools = Callable[[str], Awaitable[Sequence[dict[str, Any]]]]
ToolCall = Callable[[str, str, dict[str, Any]], Awaitable[Any]]
AnswerListener = Callable[[str, str, str, dict[str, Any]], Awaitable[Any]]


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
    """Handles ``chat_message``, ``get_history`` and ``ollama_list_models``."""

    name = "agents"

    backend = Enum(
        ["auto", "ollama", "local"],
        default_value="auto",
        help="Which LLM backend answers: 'auto' uses Ollama when it is reachable and the "
        "embedded local model otherwise; 'ollama' or 'local' force one.",
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

    def __init__(self, hub: Hub, **kwargs: Any) -> None:
        super().__init__(hub, **kwargs)
        self.ollama = OllamaProvider(parent=self)
        self.local = LocalProvider(parent=self)
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

    # -- seams for other services -----------------------------------------------------------

    def provider(self, backend: str | None = None) -> LLMProvider:
        """The LLM provider that answers now: the one set with :meth:`set_provider`, else per
        ``backend`` (this call's, else the trait): Ollama when reachable, else local."""
        if self._override is not None and backend is None:
            return self._override
        choice = backend or self.backend
        if choice == "ollama":
            return self.ollama
        if choice == "local":
            return self.local
        if self.ollama.reachable or not self.local.available:
            return self.ollama
        return self.local

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
            "ollama_list_models": self._list_models,
        }

    async def start(self) -> None:
        if self.hub.db is None:
            raise RuntimeError("the agents service needs the project database (hub.db)")
        self.store = ConversationStore(self.hub.db)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.store.migrate)
        self.agents.load_entry_points()
        if self.backend != "local":
            await self.ollama.status()

    async def stop(self) -> None:
        await self.ollama.aclose()

    def health(self) -> dict[str, Any]:
        if self.start_error:
            return {"state": "down", "error": self.start_error}
        active = self.provider()
        state = "up"
        if active is self.ollama and not self.ollama.reachable:
            state = "degraded"
        return {
            "state": state,
            "backend": active.name,
            "ollama_reachable": bool(self.ollama.reachable),
            "local_available": self.local.available,
            "agents": self.agents.names(),
        }

    # -- handlers ----------------------------------------------------------------------------

    def _store(self) -> ConversationStore:
        if self.store is None:
            raise PygentError(ErrorCode.UNAVAILABLE, "the agents service has not started")
        return self.store

    async def _chat_message(self, request: Request) -> None:
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
        provider = self.provider()
        conv_id, user_msg, history = await store.add_user_message(
            user,
            request.data.get("conversation_id"),
            content,
            agent_name,
            history=self.history_window,
            history_chars=self.history_max_chars,
        )
        answer_id = new_id("msg")
        started = time.perf_counter()
        ids = {"conversation_id": conv_id, "agentId": agent_name}
        request.reply(
            "typing_indicator",
            {
                "active": True,
                **ids,
                "message_id": answer_id,
                "user_message_id": user_msg["id"],
                "backend": provider.name,
            },
        )
        parts: list[str] = []
        first_token: list[float] = []
        try:
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
                model=message.get("model") or None,
                tools=tools,
                call_tool=call_tool,
                max_tool_rounds=self.max_tool_rounds,
                emit=request.reply,
            )
            completion = await self._stream(request, agent, turn, answer_id, parts, first_token)
        except asyncio.CancelledError:
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
            if isinstance(error, OllamaError):
                request.reply("ollama_error", error.event_data())
                self._poke_monitor()
            await self._incomplete(
                request, ids, answer_id, parts, started, error.code.value, provider.name
            )
            raise
        except Exception:
            await self._incomplete(
                request, ids, answer_id, parts, started, "internal", provider.name
            )
            raise

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
        if context:
            metadata["memories"] = context
        if completion.tool_calls:
            metadata["tool_calls"] = completion.tool_calls
        for key, value in turn.metadata.items():
            metadata.setdefault(key, value)
        await store.add_answer(
            user, conv_id, answer_id, completion.text, agent_name, metadata=metadata
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
        request.reply("typing_indicator", {"active": False, **ids, "message_id": answer_id})

    async def _stream(
        self,
        request: Request,
        agent: Any,
        turn: AgentTurn,
        answer_id: str,
        parts: list[str],
        first_token: list[float],
    ) -> Completion:
        """Run the agent, forwarding each delta as ``chat_stream``; falls back to the local
        model once when Ollama is unreachable before the first token (backend ``auto``)."""
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
                            request.reply(
                                "chat_stream",
                                {
                                    "message_id": answer_id,
                                    "delta": chunk.delta,
                                    "conversation_id": turn.conversation_id,
                                    "index": len(parts),
                                },
                            )
                            parts.append(chunk.delta)
                raise PygentError(ErrorCode.INTERNAL, "the agent ended without an answer")
            except OllamaError as error:
                can_fall_back = (
                    error.ollama_code == "unreachable"
                    and not parts
                    and self._override is None
                    and self.backend == "auto"
                    and turn.provider is self.ollama
                    and self.local.available
                )
                if not can_fall_back:
                    raise
                request.reply("ollama_error", {**error.event_data(), "fallback": "local"})
                self._poke_monitor()
                turn.provider = self.local
                turn.model = None
                turn.tools = []

    def _report_metrics(self, request: Request, data: dict[str, Any]) -> None:
        """``ollama_metrics`` to the requester, and to the user's other connections that
        subscribed to the ``ollama`` topic (a dashboard in another tab)."""
        request.reply("ollama_metrics", data)
        for conn in self.hub.connections.of_user(request.user):
            if conn is not request.connection and "ollama" in conn.topics:
                self.hub.send_to(conn, "ollama_metrics", data)

    def _poke_monitor(self) -> None:
        monitor = self.hub.service("ollama")
        poll_now = getattr(monitor, "poll_now", None)
        if poll_now is not None:
            poll_now()

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
        if request.connection.closed:
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

    async def _get_history(self, request: Request) -> None:
        store = self._store()
        data = request.data
        limit = int(data.get("limit", 50))
        conv_id = data.get("conversation_id")
        if conv_id is None:
            conversations, has_more = await store.conversations(request.user, limit=limit)
            request.reply("chat_history", {"conversations": conversations, "has_more": has_more})
            return
        messages, has_more = await store.messages(
            request.user, conv_id, before=data.get("before"), limit=limit
        )
        request.reply(
            "chat_history", {"conversation_id": conv_id, "messages": messages, "has_more": has_more}
        )

    async def _list_models(self, request: Request) -> None:
        provider = self.provider()
        try:
            models = await provider.list_models()
        except OllamaError as error:
            request.reply("ollama_error", error.event_data())
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
