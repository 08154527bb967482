"""Agent types: the :class:`Agent` contract, the seed's three built-in agents, and the registry.

An agent turns one :class:`AgentTurn` (the user's text, the bounded history, context from
memory, the tools on offer and the active :class:`~pygent_jupyter.llm.LLMProvider`) into a
stream of :class:`~pygent_jupyter.llm.ChatChunk`; its last chunk has ``done=True`` and carries
the :class:`~pygent_jupyter.llm.Completion`. Whatever it puts in ``turn.metadata`` (for
instance ``reasoning_path``) goes into ``chat_response.message.metadata``.

Agent types are registered by name in an :class:`AgentRegistry`:

- the built-ins ``general``, ``coding`` and ``reasoning`` (each a configurable system prompt,
  model and sampling parameters: ``c.GeneralAgent.system_prompt``, ``c.CodingAgent.temperature``,
  ``c.ReasoningAgent.model``…);
- entry points in the group ``pygent_jupyter.agents`` (``name = "pkg.module:factory"``), loaded
  at start;
- anything registered at run time with ``register(name, factory, user=None)``; with ``user``
  the type is visible to that user only (evolved variants), and it shadows a global type of the
  same name for that user.

A factory is an :class:`Agent` subclass (built as ``cls(parent=service)``) or any callable
``factory(service) -> Agent``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, TypeVar, cast

from traitlets import Float, Int, Unicode
from traitlets.config import LoggingConfigurable

from ...llm import ChatChunk, ChatMessage, Completion, LLMProvider, Options

__all__ = [
    "ENTRY_POINT_GROUP",
    "Agent",
    "AgentFactory",
    "AgentRegistry",
    "AgentTurn",
    "CodingAgent",
    "GeneralAgent",
    "LLMAgent",
    "ReasoningAgent",
    "closing",
    "parse_steps",
]

ENTRY_POINT_GROUP = "pygent_jupyter.agents"

T = TypeVar("T")


@asynccontextmanager
async def closing(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Use ``stream`` and close it on exit (an async generator left early otherwise keeps its
    HTTP response or model job open until garbage collection)."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


@dataclass
class AgentTurn:
    """Everything an agent needs to answer one user message."""

    user: str
    conversation_id: str
    message_id: str
    content: str
    provider: LLMProvider
    history: list[ChatMessage] = field(default_factory=list)
    #: results of the context providers (memories): ``{"content": str, …}`` each
    context: list[dict[str, Any]] = field(default_factory=list)
    #: the model the client asked for, if any (overrides the agent's)
    model: str | None = None
    #: Ollama-format tool specs on offer (``{"type": "function", "function": {…}}``)
    tools: list[dict[str, Any]] = field(default_factory=list)
    #: ``await call_tool(name, arguments)`` runs a tool (and reports ``tool_call_result``)
    call_tool: Callable[[str, dict[str, Any]], Awaitable[str]] | None = None
    max_tool_rounds: int = 4
    #: send an extra event to the requesting client: ``emit(type, data)``
    emit: Callable[[str, dict[str, Any]], Any] = lambda _type, _data: None
    #: merged into ``chat_response.message.metadata``
    metadata: dict[str, Any] = field(default_factory=dict)


class Agent(LoggingConfigurable):
    """An agent type. Subclasses implement :meth:`respond`."""

    agent_id = Unicode("", help="The name this agent is registered under.")
    description = Unicode("", help="One line shown to users choosing an agent.")

    def respond(self, turn: AgentTurn) -> AsyncIterator[ChatChunk]:
        """Stream the answer; the last chunk is ``done`` and carries the ``Completion``."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"id": self.agent_id, "description": self.description}


