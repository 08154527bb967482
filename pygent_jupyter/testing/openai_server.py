"""An OpenAI-API test server: Tornado on 127.0.0.1, a random port, scripted answers, faults.

It speaks the part of the OpenAI REST API that vLLM, llama.cpp's server and LM Studio serve,
so the real ``openai`` client can be tested over real HTTP:

=============================  ================================================================
``GET /v1/models``             ``{"object": "list", "data": [{id, object, created, owned_by}]}``
``POST /v1/chat/completions``  one ``chat.completion`` object, or with ``"stream": true`` SSE
                               ``data: {chat.completion.chunk}`` lines (role, content deltas,
                               tool-call fragments, a ``finish_reason``), a usage chunk when
                               ``stream_options.include_usage``, then ``data: [DONE]``.
                               ``"logprobs": true`` adds ``logprobs.content``.
``POST /v1/embeddings``        ``{"data": [{index, embedding}], usage}`` (deterministic unit
                               vectors of ``embedding_dim``)
errors                         ``{"error": {message, type, code}}`` with 400, 401 (a wrong or
                               missing bearer key when ``api_key`` is set), 404 (unknown
                               model), 429 (with ``Retry-After``), 500
=============================  ================================================================

Use::

    server = OpenAITestServer(models=["qwen2.5-7b"], api_key="sk-test", token_delay=0.01)
    await server.start()                   # or server.start_in_thread()
    server.script(Reply("Hello there!"))   # the next answer (FIFO), as for OllamaTestServer
    server.fail_next("rate_limit")         # 429 with Retry-After: server.retry_after
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test")

Faults (``Reply.fault``): ``rate_limit`` (429 + ``Retry-After``), ``auth`` (401), ``http_500``,
``not_found`` (404), ``truncate`` (the connection is cut after ``fault_after`` tokens),
``garbage`` (a non-JSON event), ``error_event`` (an ``{"error": …}`` event, as vLLM sends
when generation fails mid-stream), ``hang`` (stop sending, keep the connection), ``no_done`` (end
the stream without a finish reason or ``[DONE]``). ``slots`` bounds how many answers are
generated at once (a server's batch width): more requests wait for a slot, as on vLLM with
``--max-num-seqs``. ``latency``, ``first_token_delay`` and ``token_delay`` add time.
``requests`` records ``(method, path, body)``; ``max_in_flight`` the most answers generated at
once; ``token_times`` when each streamed token was written.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

import tornado.iostream
import tornado.web

from .model_server import JSONHandler, Reply, ScriptedModelServer, embedding, split_tokens

__all__ = ["OpenAITestServer", "Reply"]

FAULTS = (
    "rate_limit",
    "auth",
    "http_500",
    "not_found",
    "truncate",
    "garbage",
    "error_event",
    "hang",
    "no_done",
)


class OpenAITestServer(ScriptedModelServer):
    """See the module docstring."""

    FAULTS = FAULTS
    thread_name = "openai-test-server"

    def __init__(
        self,
        *,
        models: Iterable[str] = ("test-chat", "test-embed"),
        api_key: str | None = None,
        token_delay: float = 0.0,
        first_token_delay: float = 0.0,
        latency: float = 0.0,
        slots: int = 0,
        retry_after: float = 1.0,
        default_logprob: float = -0.1,
        embedding_dim: int = 16,
    ) -> None:
        super().__init__(
            models=models,
            token_delay=token_delay,
            first_token_delay=first_token_delay,
            latency=latency,
            default_logprob=default_logprob,
            embedding_dim=embedding_dim,
        )
        self.api_key = api_key
        self.slots = slots
        self.retry_after = retry_after
        self.in_flight = 0
        self.max_in_flight = 0
        self._slots: asyncio.Semaphore | None = None

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give an OpenAI client (ends in ``/v1``)."""
        return f"http://127.0.0.1:{self._port}/v1"

    def routes(self) -> list[tuple[str, type[tornado.web.RequestHandler]]]:
        return [
            (r"/v1/models", _Models),
            (r"/v1/chat/completions", _Chat),
            (r"/v1/embeddings", _Embeddings),
            (r".*", _NotFound),
        ]

    def started(self) -> None:
        self._slots = asyncio.Semaphore(self.slots) if self.slots > 0 else None


class _Base(JSONHandler):
    server: OpenAITestServer
    garbage = "data: <html>this is not JSON</html>\n\n"

    async def fault(self, reply: Reply) -> bool:
        if reply.fault == "error_event":
            error = {"message": "generation failed: out of memory", "type": "server_error"}
            self.write(f"data: {json.dumps({'error': error})}\n\n")
            self.finish()
            return True
        return await super().fault(reply)

    def fail(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self.set_status(status)
        self.finish(json.dumps({"error": {"message": message, "type": kind, "code": status}}))

    def authorized(self) -> bool:
        key = self.server.api_key
        if key is None:
            return True
        if self.request.headers.get("Authorization", "") == f"Bearer {key}":
            return True
        self.fail(401, "Incorrect API key provided.", "authentication_error")
        return False

    def asked(self) -> tuple[dict[str, Any], str] | None:
        """The body and model of an authorized request for a known model; None once an error
        has been answered."""
        if not self.authorized():
            return None
        body = self.body()
        model = None if body is None else self.model_or_fail(body)
        return None if body is None or model is None else (body, model)

    def model_or_fail(self, body: dict[str, Any]) -> str | None:
        model = body.get("model")
        if not model:
            self.fail(400, "model is required")
            return None
        if model not in self.server.models:
            self.fail(404, f"The model `{model}` does not exist.", "NotFoundError")
            return None
        return str(model)


class _NotFound(_Base):
    def prepare(self) -> None:
        self.fail(404, "not found")


class _Models(_Base):
    async def get(self) -> None:
        self.record()
        if not self.authorized():
            return
        if not await self.server.sleep(self.server.latency):
            return
        data = [
            {"id": m, "object": "model", "created": 1_760_000_000, "owned_by": "pygent-test"}
            for m in self.server.models
        ]
        self.finish(json.dumps({"object": "list", "data": data}))


class _Embeddings(_Base):
    async def post(self) -> None:
        asked = self.asked()
        if asked is None:
            return
        body, model = asked
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            self.fail(400, "input must be a string or a non-empty list")
            return
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": embedding(str(t), self.server.embedding_dim),
            }
            for i, t in enumerate(inputs)
        ]
        tokens = sum(len(split_tokens(str(t))) for t in inputs)
        self.finish(
            json.dumps(
                {
                    "object": "list",
                    "data": data,
                    "model": model,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                }
            )
        )


