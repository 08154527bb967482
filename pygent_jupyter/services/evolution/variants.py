"""Evolved agent variants as agent types usable in chat (via the agents service's registry)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from traitlets import List, Tuple, Unicode

from ...llm import ChatMessage
from ..agents.factory import Agent, AgentTurn, LLMAgent
from .genomes import AgentGenome

__all__ = ["EvolvedAgent", "variant_factory"]


class EvolvedAgent(LLMAgent):
    """An :class:`LLMAgent` with the few-shot examples an evolution run selected."""

    few_shot = List(
        Tuple(Unicode(), Unicode()), help="(user, assistant) example turns after the system prompt."
    )
    run_id = Unicode("", help="The evolution run that produced this variant.")

    def build_messages(self, turn: AgentTurn) -> list[ChatMessage]:
        messages: list[ChatMessage] = [{"role": "system", "content": self.system_message(turn)}]
        for question, answer in self.few_shot:
            messages.append({"role": "user", "content": question})
            messages.append({"role": "assistant", "content": answer})
        messages.extend(turn.history)
        messages.append({"role": "user", "content": turn.content})
        return messages

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "run_id": self.run_id, "model": self.model}


def variant_factory(
    genome: AgentGenome,
    few_shot_pool: Sequence[tuple[str, str]],
    *,
    run_id: str,
    fitness: float | None,
) -> Callable[[Any], Agent]:
    """A registry factory building the agent for ``genome``."""
    shots = [tuple(few_shot_pool[i]) for i in genome.few_shot if 0 <= i < len(few_shot_pool)]
    score = "?" if fitness is None else f"{fitness:.3f}"

    def factory(parent: Any) -> Agent:
        return EvolvedAgent(
            parent=parent,
            system_prompt=genome.system_prompt,
            model=genome.model,
            temperature=genome.temperature,
            top_p=genome.top_p,
            few_shot=shots,
            run_id=run_id,
            description=f"Evolved by {run_id} (fitness {score})",
        )

    return factory
