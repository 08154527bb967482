"""``/pygent/api/health`` lists the agent types the requesting user can chat with."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pygent_jupyter.services.agents.factory import GeneralAgent


@pytest.fixture
def pygent_config(ollama_config: dict[str, Any]) -> dict[str, Any]:
    return {
        **ollama_config,
        "PygentJupyter": {"services": ["pygent_jupyter.services.agents.service:AgentsService"]},
    }


async def test_health_lists_the_users_own_evolved_agents(pygent_app: Any, jp_fetch: Any) -> None:
    agents = pygent_app.hub.service("agents")
    me = pygent_app.user_key("whoever")  # the token user: the server's owner here
    agents.register_agent_type("evolved-mine", GeneralAgent, user=me)
    agents.register_agent_type("evolved-theirs", GeneralAgent, user="someone-else")
    health = json.loads((await jp_fetch("pygent", "api", "health")).body)
    names = health["services"]["agents"]["agents"]
    assert {"general", "coding", "reasoning", "evolved-mine"} <= set(names)
    assert "evolved-theirs" not in names