class _Chat(_Base):
    async def post(self) -> None:
        asked = self.asked()
        if asked is None:
            return
        body, model = asked
        server = self.server
        if not await server.sleep(server.latency):
            return
        reply = server.next_reply(body)
        if reply.fault == "rate_limit":
            self.set_header("Retry-After", f"{server.retry_after:g}")
            self.fail(429, "Rate limit reached, please retry later.", "rate_limit_error")
            return
        if reply.fault == "auth":
            self.fail(401, "Incorrect API key provided.", "authentication_error")
            return
        if reply.fault == "http_500":
            self.fail(500, "The server had an error while processing your request.", "server_error")
            return
        if reply.fault == "not_found":
            self.fail(404, f"The model `{model}` does not exist.", "NotFoundError")
            return
        slots = server._slots
        if slots is not None:
            await slots.acquire()
        server.in_flight += 1
        server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            await self._answer(model, body, reply)
        finally:
            server.in_flight -= 1
            if slots is not None:
                slots.release()

    def _usage(self, body: dict[str, Any], n_tokens: int) -> dict[str, int]:
        prompt = max(1, len(split_tokens(json.dumps(body.get("messages") or ""))))
        return {
            "prompt_tokens": prompt,
            "completion_tokens": n_tokens,
            "total_tokens": prompt + n_tokens,
        }

    def _logprobs(self, reply: Reply, tokens: list[str], start: int) -> list[dict[str, Any]]:
        return [
            {
                "token": t,
                "logprob": self.server.logprob(reply, start + i),
                "bytes": list(t.encode()),
                "top_logprobs": [],
            }
            for i, t in enumerate(tokens)
        ]

    async def _answer(self, model: str, body: dict[str, Any], reply: Reply) -> None:
        server = self.server
        tokens = reply.token_list()
        if body.get("max_tokens"):
            tokens = tokens[: int(body["max_tokens"])]
        calls: list[dict[str, Any]] = [
            {
                "id": f"call_{uuid.uuid4().hex[:8]}",
                "type": "function",
                "function": {
                    "name": str((c.get("function") or {}).get("name", "")),
                    "arguments": json.dumps((c.get("function") or {}).get("arguments") or {}),
                },
            }
            for c in reply.tool_calls or []
        ]
        finish = "tool_calls" if calls else ("length" if reply.done_reason == "length" else "stop")
        created = int(time.time())
        cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        if not body.get("stream"):
            if not await server.sleep(server.first_token_delay + server.token_delay * len(tokens)):
                return
            message: dict[str, Any] = {"role": "assistant", "content": "".join(tokens)}
            if calls:
                message["tool_calls"] = calls
            choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish}
            if body.get("logprobs"):
                choice["logprobs"] = {"content": self._logprobs(reply, tokens, 0)}
            self.finish(
                json.dumps(
                    {
                        "id": cid,
                        "object": "chat.completion",
                        "created": created,
                        "model": model,
                        "choices": [choice],
                        "usage": self._usage(body, len(tokens)),
                    }
                )
            )
            return

        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, **extra}
            data = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [choice],
            }
            return f"data: {json.dumps(data)}\n\n"

        try:
            if not await server.sleep(server.first_token_delay):
                return
            self.write(chunk({"role": "assistant", "content": ""}))
            for i, token in enumerate(tokens):
                if reply.fault and i == reply.fault_after and await self.fault(reply):
                    return
                if i and not await server.sleep(server.token_delay):
                    return
                extra: dict[str, Any] = {}
                if body.get("logprobs"):
                    extra["logprobs"] = {"content": self._logprobs(reply, [token], i)}
                server.token_times.append(time.perf_counter())
                self.write(chunk({"content": token}, **extra))
                await self.flush()
            if reply.fault and reply.fault_after >= len(tokens) and await self.fault(reply):
                return
            for k, call in enumerate(calls):
                # the name first, then the arguments in two fragments (as real servers do)
                args = call["function"]["arguments"]
                half = len(args) // 2
                head = {"index": k, "id": call["id"], "type": "function"}
                self.write(
                    chunk(
                        {
                            "tool_calls": [
                                {
                                    **head,
                                    "function": {"name": call["function"]["name"], "arguments": ""},
                                }
                            ]
                        }
                    )
                )
                self.write(
                    chunk({"tool_calls": [{"index": k, "function": {"arguments": args[:half]}}]})
                )
                self.write(
                    chunk({"tool_calls": [{"index": k, "function": {"arguments": args[half:]}}]})
                )
            if reply.fault == "no_done":
                self.finish()
                return
            self.write(chunk({}, finish))
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": self._usage(body, len(tokens)),
                }
                self.write(f"data: {json.dumps(usage)}\n\n")
            self.write("data: [DONE]\n\n")
            self.finish()
        except tornado.iostream.StreamClosedError:
            server.disconnects += 1
