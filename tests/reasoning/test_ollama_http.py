"""The engine over real HTTP: the project's OllamaProvider (and the ollama client) against the
Ollama-API test server, answering with the Game of 24 oracle after a fixed latency."""

from __future__ import annotations

from collections import Counter

import pytest

from pygent_jupyter.llm.ollama import OllamaProvider
from pygent_jupyter.services.reasoning import Game24Task, ToTEngine, ToTParams
from pygent_jupyter.testing.ollama_server import OllamaTestServer

from .scripted import game24_oracle


@pytest.fixture
def ollama_server():
    oracle = game24_oracle()
    server = OllamaTestServer(latency=0.02).start_in_thread()
    server.responder = lambda body: oracle(body["prompt"], body.get("options", {}))
    yield server
    server.stop_thread()


async def search(server: OllamaTestServer, concurrency: int):
    server.requests.clear()
    provider = OllamaProvider(host=server.host, model="llama3.2:latest")
    params = ToTParams(concurrency=concurrency, seed=5)
    tree = await ToTEngine(provider, Game24Task(), "1 1 4 6", params).run()
    bodies = [body for _m, path, body in server.requests if path == "/api/generate"]
    return tree, bodies


async def test_concurrent_and_sequential_runs_match_over_http(ollama_server):
    seq, seq_bodies = await search(ollama_server, 1)
    conc, conc_bodies = await search(ollama_server, 16)
    assert seq.solved is True and conc.solved is True
    assert len(seq_bodies) == seq.stats.llm_calls == conc.stats.llm_calls
    key = lambda b: (b["prompt"], b["options"]["seed"])  # noqa: E731
    assert Counter(map(key, seq_bodies)) == Counter(map(key, conc_bodies))
    a, b = seq.to_dict(), conc.to_dict()
    for d in (a, b):
        d["stats"].pop("wall_time")
        d["params"].pop("concurrency")
    assert a == b
    assert conc.stats.wall_time * 2 < seq.stats.wall_time
    body = seq_bodies[0]
    assert body["options"]["temperature"] == 0.7 and body["options"]["num_predict"] > 0
    assert body["model"] == "llama3.2:latest"


async def test_unknown_model_ends_the_run_with_a_clear_error(ollama_server):
    provider = OllamaProvider(host=ollama_server.host)
    tree = await ToTEngine(
        provider, Game24Task(), "1 1 4 6", ToTParams(model="no-such-model")
    ).run()
    assert tree.stats.stop_reason == "error"
    assert "no-such-model" in (tree.error or "")
    assert tree.stats.llm_calls == 1
