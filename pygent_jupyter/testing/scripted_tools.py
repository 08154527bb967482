"""A scripted model that calls tools: drives the agents' tool loop without a real model.

Each call to the model takes the next :class:`Step` of the script: text, tool calls, or a
function of the messages so far (so a test can answer from what the tools returned). Every
call's messages and offered tools are recorded in ``calls``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..llm import ChatMessage, Completion, Options
from .scripted import ScriptedLLMBase

__all__ = ["ScriptedToolModel", "Step", "tool_call"]


def tool_call(name: str, **arguments: Any) -> dict[str, Any]:
    """One tool call as Ollama returns it."""
    return {"function": {"name": name, "arguments": arguments}}


@dataclass
class Step:
    """One model answer: ``text`` and/or ``tool_calls``."""

    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


class ScriptedToolModel(ScriptedLLMBase):
    """Answers each call with the next step (``Step`` or ``fn(messages) -> Step``); when the
    script is used up it answers ``"(script ended)"``."""

    name = "scripted"

    def __init__(self, *steps: Step | Callable[[list[ChatMessage]], Step], latency: float = 0.0):
        super().__init__(latency=latency)
        self.steps = list(steps)
        self.calls: list[dict[str, Any]] = []

    def script(self, *steps: Step | Callable[[list[ChatMessage]], Step]) -> None:
        self.steps.extend(steps)

    def tool_messages(self) -> list[str]:
        """The tool results the model was shown, in order (from the last call)."""
        if not self.calls:
            return []
        return [m.get("content", "") for m in self.calls[-1]["messages"] if m["role"] == "tool"]

    async def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Completion:
        async with self.call():
            msgs = [dict(m) for m in messages]
            self.calls.append({"messages": msgs, "tools": list(tools or [])})
            step = self.steps.pop(0) if self.steps else Step("(script ended)")
            if callable(step):
                step = step(msgs)  # type: ignore[arg-type]
            return Completion(
                text=step.text,
                model=model or self.default_model,
                backend=self.name,
                prompt_tokens=sum(len(str(m.get("content", ""))) for m in msgs) // 4,
                completion_tokens=max(1, len(step.text) // 4),
                done_reason="stop",
                tool_calls=list(step.tool_calls) if tools else [],
            )
