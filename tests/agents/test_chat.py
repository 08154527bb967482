"""Chat end to end: a client of /pygent/ws, the real server, the real `ollama` client, and the
Ollama-API test server."""

from __future__ import annotations

import asyncio
import math
import os
import time
from typing import Any

import pytest

from pygent_jupyter.protocol import validate_data
from pygent_jupyter.testing import Reply


@pytest.fixture
def pygent_config(ollama_config):
    return ollama_config


async def chat(
    client,
    content: str,
    *,
    agent: str = "general",
    conversation_id=None,
    msg_id: str = "m1",
    timeout: float = 10.0,
    **extra: Any,
) -> list[dict]:
    """Send a chat_message; return every reply to it up to typing_indicator{active:false}."""
    data: dict[str, Any] = {"message": {"content": content, "agentId": agent, **extra}}
    if conversation_id:
        data["conversation_id"] = conversation_id
    await client.send("chat_message", data, id=msg_id)
    events = []
    while True:
        event = await client.recv(timeout=timeout)
        if event.get("reply_to") != msg_id:
            continue
        events.append(event)
        if event["type"] == "error":
            return events
        if event["type"] == "typing_indicator" and not event["data"]["active"]:
            responses = of(events, "chat_response")
            if responses and not responses[0]["data"]["message"]["metadata"].get("incomplete"):
                return events
            # a failed or cancelled exchange ends with an error after the indicator


def of(events, type_):
    return [e for e in events if e["type"] == type_]


async def test_chat_streams_then_responds_with_metadata(ws_client, ollama_server):
    ollama_server.script(Reply("FAISS searches vectors fast.", logprobs=[-0.05, -0.1, -0.5, -1.0]))
    client = await ws_client()
    events = await chat(client, "Explain FAISS in one line")
    types = [e["type"] for e in events]
    streamed = types.count("chat_stream")  # one per token, unless a backlog was joined
    assert 1 <= streamed <= 4
    assert types == [
        "typing_indicator",
        *["chat_stream"] * streamed,
        "chat_response",
        "ollama_metrics",
        "usage",
        "typing_indicator",
    ]
    assert events[0]["data"]["active"] is True and events[0]["data"]["backend"] == "ollama"
    for event in events:  # every event fits its schema in the protocol catalog
        validate_data(event["type"], event["data"])
    deltas = [e["data"]["delta"] for e in of(events, "chat_stream")]
    assert "".join(deltas) == "FAISS searches vectors fast." and deltas[0] == "FAISS"
    assert [e["data"]["index"] for e in of(events, "chat_stream")] == list(range(streamed))
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)
    response = of(events, "chat_response")[0]["data"]
    message = response["message"]
    assert message["type"] == "agent" and message["agentId"] == "general"
    assert message["content"] == "FAISS searches vectors fast."
    assert {e["data"]["message_id"] for e in of(events, "chat_stream")} == {message["id"]}
    meta = message["metadata"]
    expected = sum(math.exp(lp) for lp in [-0.05, -0.1, -0.5, -1.0]) / 4
    assert meta["confidence"] == pytest.approx(expected, abs=1e-4)
    assert meta["backend"] == "ollama" and meta["model"] == "llama3.2"
    assert meta["completion_tokens"] == 4 and meta["prompt_tokens"] > 0
    assert meta["processing_time"] > 0 and meta["tokens_per_s"] > 0
    assert meta["reasoning_path"] == []
    metrics = of(events, "ollama_metrics")[0]["data"]
    assert metrics["eval_count"] == 4 and metrics["tokens_per_s"] > 0
    assert {
        "eval_duration_ms",
        "load_duration_ms",
        "prompt_eval_count",
        "prompt_eval_duration_ms",
    } <= metrics.keys()
    # the prompt: system prompt of the general agent, then the user's turn
    body = ollama_server.requests[-1][2]
    assert body["messages"][0]["role"] == "system"
    assert body["messages"][-1] == {"role": "user", "content": "Explain FAISS in one line"}


async def test_confidence_follows_the_model_not_a_constant(ws_client, ollama_server):
    client = await ws_client()
    ollama_server.script(Reply("sure thing", logprobs=[-0.01, -0.02]))
    sure = of(await chat(client, "a", msg_id="a"), "chat_response")[0]
    ollama_server.script(Reply("maybe perhaps", logprobs=[-2.0, -3.0]))
    unsure = of(await chat(client, "b", msg_id="b"), "chat_response")[0]
    high = sure["data"]["message"]["metadata"]["confidence"]
    low = unsure["data"]["message"]["metadata"]["confidence"]
    assert 0.95 < high <= 1.0 and 0 < low < 0.2


