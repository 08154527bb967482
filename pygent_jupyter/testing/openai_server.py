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
``garbage`` (a non-JSON event), ``hang`` (stop sending, keep the connection), ``no_done`` (end
the stream without a finish reason or ``[DONE]``). ``slots`` bounds how many answers are
generated at once (a server's batch width): more requests wait for a slot, as on vLLM with
``--max-num-seqs``. ``latency``, ``first_token_delay`` and ``token_delay`` add time.
``requests`` records ``(method, path, body)``; ``max_in_flight`` the most answers generated at
once; ``token_times`` when each streamed token was written.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, cast

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

from .ollama_server import Reply, _embedding, split_tokens

__all__ = ["OpenAITestServer", "Reply"]

FAULTS = ("rate_limit", "auth", "http_500", "not_found", "truncate", "garbage", "hang", "no_done")


def _default_responder(body: dict[str, Any]) -> Reply:
    last = ""
    for message in body.get("messages") or []:
        if message.get("role") == "user":
            last = str(message.get("content", ""))
    return Reply(f"You said: {last}")


class OpenAITestServer:
    """See the module docstring."""

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
        self.models = list(models)
        self.api_key = api_key
        self.token_delay = token_delay
        self.first_token_delay = first_token_delay
        self.latency = latency
        self.slots = slots
        self.retry_after = retry_after
        self.default_logprob = default_logprob
        self.embedding_dim = embedding_dim
        self.responder: Callable[[dict[str, Any]], Reply | str] = _default_responder
        self.requests: list[tuple[str, str, Any]] = []
        self.disconnects = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.token_times: list[float] = []
        self._script: deque[Reply] = deque()
        self._slots: asyncio.Semaphore | None = None
        self._server: tornado.httpserver.HTTPServer | None = None
        self._port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *replies: Reply | str) -> None:
        """Queue answers for the next chat requests, in order."""
        for reply in replies:
            self._script.append(Reply(reply) if isinstance(reply, str) else reply)

    def fail_next(
        self,
        fault: str,
        *,
        after: int = 0,
        text: str = "one two three four five",
        model: str | None = None,
    ) -> None:
        """Make the next chat request fail with ``fault`` (see :data:`FAULTS`)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {FAULTS}")
        self.script(Reply(text, fault=fault, fault_after=after, model=model))

    def next_reply(self, body: dict[str, Any]) -> Reply:
        model = body.get("model")
        for i, reply in enumerate(self._script):
            if reply.model is None or reply.model == model:
                del self._script[i]
                return reply
        made = self.responder(body)
        return Reply(made) if isinstance(made, str) else made

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give an OpenAI client (ends in ``/v1``)."""
        return f"http://127.0.0.1:{self._port}/v1"

    def _app(self) -> tornado.web.Application:
        kwargs = {"server": self}
        return tornado.web.Application(
            [
                (r"/v1/models", _Models, kwargs),
                (r"/v1/chat/completions", _Chat, kwargs),
                (r"/v1/embeddings", _Embeddings, kwargs),
            ],
            default_handler_class=_NotFound,
            default_handler_args=kwargs,
        )

    async def start(self, port: int = 0) -> OpenAITestServer:
        """Listen on 127.0.0.1 (a free port unless ``port``) on the running loop."""
        sockets = tornado.netutil.bind_sockets(port or self._port, "127.0.0.1")
        self._port = sockets[0].getsockname()[1]
        self._server = tornado.httpserver.HTTPServer(self._app())
        self._server.add_sockets(sockets)
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(self.slots) if self.slots > 0 else None
        return self

    async def stop(self) -> None:
        """Stop listening and cut open connections."""
        if self._stopping is not None:
            self._stopping.set()
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None

    async def restart(self) -> None:
        await self.start(self._port)

    def start_in_thread(self) -> OpenAITestServer:
        """Run on a loop of its own in a daemon thread (so it competes with nothing)."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="openai-test-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop_thread(self) -> None:
        if self._thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    async def sleep(self, seconds: float) -> bool:
        """Sleep, or return False at once when the server stops."""
        if seconds <= 0:
            return True
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
            return False
        except asyncio.TimeoutError:
            return True


class _Base(tornado.web.RequestHandler):
    server: OpenAITestServer

    def initialize(self, server: OpenAITestServer) -> None:
        self.server = server

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")

    def check_xsrf_cookie(self) -> None:
        return

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

    def body(self) -> dict[str, Any] | None:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            self.fail(400, "could not parse the JSON body")
            return None
        if not isinstance(body, dict):
            self.fail(400, "the body must be a JSON object")
            return None
        self.server.requests.append((self.request.method or "", self.request.path, body))
        return body

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
        self.server.requests.append(("GET", "/v1/models", None))
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
        if not self.authorized():
            return
        body = self.body()
        if body is None:
            return
        model = self.model_or_fail(body)
        if model is None:
            return
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
                "embedding": _embedding(str(t), self.server.embedding_dim),
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
        if not self.authorized():
            return
        body = self.body()
        if body is None:
            return
        model = self.model_or_fail(body)
        if model is None:
            return
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
        given = reply.logprobs or []
        return [
            {
                "token": t,
                "logprob": given[start + i]
                if start + i < len(given)
                else self.server.default_logprob,
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
                if reply.fault and i == reply.fault_after and await self._fault(reply):
                    return
                if i and not await server.sleep(server.token_delay):
                    return
                extra: dict[str, Any] = {}
                if body.get("logprobs"):
                    extra["logprobs"] = {"content": self._logprobs(reply, [token], i)}
                server.token_times.append(time.perf_counter())
                self.write(chunk({"content": token}, **extra))
                await self.flush()
            if reply.fault and reply.fault_after >= len(tokens) and await self._fault(reply):
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

    async def _fault(self, reply: Reply) -> bool:
        """Apply a mid-stream fault; True when the response is over."""
        if reply.fault == "truncate":
            await self.flush()
            cast(Any, self.request.connection).stream.close()
            return True
        if reply.fault == "garbage":
            self.write("data: <html>this is not JSON</html>\n\n")
            self.finish()
            return True
        if reply.fault == "hang":
            await self.flush()
            await self.server.sleep(3600)
            return True
        return False
