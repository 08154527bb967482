"""REST endpoints: ``/pygent/api/health`` and ``/pygent/api/schema`` (both authenticated)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..protocol import schema_document

if TYPE_CHECKING:
    from ..app import PygentJupyter

__all__ = ["HealthHandler", "SchemaHandler"]


class _PygentAPIHandler(APIHandler):
    auth_resource = "pygent"

    @property
    def pygent(self) -> PygentJupyter:
        return self.settings["pygent_jupyter"]


class HealthHandler(_PygentAPIHandler):
    """Version, uptime and each service's state.

    ``services.agents.agents`` lists the agent types the requesting user can chat with: the
    global ones and their own (e.g. the variants their evolution runs registered).
    """

    @web.authenticated
    @authorized
    async def get(self) -> None:
        health = self.pygent.hub.health()
        registry = getattr(self.pygent.hub.service("agents"), "agents", None)
        section = health.get("services", {}).get("agents")
        if isinstance(section, dict) and "agents" in section and registry is not None:
            section["agents"] = registry.names(self.pygent.user_key(self.current_user))
        self.finish(json.dumps(health))


class SchemaHandler(_PygentAPIHandler):
    """Every message type's JSON Schema, direction, description and example."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(json.dumps(schema_document()))
