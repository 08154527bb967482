"""The extension app's wiring: discovery, configuration listing, broken services."""

from __future__ import annotations

import json

import pytest

from pygent_jupyter.__main__ import main


def test_config_lists_every_service_setting(capsys):
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    for setting in (
        "c.PygentJupyter.max_message_size",
        "c.MetricsService.interval",
        "c.AgentsService.backend",
        "c.OllamaProvider.host",
        "c.MCPService.config_path",
        "c.MemoryService.use_gpu",
    ):
        assert setting in out


def test_config_needs_its_subcommand(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


class TestBrokenService:
    @pytest.fixture
    def pygent_config(self):
        return {
            "PygentJupyter": {
                "services": [
                    "pygent_jupyter.services.metrics.service:MetricsService",
                    "no_such_module:Nope",
                ]
            }
        }

    async def test_a_service_that_cannot_load_leaves_the_server_up(self, pygent_app, jp_fetch):
        health = json.loads((await jp_fetch("pygent", "api", "health")).body)
        assert health["services"]["metrics"]["state"] == "up"
        assert "no_such_module:Nope" in health["unavailable"]
