"""The `openai` provider through the real `openai` client against the OpenAI-API test server:
streaming with usage, sampling parameters, tool calls, embeddings, models, health, and every
fault mapped to its stable code."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from pygent_jupyter.llm import BackendError, LLMProvider
from pygent_jupyter.llm.backends import BackendSpec, parse_backends
from pygent_jupyter.llm.openai_compat import (
    OpenAIProvider,
    _events,
    _StreamError,
    to_openai_messages,
)
from pygent_jupyter.protocol import ErrorCode, PygentError
from pygent_jupyter.testing import OpenAITestServer, Reply

SECRET = "sk-test-0123456789abcdef-secret"


@pytest.fixture
def server(jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[OpenAITestServer]:
    srv = OpenAITestServer(models=["test-chat", "test-embed"], api_key=SECRET)
    jp_asyncio_loop.run_until_complete(srv.start())
    yield srv
    jp_asyncio_loop.run_until_complete(srv.stop())


_made: list[OpenAIProvider] = []


@pytest.fixture(autouse=True)
def _close_providers(jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Close every provider's HTTP client on the test's loop (no stray connections)."""
    yield
    while _made:
        jp_asyncio_loop.run_until_complete(_made.pop().aclose())


def make(server: OpenAITestServer, key: str | None = SECRET, **spec: object) -> OpenAIProvider:
    entry = {
        "name": "gpu",
        "kind": "openai",
        "base_url": server.base_url,
        "default_model": "test-chat",
        "embed_model": "test-embed",
        "max_retries": 0,
        **spec,
    }
    provider = OpenAIProvider(parse_backends([entry])[0], key, probe_timeout=1.0)
    _made.append(provider)
    return provider


async def collect(provider: OpenAIProvider, **kwargs: object) -> tuple[list[str], object]:
    deltas: list[str] = []
    final = None
    async for chunk in provider.chat_stream([{"role": "user", "content": "hi"}], **kwargs):  # type: ignore[arg-type]
        if chunk.done:
            final = chunk.completion
        else:
            deltas.append(chunk.delta)
    return deltas, final


async def test_streams_tokens_with_usage_and_timing(server: OpenAITestServer) -> None:
    provider = make(server)
    assert isinstance(provider, LLMProvider)
    server.script(Reply("Hello there, researcher"))
    deltas, final = await collect(provider)
    assert deltas == ["Hello", " there,", " researcher"]
    assert final.text == "Hello there, researcher" and final.backend == "gpu"
    assert final.model == "test-chat" and final.done_reason == "stop"
    assert final.completion_tokens == 3 and final.prompt_tokens > 0  # from the usage chunk
    assert final.total_duration_s > 0
    body = server.requests[-1][2]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    await provider.aclose()


async def test_sampling_options_map_to_the_openai_parameters(server: OpenAITestServer) -> None:
    provider = make(server, top_k=True)
    await collect(
        provider,
        options={
            "temperature": 0.0,
            "top_p": 0.5,
            "top_k": 7,
            "seed": 42,
            "num_predict": 2,
            "stop": ["\n"],
        },
    )
    body = server.requests[-1][2]
    assert body["temperature"] == 0.0 and body["top_p"] == 0.5 and body["seed"] == 42
    assert body["max_tokens"] == 2 and body["stop"] == ["\n"] and body["top_k"] == 7
    plain = make(server)  # top_k is not sent to servers that reject it (OpenAI)
    await collect(plain, options={"top_k": 7})
    assert "top_k" not in server.requests[-1][2]
    # a seeded greedy answer repeats
    server.responder = lambda body: Reply(f"seed {body.get('seed')}")
    first = (await plain.chat([{"role": "user", "content": "x"}], options={"seed": 3})).text
    again = (await plain.chat([{"role": "user", "content": "x"}], options={"seed": 3})).text
    assert first == again == "seed 3"


async def test_tool_calls_are_assembled_and_round_trip(server: OpenAITestServer) -> None:
    provider = make(server)
    call = {"function": {"name": "add", "arguments": {"a": 2, "b": 40}}}
    server.script(Reply(tool_calls=[call]), Reply("42"))
    tools = [{"type": "function", "function": {"name": "add", "description": "a+b"}}]
    _, final = await collect(provider, tools=tools)
    assert final.done_reason == "tool_calls"
    [got] = final.tool_calls
    assert got["function"] == {"name": "add", "arguments": {"a": 2, "b": 40}} and got["id"]
    sent = server.requests[-1][2]
    assert sent["tools"][0]["function"]["parameters"] == {"type": "object", "properties": {}}
    messages = to_openai_messages(
        [
            {"role": "user", "content": "2+40?"},
            {"role": "assistant", "content": "", "tool_calls": final.tool_calls},
            {"role": "tool", "tool_name": "add", "content": "42"},
        ]
    )
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == '{"a": 2, "b": 40}'
    assert messages[2] == {"role": "tool", "tool_call_id": got["id"], "content": "42"}
    # a backend configured without tools never offers them
    no_tools = make(server, tools=False)
    await collect(no_tools, tools=tools)
    assert "tools" not in server.requests[-1][2]


