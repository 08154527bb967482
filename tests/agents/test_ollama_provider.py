"""OllamaProvider over real HTTP against the Ollama-API test server (the real `ollama` client)."""

from __future__ import annotations

import asyncio
import math
import os
import time

import pytest

from pygent_jupyter.llm import LLMProvider, OllamaError, OllamaProvider
from pygent_jupyter.llm.ollama import _chat_part, export_host, normalize_host
from pygent_jupyter.testing import OllamaTestServer, Reply

MSGS = [{"role": "user", "content": "hi"}]


@pytest.fixture
def provider(ollama_server, jp_asyncio_loop):
    provider = OllamaProvider(host=ollama_server.host, model="llama3.2")
    yield provider
    jp_asyncio_loop.run_until_complete(provider.aclose())


async def collect(provider, **kwargs):
    parts, final = [], None
    async for chunk in provider.chat_stream(MSGS, **kwargs):
        if chunk.done:
            final = chunk.completion
        else:
            parts.append(chunk.delta)
    return parts, final


def test_host_follows_ollama_convention(monkeypatch):
    assert normalize_host(None) == "http://127.0.0.1:11434"
    assert normalize_host("10.0.0.5") == "http://10.0.0.5:11434"
    assert normalize_host(":8080") == "http://127.0.0.1:8080"
    assert normalize_host("0.0.0.0:11434") == "http://127.0.0.1:11434"
    assert normalize_host("https://ollama.example:8443/base/") == "https://ollama.example:8443/base"
    assert normalize_host("http://example") == "http://example:80"
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9999")
    assert OllamaProvider().host == "http://127.0.0.1:9999"
    assert OllamaProvider(host="localhost:1234").host == "http://localhost:1234"
    export_host("http://127.0.0.1:4321")
    assert os.environ["OLLAMA_HOST"] == "http://127.0.0.1:4321"


async def test_is_an_llm_provider(provider):
    assert isinstance(provider, LLMProvider)


async def test_stream_carries_tokens_logprobs_and_counters(provider, ollama_server):
    ollama_server.script(Reply("Paris is the capital", logprobs=[-0.1, -0.2, -0.3, -0.4]))
    parts, final = await collect(provider)
    assert parts == ["Paris", " is", " the", " capital"]
    assert final.text == "Paris is the capital"
    assert final.backend == "ollama" and final.model == "llama3.2"
    assert final.completion_tokens == 4 and final.prompt_tokens > 0
    assert final.token_logprobs == pytest.approx([-0.1, -0.2, -0.3, -0.4])
    assert final.done_reason == "stop"
    body = ollama_server.requests[-1][2]
    assert body["stream"] is True and body["logprobs"] is True


async def test_non_streamed_chat_generate_and_embed(provider, ollama_server):
    ollama_server.script("The answer is 42")
    completion = await provider.chat(MSGS, options={"temperature": 0, "seed": 1})
    assert completion.text == "The answer is 42"
    assert ollama_server.requests[-1][2]["stream"] is False
    assert ollama_server.requests[-1][2]["options"] == {"temperature": 0, "seed": 1}
    ollama_server.script("continued text")
    generated = await provider.generate("Once upon a time")
    assert generated.text == "continued text"
    vectors = await provider.embed(["a", "b", "a"])
    assert len(vectors) == 3 and vectors[0] == vectors[2] != vectors[1]
    assert math.isclose(sum(v * v for v in vectors[0]), 1.0, rel_tol=1e-6)


async def test_models_status_and_running(provider, ollama_server):
    names = [m["name"] for m in await provider.list_models()]
    assert names == ["llama3.2:latest", "all-minilm:latest"]
    status = await provider.status()
    assert status["reachable"] and status["version"] == ollama_server.version
    assert status["running_models"] == []
    await provider.chat(MSGS)
    status = await provider.status()
    assert [m["name"] for m in status["running_models"]] == ["llama3.2:latest"]