class LLMAgent(Agent):
    """A system prompt + model + sampling parameters over the active provider, with memory
    context in the prompt and a bounded tool-calling loop."""

    system_prompt = Unicode("You are a helpful assistant.", help="The agent's system prompt.").tag(
        config=True
    )
    model = Unicode(
        "",
        help="Model to use; empty: the active backend's default. A model named in the "
        "chat_message wins.",
    ).tag(config=True)
    temperature = Float(0.7, help="Sampling temperature (0: greedy).").tag(config=True)
    top_p = Float(0.9, help="Nucleus sampling threshold.").tag(config=True)
    top_k = Int(40, help="Top-k sampling.").tag(config=True)
    seed = Int(
        None, allow_none=True, help="Sampling seed (with temperature 0 answers repeat)."
    ).tag(config=True)
    num_predict = Int(1024, help="Most tokens in one answer.").tag(config=True)

    def options(self) -> Options:
        options: Options = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "num_predict": self.num_predict,
        }
        if self.seed is not None:
            options["seed"] = self.seed
        return options

    def system_message(self, turn: AgentTurn) -> str:
        """The system prompt, plus the memory context when there is some."""
        text = self.system_prompt
        if turn.context:
            lines = [f"- {item.get('content', '')}".strip() for item in turn.context]
            text += "\n\nRelevant context (from memory):\n" + "\n".join(lines)
        return text

    def build_messages(self, turn: AgentTurn) -> list[ChatMessage]:
        messages: list[ChatMessage] = [{"role": "system", "content": self.system_message(turn)}]
        messages.extend(turn.history)
        messages.append({"role": "user", "content": turn.content})
        return messages

    def finish(self, turn: AgentTurn, text: str) -> None:
        """Called with the whole answer before ``chat_response``; sets ``turn.metadata``."""

    async def respond(self, turn: AgentTurn) -> AsyncIterator[ChatChunk]:
        messages = self.build_messages(turn)
        provider = turn.provider
        use_tools = bool(turn.tools and turn.call_tool and provider.name != "local")
        model = turn.model or self.model or None
        total: Completion | None = None
        text_parts: list[str] = []
        for round_ in range(turn.max_tool_rounds + 1):
            offer = turn.tools if use_tools and round_ < turn.max_tool_rounds else None
            completion: Completion | None = None
            async with closing(
                provider.chat_stream(messages, model=model, options=self.options(), tools=offer)
            ) as stream:
                async for chunk in stream:
                    if chunk.done:
                        completion = chunk.completion
                        break
                    text_parts.append(chunk.delta)
                    yield chunk
            if completion is None:
                return
            total = completion if total is None else _merge(total, completion)
            if not (offer and completion.tool_calls and turn.call_tool):
                break
            messages.append(
                {
                    "role": "assistant",
                    "content": completion.text,
                    "tool_calls": completion.tool_calls,
                }
            )
            for call in completion.tool_calls:
                function = call.get("function") or {}
                name = str(function.get("name", ""))
                result = await turn.call_tool(name, dict(function.get("arguments") or {}))
                messages.append({"role": "tool", "tool_name": name, "content": result})
        assert total is not None
        total.text = "".join(text_parts)
        self.finish(turn, total.text)
        yield ChatChunk(delta="", done=True, completion=total)


def _merge(a: Completion, b: Completion) -> Completion:
    """Accounting of two model calls of one answer (tool rounds) added up."""
    logprobs = (a.token_logprobs or []) + (b.token_logprobs or [])
    return Completion(
        text=a.text + b.text,
        model=b.model,
        backend=b.backend,
        prompt_tokens=a.prompt_tokens + b.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        eval_duration_s=a.eval_duration_s + b.eval_duration_s,
        prompt_eval_duration_s=a.prompt_eval_duration_s + b.prompt_eval_duration_s,
        load_duration_s=a.load_duration_s + b.load_duration_s,
        total_duration_s=a.total_duration_s + b.total_duration_s,
        done_reason=b.done_reason,
        token_logprobs=logprobs or None,
        tool_calls=a.tool_calls + b.tool_calls,
    )


class GeneralAgent(LLMAgent):
    """The seed's general-purpose assistant."""

    description = Unicode("General questions, answered clearly and briefly.")
    system_prompt = Unicode(
        "You are a helpful, precise assistant working inside a Jupyter notebook. Answer "
        "clearly and briefly; say so when you are not sure.",
        help="The general agent's system prompt.",
    ).tag(config=True)


class CodingAgent(LLMAgent):
    """Code-focused: answers with fenced code blocks."""

    description = Unicode("Writes and explains code; answers carry fenced code blocks.")
    system_prompt = Unicode(
        "You are an expert Python programmer helping in a Jupyter notebook. Answer with "
        "working code in fenced Markdown blocks (```python ... ```), then a short explanation. "
        "Prefer the standard library and well-known packages.",
        help="The coding agent's system prompt.",
    ).tag(config=True)
    temperature = Float(0.2, help="Sampling temperature (0: greedy).").tag(config=True)