async def test_logprobs_give_per_token_values_when_asked(server: OpenAITestServer) -> None:
    provider = make(server, logprobs=True)
    server.script(Reply("a b", logprobs=[-0.5, -0.25]))
    _, final = await collect(provider)
    assert final.token_logprobs == [-0.5, -0.25]


async def test_embeddings_models_and_health(server: OpenAITestServer) -> None:
    provider = make(server)
    vectors = await provider.embed(["one", "two", "one"])
    assert len(vectors) == 3 and len(vectors[0]) == server.embedding_dim
    assert vectors[0] == vectors[2] != vectors[1]
    models = await provider.list_models()
    assert [m["name"] for m in models] == ["test-chat", "test-embed"]
    assert all(m["backend"] == "gpu" and m["tools"] is True for m in models)
    health = await provider.health()
    assert health["state"] == "up" and health["base_url"] == server.base_url
    assert SECRET not in repr(health) and SECRET not in repr(provider)


async def test_wrong_credential_is_auth_failed(server: OpenAITestServer) -> None:
    provider = make(server, key="sk-wrong")
    with pytest.raises(BackendError) as info:
        await collect(provider)
    assert info.value.backend_code == "auth_failed"
    assert "sk-wrong" not in info.value.message and SECRET not in str(info.value.to_data())
    health = await provider.health()
    assert health["state"] == "down" and health["error"] == "auth_failed"


@pytest.mark.parametrize(
    ("fault", "code", "protocol"),
    [
        ("auth", "auth_failed", ErrorCode.UNAVAILABLE),
        ("http_500", "server_error", ErrorCode.UNAVAILABLE),
        ("not_found", "model_not_found", ErrorCode.NOT_FOUND),
        ("rate_limit", "rate_limited", ErrorCode.RATE_LIMITED),
        ("truncate", "stream_broken", ErrorCode.UNAVAILABLE),
        ("garbage", "bad_response", ErrorCode.UNAVAILABLE),
        ("error_event", "server_error", ErrorCode.UNAVAILABLE),
        ("no_done", "stream_broken", ErrorCode.UNAVAILABLE),
    ],
)
async def test_each_fault_maps_to_a_stable_code(
    server: OpenAITestServer, fault: str, code: str, protocol: ErrorCode
) -> None:
    provider = make(server)
    server.fail_next(fault, after=2)
    deltas: list[str] = []
    with pytest.raises(BackendError) as info:
        async for chunk in provider.chat_stream([{"role": "user", "content": "hi"}]):
            deltas.append(chunk.delta)
    assert info.value.backend_code == code and info.value.code == protocol
    assert info.value.to_data()["details"]["backend"] == "gpu"  # type: ignore[index]
    if fault in ("truncate", "garbage", "error_event"):
        assert deltas == ["one", " two"]  # what streamed before the fault reached the caller


async def test_server_sent_events_are_decoded_as_the_api_sends_them() -> None:
    async def lines(*items: str) -> AsyncIterator[str]:
        for item in items:
            yield item

    body = (": keep-alive", "", 'data: {"a":', "data: 1}", "", "event: x", "data: [DONE]", "")
    after = ('data: {"late": true}', "")  # read (the connection is reused), not yielded
    assert [e async for e in _events(lines(*body, *after))] == [{"a": 1}]
    with pytest.raises(_StreamError, match="boom"):
        _ = [e async for e in _events(lines('data: {"error": {"message": "boom"}}', ""))]
    with pytest.raises(ValueError):
        _ = [e async for e in _events(lines("data: [1, 2]", ""))]


async def test_rate_limit_honours_retry_after_then_succeeds(server: OpenAITestServer) -> None:
    server.retry_after = 0.4
    provider = make(server, max_retries=1)
    server.fail_next("rate_limit")
    server.script(Reply("after the wait"))
    started = time.perf_counter()
    _, final = await collect(provider)
    assert final.text == "after the wait"
    assert time.perf_counter() - started >= 0.4
    # out of retries: rate_limited with the server's retry_after
    server.fail_next("rate_limit")
    server.fail_next("rate_limit")
    with pytest.raises(BackendError) as info:
        await collect(provider)
    assert info.value.backend_code == "rate_limited" and info.value.retry_after == 0.4
    # a Retry-After longer than max_retry_wait is not waited for
    slow = make(server, max_retries=3, max_retry_wait=0.1)
    server.fail_next("rate_limit")
    started = time.perf_counter()
    with pytest.raises(BackendError):
        await collect(slow)
    assert time.perf_counter() - started < 0.3