async def test_unreachable_is_reported_within_a_second(ollama_server):
    await ollama_server.stop()
    provider = OllamaProvider(host=ollama_server.host)
    started = time.perf_counter()
    with pytest.raises(OllamaError) as info:
        await collect(provider)
    assert time.perf_counter() - started < 1.0
    assert info.value.ollama_code == "unreachable"
    assert info.value.event_data()["host"] == ollama_server.host
    status = await provider.status()
    assert status == {
        "reachable": False,
        "host": ollama_server.host,
        "version": None,
        "running_models": [],
        "error": "unreachable",
    }
    await provider.aclose()


async def test_unknown_model_names_the_pull_command(provider):
    with pytest.raises(OllamaError) as info:
        await collect(provider, model="mistral:7b")
    assert info.value.ollama_code == "model_not_found"
    assert info.value.code.value == "not_found"
    assert "mistral:7b" in info.value.message
    assert "ollama pull mistral:7b" in info.value.message


@pytest.mark.parametrize(
    ("fault", "code", "kept"),
    [
        ("http_500", "server_error", []),
        ("truncate", "stream_broken", ["one", " two"]),
        ("garbage", "bad_response", ["one", " two"]),
        ("error_line", "server_error", ["one", " two"]),
        ("no_done", "stream_broken", ["one", " two", " three", " four", " five"]),
    ],
)
async def test_faults_map_to_errors_and_keep_partial_text(
    provider, ollama_server, fault, code, kept
):
    ollama_server.fail_next(fault, after=2)
    parts: list[str] = []
    with pytest.raises(OllamaError) as info:
        async for chunk in provider.chat_stream(MSGS):
            parts.append(chunk.delta)
    assert info.value.ollama_code == code
    assert parts == kept


@pytest.mark.parametrize(
    "line",
    [
        "[1, 2]",
        '{"message": "hello"}',
        '{"message": {"content": 5}}',
        '{"message": {"content": "a", "tool_calls": ["x"]}}',
        '{"message": {"content": "a"}, "logprobs": [0.5]}',
    ],
)
def test_a_line_that_is_not_a_chat_part_is_a_bad_response(line):
    provider = OllamaProvider(host="http://127.0.0.1:1")
    with pytest.raises(ValueError) as info:
        _chat_part(line)
    assert provider.backend_error(info.value).ollama_code == "bad_response"


def test_a_chat_part_is_decoded_without_the_client_models():
    line = '{"message": {"role": "assistant", "content": "hi"}, "done": false}'
    assert _chat_part(line)["message"]["content"] == "hi"


async def test_slow_server_times_out(ollama_server):
    provider = OllamaProvider(host=ollama_server.host, read_timeout=0.3)
    ollama_server.fail_next("hang", after=1)
    started = time.perf_counter()
    with pytest.raises(OllamaError) as info:
        await collect(provider)
    assert info.value.ollama_code == "timeout"
    assert time.perf_counter() - started < 2
    await provider.aclose()


async def test_tool_calls_are_returned(provider, ollama_server):
    call = {"function": {"name": "get_time", "arguments": {"tz": "UTC"}}}
    ollama_server.script(Reply("", tool_calls=[call]))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_time",
                "description": "now",
                "parameters": {"type": "object"},
            },
        }
    ]
    _, final = await collect(provider, tools=tools)
    assert final.tool_calls == [call]
    assert ollama_server.requests[-1][2]["tools"][0]["function"]["name"] == "get_time"


async def test_stream_stops_when_the_consumer_goes_away(provider, ollama_server):
    ollama_server.token_delay = 0.05
    ollama_server.script(" ".join(["word"] * 100))

    async def consume():
        async for _chunk in provider.chat_stream(MSGS):
            pass

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(250):  # the server notices at its next token write; give a loaded CI time
        if ollama_server.disconnects:
            break
        await asyncio.sleep(0.02)
    assert ollama_server.disconnects == 1


async def test_test_server_in_a_thread_serves_another_loop():
    server = OllamaTestServer(token_delay=0.001).start_in_thread()
    try:
        provider = OllamaProvider(host=server.host, model="llama3.2")
        server.script("from a thread")
        assert (await provider.chat(MSGS)).text == "from a thread"
        await provider.aclose()
    finally:
        server.stop_thread()