class ReasoningAgent(LLMAgent):
    """Step-by-step reasoning; ``reasoning_path`` lists the steps of the answer.

    The Tree-of-Thought engine replaces this type when it registers ``reasoning``.
    """

    description = Unicode("Thinks step by step; the steps are listed in reasoning_path.")
    system_prompt = Unicode(
        "You solve problems by reasoning step by step. Write each step on its own line as "
        "'Step 1: ...', 'Step 2: ...', and so on, then give the result on a last line that "
        "starts with 'Answer:'.",
        help="The reasoning agent's system prompt.",
    ).tag(config=True)
    temperature = Float(0.3, help="Sampling temperature (0: greedy).").tag(config=True)

    def finish(self, turn: AgentTurn, text: str) -> None:
        turn.metadata["reasoning_path"] = parse_steps(text)


_STEP = re.compile(
    r"^\s*(?:\*\*)?(?:step\s*(\d+)\s*[:.)-]|(\d+)[.)]\s)\s*(?:\*\*)?\s*(.*)$", re.IGNORECASE
)


def parse_steps(text: str) -> list[str]:
    """The steps of a step-by-step answer ("Step 1: …" or "1. …" lines), continuation lines
    joined to their step; the ``Answer:`` line is the last entry when present."""
    steps: list[str] = []
    answer: str | None = None
    for line in text.splitlines():
        match = _STEP.match(line)
        if match:
            steps.append(match.group(3).strip())
        elif line.strip().lower().startswith(("answer:", "**answer")):
            answer = line.strip()
        elif steps and line.strip() and answer is None:
            steps[-1] = f"{steps[-1]} {line.strip()}".strip()
    steps = [s for s in steps if s]
    if answer:
        steps.append(answer)
    return steps


AgentFactory = type[Agent] | Callable[[Any], Agent]


class AgentRegistry:
    """Agent types by name, global or per user; instances are built once and cached."""

    def __init__(self, parent: Any) -> None:
        self.parent = parent
        self._factories: dict[tuple[str | None, str], AgentFactory] = {}
        self._instances: dict[tuple[str | None, str], Agent] = {}

    def register(self, name: str, factory: AgentFactory, *, user: str | None = None) -> None:
        """Add or replace the type ``name`` (for ``user`` only, when given)."""
        if not name or len(name) > 64:
            raise ValueError("an agent type name has 1 to 64 characters")
        key = (user, name)
        self._factories[key] = factory
        self._instances.pop(key, None)

    def unregister(self, name: str, *, user: str | None = None) -> None:
        self._factories.pop((user, name), None)
        self._instances.pop((user, name), None)

    def names(self, user: str | None = None) -> list[str]:
        """The types ``user`` can use."""
        return sorted({n for (u, n) in self._factories if u is None or u == user})

    def get(self, name: str, user: str | None = None) -> Agent | None:
        """The agent for ``name`` as ``user`` sees it (their own type first), or None."""
        keys = [(user, name), (None, name)] if user is not None else [(None, name)]
        for key in keys:
            factory = self._factories.get(key)
            if factory is None:
                continue
            agent = self._instances.get(key)
            if agent is None:
                agent = self._build(factory)
                agent.agent_id = name
                self._instances[key] = agent
            return agent
        return None

    def _build(self, factory: AgentFactory) -> Agent:
        if isinstance(factory, type) and issubclass(factory, Agent):
            return factory(parent=self.parent)
        agent: Any = cast(Callable[[Any], Any], factory)(self.parent)
        if not isinstance(agent, Agent):
            raise TypeError(
                f"agent factory {factory!r} returned {type(agent).__name__}, not an Agent"
            )
        return agent

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[str]:
        """Register every ``group`` entry point; a broken one is logged and skipped."""
        loaded = []
        for ep in entry_points(group=group):
            try:
                self.register(ep.name, ep.load())
                loaded.append(ep.name)
            except Exception:
                log = getattr(self.parent, "log", None)
                if log is not None:
                    log.exception("could not load agent type %r from %s", ep.name, ep.value)
        return loaded


def tool_result_text(result: Any) -> str:
    """A tool's result as the text a model reads."""
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, default=str)
    except (TypeError, ValueError):
        return str(result)