async def test_a_hanging_server_times_out(server: OpenAITestServer) -> None:
    provider = make(server, timeout=0.3)
    server.fail_next("hang", after=1)
    with pytest.raises(BackendError) as info:
        await collect(provider)
    assert info.value.backend_code == "timeout" and info.value.code == ErrorCode.TIMEOUT


async def test_a_server_that_is_down_is_unreachable(server: OpenAITestServer) -> None:
    provider = make(server)
    await server.stop()
    with pytest.raises(BackendError) as info:
        await collect(provider)
    assert info.value.backend_code == "unreachable" and provider.reachable is False
    assert (await provider.health())["state"] == "down"


async def test_closing_the_stream_early_releases_the_request(server: OpenAITestServer) -> None:
    server.token_delay = 0.02
    provider = make(server)
    server.script(" ".join(["tok"] * 200))
    stream = provider.chat_stream([{"role": "user", "content": "long"}])
    async for _chunk in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    for _ in range(100):
        if server.disconnects or server.in_flight == 0:
            break
        await asyncio.sleep(0.02)
    assert server.in_flight == 0


def test_backend_config_is_validated_and_never_holds_a_secret() -> None:
    with pytest.raises(ValueError, match="credential"):
        parse_backends([{"name": "x", "kind": "openai", "base_url": "http://h/v1", "api_key": "k"}])
    with pytest.raises(ValueError, match="base_url"):
        parse_backends([{"name": "x", "kind": "openai"}])
    with pytest.raises(ValueError, match="kind"):
        parse_backends([{"name": "x", "kind": "vllm", "base_url": "http://h/v1"}])
    with pytest.raises(ValueError, match="twice"):
        parse_backends([{"name": "a", "kind": "local"}, {"name": "a", "kind": "local"}])
    with pytest.raises(ValueError, match="headers"):
        parse_backends(
            [
                {
                    "name": "x",
                    "base_url": "http://h/v1",
                    "headers": {"Authorization": "Bearer k"},
                }
            ]
        )
    [spec] = parse_backends(
        [{"name": "x", "base_url": "http://user:pw@h:8000/v1/?q=1", "api_key_env": "K"}]
    )
    assert spec.public()["base_url"] == "http://h:8000/v1"
    assert "api_key_env" not in spec.public()


def test_credentials_come_from_env_or_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pygent_jupyter.llm.backends import read_credential

    env = BackendSpec("a", "openai", "http://h/v1", api_key_env="MY_KEY")
    assert read_credential(env, {"MY_KEY": " k1 \n"}) == "k1"
    with pytest.raises(ValueError, match="MY_KEY is not set") as info:
        read_credential(env, {})
    key_file = tmp_path / "key"
    key_file.write_text("k2\n")
    assert read_credential(BackendSpec("b", "openai", api_key_file=str(key_file))) == "k2"
    with pytest.raises(ValueError) as info:
        read_credential(BackendSpec("c", "openai", api_key_file=str(tmp_path / "missing")))
    assert "k2" not in str(info.value)
    assert read_credential(BackendSpec("d", "openai")) is None


async def test_the_embeddings_endpoint_is_a_memory_embedder(server: OpenAITestServer) -> None:
    from pygent_jupyter.services.memory.embedders import OpenAIEmbedder

    embedder = OpenAIEmbedder(make(server), "test-embed")
    assert embedder.name == "openai:gpu/test-embed" and embedder.dim is None
    vectors = await embedder.embed(["alpha", "beta"])
    assert vectors.shape == (2, server.embedding_dim) and embedder.dim == server.embedding_dim
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-5  # unit rows
    server.embedding_dim = 8  # the server now answers in another space: refused
    with pytest.raises(PygentError) as info:
        await embedder.embed(["gamma"])
    assert info.value.code == ErrorCode.CONFLICT
    missing = OpenAIEmbedder(make(server), "no-such-model")
    with pytest.raises(PygentError) as info:
        await missing.embed(["x"])
    assert info.value.code == ErrorCode.UNAVAILABLE and "no-such-model" in info.value.message
    assert await missing.probe() is False


async def test_connect_builds_a_provider_for_notebooks(
    server: OpenAITestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pygent_jupyter.services.reasoning.api import asolve

    monkeypatch.setenv("NB_KEY", SECRET)
    llm = OpenAIProvider.connect(server.base_url, model="test-chat", api_key_env="NB_KEY")
    _made.append(llm)
    server.responder = lambda body: Reply("Answer: 42")
    tree = await asolve("open", "What is 6 x 7?", provider=llm, max_depth=1)
    assert tree.stats.llm_calls > 0
    assert {b["model"] for _m, p, b in server.requests if p == "/v1/chat/completions"} == {
        "test-chat"
    }