async def test_history_is_kept_used_and_readable(ws_client, ollama_server):
    client = await ws_client()
    ollama_server.script("Hello Ada.")
    first = await chat(client, "My name is Ada.", msg_id="c1")
    conv = of(first, "chat_response")[0]["data"]["conversation_id"]
    ollama_server.script("Your name is Ada.")
    await chat(client, "What is my name?", conversation_id=conv, msg_id="c2")
    # the last chat request (the monitor polls /api/version and /api/ps meanwhile)
    sent = [r[2] for r in ollama_server.requests if r[1] == "/api/chat"][-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "My name is Ada." and sent[2]["content"] == "Hello Ada."

    history = await client.request("get_history", {"conversation_id": conv})
    assert history["type"] == "chat_history" and history["data"]["has_more"] is False
    messages = history["data"]["messages"]
    assert [(m["role"], m["content"], m["status"]) for m in messages] == [
        ("user", "My name is Ada.", "complete"),
        ("assistant", "Hello Ada.", "complete"),
        ("user", "What is my name?", "complete"),
        ("assistant", "Your name is Ada.", "complete"),
    ]
    assert messages[1]["metadata"]["backend"] == "ollama"
    page = await client.request("get_history", {"conversation_id": conv, "before": 4, "limit": 2})
    assert [m["n"] for m in page["data"]["messages"]] == [2, 3]
    assert page["data"]["has_more"] is True
    listing = await client.request("get_history", {})
    assert [c["id"] for c in listing["data"]["conversations"]] == [conv]
    assert listing["data"]["conversations"][0]["title"] == "My name is Ada."
    with pytest.raises(AssertionError, match="not_found"):
        await client.request("get_history", {"conversation_id": "cv-nope"})


class TestHistoryWindow:
    @pytest.fixture
    def pygent_config(self, ollama_config):
        return {**ollama_config, "AgentsService": {"backend": "ollama", "history_window": 2}}

    async def test_prompt_carries_a_bounded_window(self, ws_client, ollama_server):
        client = await ws_client()
        conv = None
        for i in range(4):
            ollama_server.script(f"answer {i}")
            events = await chat(client, f"question {i}", conversation_id=conv, msg_id=f"w{i}")
            conv = of(events, "chat_response")[0]["data"]["conversation_id"]
        chats = [body for _m, path, body in ollama_server.requests if path == "/api/chat"]
        sent = chats[-1]["messages"]  # (the monitor's polls interleave with the chat's calls)
        assert [m["content"] for m in sent[1:]] == ["question 2", "answer 2", "question 3"]


async def test_cancel_stops_the_stream_and_keeps_the_partial_answer(ws_client, ollama_server):
    ollama_server.token_delay = 0.05
    ollama_server.script(" ".join(f"w{i}" for i in range(200)))
    client = await ws_client()
    await client.send(
        "chat_message", {"message": {"content": "long", "agentId": "general"}}, id="long"
    )
    assert (await client.recv("typing_indicator"))["data"]["active"] is True
    for _ in range(3):
        await client.recv("chat_stream")
    await client.send("cancel", {"request_id": "long"})
    asked = time.perf_counter()
    response = await client.recv("chat_response")
    closed = await client.recv("typing_indicator")
    took = time.perf_counter() - asked
    assert took < 0.2, f"cancel took {took * 1000:.0f} ms"
    assert closed["data"]["active"] is False
    meta = response["data"]["message"]["metadata"]
    assert meta["incomplete"] is True and meta["reason"] == "cancelled"
    partial = response["data"]["message"]["content"]
    assert partial.startswith("w0 w1 w2")
    error = await client.recv("error")
    assert error["data"]["code"] == "cancelled" and error["reply_to"] == "long"
    history = await client.request(
        "get_history", {"conversation_id": response["data"]["conversation_id"]}
    )
    saved = history["data"]["messages"][-1]
    assert saved["status"] == "incomplete" and saved["content"] == partial
    for _ in range(50):  # the HTTP stream to Ollama was closed too
        if ollama_server.disconnects:
            break
        await asyncio.sleep(0.02)
    assert ollama_server.disconnects == 1


async def test_many_conversations_stream_at_once(ws_client, ollama_server):
    ollama_server.token_delay = 0.02
    client = await ws_client()
    for i in range(4):
        ollama_server.script(" ".join([f"a{i}"] * 10))
    for i in range(4):
        await client.send("chat_message", {"message": {"content": f"q{i}"}}, id=f"q{i}")
    started = time.perf_counter()
    done: set[str] = set()
    order = []
    while len(done) < 4:
        event = await client.recv(timeout=10)
        if event["type"] == "chat_stream":
            order.append(event["reply_to"])
        if event["type"] == "chat_response":
            done.add(event["reply_to"])
            assert len(event["data"]["message"]["content"].split()) == 10
    elapsed = time.perf_counter() - started
    assert elapsed < 4 * 10 * 0.02  # they overlapped
    assert len(set(order[:8])) > 1  # interleaved, not one after another


async def test_unknown_agent_is_not_found(ws_client):
    client = await ws_client()
    with pytest.raises(AssertionError, match="no agent type 'poet'"):
        await client.request("chat_message", {"message": {"content": "x", "agentId": "poet"}})


async def test_a_model_named_in_the_message_is_used(ws_client, ollama_server):
    client = await ws_client()
    await chat(client, "hi", model="all-minilm")
    assert ollama_server.requests[-1][2]["model"] == "all-minilm"


async def test_list_models_answers_with_the_model_list(ws_client, ollama_server):
    client = await ws_client()
    reply = await client.request("ollama_list_models", {})
    assert reply["type"] == "ollama_model_update"
    assert reply["data"]["backend"] == "ollama" and reply["data"]["host"] == ollama_server.host
    assert [m["name"] for m in reply["data"]["models"]] == ["llama3.2:latest", "all-minilm:latest"]


async def test_status_on_connect_and_on_change(ws_client, ollama_server):
    client = await ws_client(greet=False)
    await client.recv("connection_status")
    status = await client.recv("ollama_status")
    validate_data("ollama_status", status["data"])
    assert status["data"]["reachable"] is True
    assert status["data"]["host"] == ollama_server.host
    assert status["data"]["version"] == ollama_server.version
    assert status["data"]["backend"] == "ollama"
    ollama_server.models.append("qwen2.5:0.5b")
    update = await client.recv("ollama_model_update", timeout=3)
    validate_data("ollama_model_update", update["data"])
    assert "qwen2.5:0.5b" in [m["name"] for m in update["data"]["models"]]
    await ollama_server.stop()
    down = await client.recv("ollama_status", timeout=3)
    assert down["data"]["reachable"] is False and down["data"]["version"] is None
    error = await client.recv("ollama_error", timeout=3)
    assert error["data"]["code"] == "unreachable"
    await ollama_server.restart()
    up = await client.recv("ollama_status", timeout=3)
    assert up["data"]["reachable"] is True


@pytest.mark.parametrize(
    ("fault", "ollama_code", "error_code", "partial"),
    [
        ("http_500", "server_error", "unavailable", ""),
        ("truncate", "stream_broken", "unavailable", "one two"),
        ("garbage", "bad_response", "unavailable", "one two"),
        ("error_line", "server_error", "unavailable", "one two three"),
    ],
)
async def test_ollama_failures_reach_the_client_and_keep_partial_text(
    ws_client, ollama_server, fault, ollama_code, error_code, partial
):
    ollama_server.fail_next(fault, after=len(partial.split()))
    client = await ws_client()
    events = await chat(client, "hi")
    failure = of(events, "ollama_error")[0]["data"]
    assert failure["code"] == ollama_code and failure["host"] == ollama_server.host
    assert of(events, "error")[0]["data"]["code"] == error_code
    assert of(events, "typing_indicator")[-1]["data"]["active"] is False
    responses = of(events, "chat_response")
    if partial:
        assert responses[0]["data"]["message"]["content"] == partial
        assert responses[0]["data"]["message"]["metadata"]["incomplete"] is True
    else:
        assert responses == []
    conv = events[0]["data"]["conversation_id"]
    history = await client.request("get_history", {"conversation_id": conv})
    user_turn, answer = history["data"]["messages"]
    assert user_turn["content"] == "hi" and answer["status"] == "incomplete"
    assert answer["content"] == partial


async def test_unknown_model_error_names_the_pull_command(ws_client):
    client = await ws_client()
    events = await chat(client, "hi", model="mistral:7b")
    error = of(events, "error")[0]["data"]
    assert error["code"] == "not_found" and "ollama pull mistral:7b" in error["message"]
    assert of(events, "ollama_error")[0]["data"]["code"] == "model_not_found"


async def test_unreachable_ollama_is_reported_within_a_second(ws_client, ollama_server):
    client = await ws_client()
    await ollama_server.stop()
    started = time.perf_counter()
    events = await chat(client, "hi")
    assert time.perf_counter() - started < 1.0
    failure = of(events, "ollama_error")[0]["data"]
    assert failure == {
        "code": "unreachable",
        "host": ollama_server.host,
        "model": "llama3.2",
        "message": f"Ollama is not reachable at {ollama_server.host}",
    }
    assert of(events, "error")[0]["data"]["code"] == "unavailable"


class TestSlowOllama:
    @pytest.fixture
    def pygent_config(self, ollama_config):
        return {
            **ollama_config,
            "OllamaProvider": {**ollama_config["OllamaProvider"], "read_timeout": 0.5},
        }

    async def test_slow_first_token_is_a_timeout_and_slow_tokens_still_stream(
        self, ws_client, ollama_server
    ):
        client = await ws_client()
        ollama_server.fail_next("hang", after=2)
        events = await chat(client, "hi", msg_id="h1")
        assert of(events, "error")[0]["data"]["code"] == "timeout"
        assert of(events, "chat_response")[0]["data"]["message"]["content"] == "one two"
        ollama_server.token_delay = 0.2  # slow but alive: under the read timeout
        ollama_server.script("slow but steady")
        events = await chat(client, "hi", msg_id="h2")
        assert of(events, "chat_response")[0]["data"]["message"]["content"] == "slow but steady"


async def test_the_host_is_exported_for_kernels(pygent_app, ollama_server):
    # kernels started by this server inherit the environment: they reach the same Ollama
    assert os.environ["OLLAMA_HOST"] == ollama_server.host
