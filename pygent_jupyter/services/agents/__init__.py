"""Agents and streaming chat: LLM providers, agent types, conversation memory.

Flow of one ``chat_message`` (each request is its own task; many stream at once)::

    user turn committed to SQLite -> typing_indicator{active:true}
      -> chat_stream{message_id, delta, index}*   (one event per model chunk; chunks that
         arrive in the same loop turn, a backlog, are joined into one event)
      -> answer committed -> chat_response{message:{id, type:"agent", content, agentId,
         metadata}} -> ollama_metrics -> typing_indicator{active:false}

``cancel{request_id}`` (the Hub cancels the task) or a failure saves the partial answer with
``status: "incomplete"``; a cancelled exchange still ends with ``chat_response`` (metadata
``incomplete: true``) and ``typing_indicator{active:false}``; Ollama failures also send
``ollama_error``.

Seams for other services (all on :class:`AgentsService`, handed to them by the app as the
``models``, ``agent_types``, ``chat_hooks`` and ``backends`` fields of
:class:`~..seams.Seams`; see :mod:`..seams`):

``provider(backend=None) -> LLMProvider`` / ``resolve_provider(...)`` / ``backend_named(name)``
    The backend that answers now: Ollama when reachable, else the embedded local model
    (``c.AgentsService.backend`` forces one). ``set_provider(p)`` makes every agent answer with
    ``p`` (tests, research code); ``set_provider(None)`` undoes it. ``service.ollama`` and
    ``service.local`` are the two providers themselves.

``register_agent_type(name, factory, *, user=None)`` / ``unregister_agent_type``
    Add or replace an agent type at run time; with ``user``, for that user only (it shadows a
    global type of the same name for them). ``factory`` is an
    :class:`~.factory.Agent` subclass or ``factory(service) -> Agent``. Packages can also
    declare types in the entry-point group ``pygent_jupyter.agents``.

``add_context_provider(async fn(user, query) -> list[dict]) -> remove``
    Memory hook. Each item is ``{"content": str, ...}`` (score, id, … are kept); up to
    ``max_context_items`` go into the system prompt and into
    ``chat_response.message.metadata.memories``. Slow (``context_timeout``) or failing providers
    are skipped.

``add_tool_provider(list_tools, call_tool, *, name="tools") -> remove``
    Tool hook. ``async list_tools(user)`` gives Ollama-format function specs (an optional
    top-level ``server_id`` is stripped before the model sees them); ``async call_tool(user,
    name, arguments)`` runs one. The agent runs a bounded loop (``max_tool_rounds``): model ->
    tool calls -> ``tool_call_result`` event per call -> model ... -> answer. Tools are offered
    to backends that support them (Ollama), not to the embedded model.

``confidence`` in ``chat_response.metadata`` is the mean probability the model assigned to the
tokens it produced (``mean(exp(logprob))``; see :func:`~.service.confidence`); ``null`` when
the backend returns no log-probabilities.
"""

from .factory import (
    ENTRY_POINT_GROUP,
    Agent,
    AgentRegistry,
    AgentTurn,
    CodingAgent,
    GeneralAgent,
    LLMAgent,
    ReasoningAgent,
)
from .service import AgentsService, confidence
from .store import ConversationStore

__all__ = [
    "ENTRY_POINT_GROUP",
    "Agent",
    "AgentRegistry",
    "AgentTurn",
    "AgentsService",
    "CodingAgent",
    "ConversationStore",
    "GeneralAgent",
    "LLMAgent",
    "ReasoningAgent",
    "confidence",
]
