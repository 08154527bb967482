"""An Ollama-API test server: Tornado on 127.0.0.1, a random port, scripted answers, faults.

It speaks the REST API that Ollama documents (``docs/api.md``), so the real ``ollama`` client
(and anything else built for Ollama) can be tested over real HTTP:

==========================  ===================================================================
``GET /api/version``        ``{"version"}``
``GET /api/tags``           ``{"models": [{name, model, modified_at, size, digest, details}]}``
``GET /api/ps``             ``{"models": [... + expires_at, size_vram, context_length]}`` (the
                            models used recently)
``POST /api/chat``          NDJSON stream of ``{model, created_at, message, done}`` lines and a
                            final ``done: true`` line with ``done_reason`` and the counters
                            (``total_duration``, ``load_duration``, ``prompt_eval_count``,
                            ``prompt_eval_duration``, ``eval_count``, ``eval_duration``, in ns);
                            one JSON object with ``"stream": false``. ``"logprobs": true`` adds
                            ``logprobs: [{token, logprob, bytes}]``; tool calls come as
                            ``message.tool_calls``.
``POST /api/generate``      the same with ``response`` instead of ``message`` (+ ``context``)
``POST /api/embed``         ``{model, embeddings, total_duration, load_duration,
                            prompt_eval_count}``
errors                      ``{"error": "..."}`` with 400 (bad request), 404 (unknown model:
                            ``model "x" not found, try pulling it first``) or 500; mid-stream
                            errors as an ``{"error": ...}`` line
==========================  ===================================================================

Use::

    server = OllamaTestServer(models=["llama3.2:latest"], token_delay=0.01)
    await server.start()                   # or server.start_in_thread() for another loop
    server.script(Reply("Hello there!"))   # the next chat/generate answer (FIFO)
    server.script(Reply("partial answer", fault="truncate", fault_after=2))
    client = ollama.AsyncClient(host=server.host)
    ...
    await server.stop()

Without a script, answers come from ``server.responder(body) -> Reply | str`` (default: echo
the last user message). Latency: ``latency`` before any answer, ``first_token_delay`` before the
first token, ``token_delay`` between tokens. Faults (``Reply.fault``): ``http_500``,
``not_found``, ``truncate`` (the connection is cut after ``fault_after`` tokens), ``garbage`` (a
non-JSON line), ``error_line`` (an ``{"error"}`` line), ``hang`` (stop sending, keep the
connection), ``no_done`` (end the stream without the final line). ``server.requests`` records
``(method, path, body)``; ``server.disconnects`` counts clients that went away mid-stream;
``server.token_times`` holds the ``time.perf_counter()`` at which each streamed token was
written (for latency measurements in the same process).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

__all__ = ["OllamaTestServer", "Reply", "split_tokens"]

FAULTS = ("http_500", "not_found", "truncate", "garbage", "error_line", "hang", "no_done")


@dataclass
class Reply:
    """One scripted answer (or fault)."""

    text: str = ""
    #: explicit token split of ``text`` (default: :func:`split_tokens`)
    tokens: list[str] | None = None
    #: one natural-log probability per token (default: the server's ``default_logprob``)
    logprobs: list[float] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    #: answer only requests for this model (others take the next unrestricted reply)
    model: str | None = None
    fault: str | None = None
    fault_after: int = 0
    done_reason: str = "stop"

    def token_list(self) -> list[str]:
        return list(self.tokens) if self.tokens is not None else split_tokens(self.text)


_TOKEN = re.compile(r"\s*\S+|\s+")


def split_tokens(text: str) -> list[str]:
    """Word-sized tokens with their leading whitespace: ``"a b"`` -> ``["a", " b"]``."""
    return _TOKEN.findall(text)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _model_entry(name: str) -> dict[str, Any]:
    family = name.split(":")[0].split("/")[-1]
    return {
        "name": name,
        "model": name,
        "modified_at": "2026-11-01T10:00:00.000000000Z",
        "size": 1_000_000 + len(name) * 1000,
        "digest": _digest(name),
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": "1B",
            "quantization_level": "Q4_K_M",
        },
    }


def _embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector for ``text`` (same text, same vector)."""
    values: list[float] = []
    counter = 0
    while len(values) < dim:
        block = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((b - 127.5) / 127.5 for b in block)
        counter += 1
    values = values[:dim]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _default_responder(body: dict[str, Any]) -> Reply:
    if "prompt" in body:
        return Reply(f"Completion of: {str(body.get('prompt'))[-200:]}")
    last = ""
    for message in body.get("messages") or []:
        if message.get("role") == "user":
            last = str(message.get("content", ""))
    return Reply(f"You said: {last}")


class OllamaTestServer:
    """See the module docstring."""

    def __init__(
        self,
        *,
        models: Iterable[str] = ("llama3.2:latest", "all-minilm:latest"),
        version: str = "0.12.10",
        token_delay: float = 0.0,
        first_token_delay: float = 0.0,
        latency: float = 0.0,
        default_logprob: float = -0.1,
        embedding_dim: int = 16,
        keep_alive_s: float = 300.0,
    ) -> None:
        self.models = list(models)
        self.version = version
        self.token_delay = token_delay
        self.first_token_delay = first_token_delay
        self.latency = latency
        self.default_logprob = default_logprob
        self.embedding_dim = embedding_dim
        self.keep_alive_s = keep_alive_s
        self.responder: Callable[[dict[str, Any]], Reply | str] = _default_responder
        self.requests: list[tuple[str, str, Any]] = []
        self.disconnects = 0
        #: ``time.perf_counter()`` when each streamed token was written (benchmarks)
        self.token_times: list[float] = []
        self.loaded: dict[str, float] = {}
        self._script: deque[Reply] = deque()
        self._server: tornado.httpserver.HTTPServer | None = None
        self._port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *replies: Reply | str) -> None:
        """Queue answers for the next chat/generate requests, in order."""
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
        """Make the next chat/generate request fail with ``fault`` (see :data:`FAULTS`)."""
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
    def host(self) -> str:
        """The base URL to give an Ollama client (``OLLAMA_HOST``)."""
        return f"http://127.0.0.1:{self._port}"

    def _app(self) -> tornado.web.Application:
        kwargs = {"server": self}
        return tornado.web.Application(
            [
                (r"/api/version", _Version, kwargs),
                (r"/api/tags", _Tags, kwargs),
                (r"/api/ps", _Ps, kwargs),
                (r"/api/chat", _Chat, kwargs),
                (r"/api/generate", _Generate, kwargs),
                (r"/api/embed", _Embed, kwargs),
                (r"/", _Root, kwargs),
            ],
            default_handler_class=_NotFound,
            default_handler_args=kwargs,
        )

    async def start(self, port: int = 0) -> OllamaTestServer:
        """Listen on 127.0.0.1 (a free port unless ``port``) on the running loop."""
        sockets = tornado.netutil.bind_sockets(port or self._port, "127.0.0.1")
        self._port = sockets[0].getsockname()[1]
        self._server = tornado.httpserver.HTTPServer(self._app())
        self._server.add_sockets(sockets)
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        return self

    async def stop(self) -> None:
        """Stop listening and cut open connections (like a killed Ollama)."""
        if self._stopping is not None:
            self._stopping.set()
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None

    async def restart(self) -> None:
        """Listen again on the same port (Ollama came back)."""
        await self.start(self._port)

    def start_in_thread(self) -> OllamaTestServer:
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

        self._thread = threading.Thread(target=run, name="ollama-test-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop_thread(self) -> None:
        if self._thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    # -- accounting --------------------------------------------------------------------------

    def touch(self, model: str) -> None:
        self.loaded[model if ":" in model else f"{model}:latest"] = time.time()

    def running(self) -> list[dict[str, Any]]:
        now = time.time()
        out = []
        for name, used in sorted(self.loaded.items()):
            if now - used > self.keep_alive_s:
                continue
            entry = _model_entry(name)
            expires = datetime.fromtimestamp(used + self.keep_alive_s, timezone.utc)
            entry.update(
                {
                    "expires_at": expires.isoformat().replace("+00:00", "Z"),
                    "size_vram": entry["size"],
                    "context_length": 4096,
                }
            )
            out.append(entry)
        return out

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
    server: OllamaTestServer

    def initialize(self, server: OllamaTestServer) -> None:
        self.server = server

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")

    def check_xsrf_cookie(self) -> None:  # an API server: no cookies, no XSRF
        return

    def on_connection_close(self) -> None:
        self._gone = True

    def body(self) -> dict[str, Any] | None:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            self.fail(400, "invalid character in request body")
            return None
        if not isinstance(body, dict):
            self.fail(400, "json: cannot unmarshal into request body")
            return None
        self.server.requests.append((self.request.method or "", self.request.path, body))
        return body

    def fail(self, status: int, message: str) -> None:
        self.set_status(status)
        self.finish(json.dumps({"error": message}))

    def ok(self, data: dict[str, Any]) -> None:
        self.finish(json.dumps(data))

    async def model_or_fail(self, body: dict[str, Any]) -> str | None:
        model = body.get("model")
        if not model:
            self.fail(400, "model is required")
            return None
        if not await self.server.sleep(self.server.latency):
            return None
        known = set(self.server.models) | {
            m.split(":")[0] for m in self.server.models if m.endswith(":latest")
        }
        if model not in known:
            self.fail(404, f'model "{model}" not found, try pulling it first')
            return None
        return str(model)


class _Root(_Base):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("Ollama is running")


class _NotFound(_Base):
    def prepare(self) -> None:
        self.set_status(404)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("404 page not found")


class _Version(_Base):
    async def get(self) -> None:
        self.server.requests.append(("GET", "/api/version", None))
        if await self.server.sleep(self.server.latency):
            self.ok({"version": self.server.version})


class _Tags(_Base):
    async def get(self) -> None:
        self.server.requests.append(("GET", "/api/tags", None))
        if await self.server.sleep(self.server.latency):
            self.ok({"models": [_model_entry(m) for m in self.server.models]})


class _Ps(_Base):
    async def get(self) -> None:
        self.server.requests.append(("GET", "/api/ps", None))
        if await self.server.sleep(self.server.latency):
            self.ok({"models": self.server.running()})


class _Answer(_Base):
    """The shared chat/generate logic: pick a reply, then stream it or send it whole."""

    kind = "chat"

    def piece(
        self,
        model: str,
        text: str,
        *,
        done: bool,
        logprobs: list[dict[str, Any]] | None,
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"model": model, "created_at": _now()}
        if self.kind == "chat":
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if tool_calls:
                message["tool_calls"] = tool_calls
            out["message"] = message
        else:
            out["response"] = text
        out["done"] = done
        if logprobs is not None:
            out["logprobs"] = logprobs
        return out

    def final(
        self,
        model: str,
        body: dict[str, Any],
        reply: Reply,
        n_tokens: int,
        started: float,
        first: float,
    ) -> dict[str, Any]:
        end = time.perf_counter()
        prompt = json.dumps(body.get("messages") or body.get("prompt") or "")
        out = self.piece(model, "", done=True, logprobs=None)
        out.update(
            {
                "done_reason": reply.done_reason,
                "total_duration": max(1, int((end - started) * 1e9)),
                "load_duration": 1_000_000,
                "prompt_eval_count": max(1, len(split_tokens(prompt))),
                "prompt_eval_duration": max(1, int((first - started) * 1e9)),
                "eval_count": n_tokens,
                "eval_duration": max(1, int((end - first) * 1e9)),
            }
        )
        if self.kind == "generate":
            out["context"] = [1, 2, 3]
        return out

    def token_logprobs(
        self, reply: Reply, tokens: list[str], body: dict[str, Any]
    ) -> list[float] | None:
        if not body.get("logprobs"):
            return None
        given = reply.logprobs or []
        return [
            given[i] if i < len(given) else self.server.default_logprob for i in range(len(tokens))
        ]

    async def post(self) -> None:
        body = self.body()
        if body is None:
            return
        model = await self.model_or_fail(body)
        if model is None:
            return
        reply = self.server.next_reply(body)
        if reply.fault == "http_500":
            self.fail(500, "llama runner process has terminated: exit status 2")
            return
        if reply.fault == "not_found":
            self.fail(404, f'model "{model}" not found, try pulling it first')
            return
        self.server.touch(model)
        tokens = reply.token_list()
        lps = self.token_logprobs(reply, tokens, body)
        started = time.perf_counter()
        if body.get("stream", True) is False:
            if not await self.server.sleep(
                self.server.first_token_delay + self.server.token_delay * len(tokens)
            ):
                return
            first = time.perf_counter()
            out = self.final(model, body, reply, len(tokens), started, first)
            text = "".join(tokens)
            if self.kind == "chat":
                out["message"]["content"] = text
                if reply.tool_calls:
                    out["message"]["tool_calls"] = reply.tool_calls
            else:
                out["response"] = text
            if lps is not None:
                out["logprobs"] = [_lp(t, lp) for t, lp in zip(tokens, lps, strict=True)]
            self.ok(out)
            return
        await self.stream(model, body, reply, tokens, lps, started)

    async def stream(
        self,
        model: str,
        body: dict[str, Any],
        reply: Reply,
        tokens: list[str],
        lps: list[float] | None,
        started: float,
    ) -> None:
        server = self.server
        self.set_header("Content-Type", "application/x-ndjson")
        first = started
        try:
            if not await server.sleep(server.first_token_delay):
                return
            for i, token in enumerate(tokens):
                if reply.fault and i == reply.fault_after and await self._fault(reply):
                    return
                if i == 0:
                    first = time.perf_counter()
                elif not await server.sleep(server.token_delay):
                    return
                logprobs = [_lp(token, lps[i])] if lps is not None else None
                server.token_times.append(time.perf_counter())
                self.write(
                    json.dumps(self.piece(model, token, done=False, logprobs=logprobs)) + "\n"
                )
                await self.flush()
            if reply.fault and reply.fault_after >= len(tokens) and await self._fault(reply):
                return
            if reply.tool_calls:
                self.write(
                    json.dumps(
                        self.piece(
                            model, "", done=False, logprobs=None, tool_calls=reply.tool_calls
                        )
                    )
                    + "\n"
                )
            if reply.fault == "no_done":
                self.finish()
                return
            self.write(
                json.dumps(self.final(model, body, reply, len(tokens), started, first)) + "\n"
            )
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
            self.write("<html>this is not JSON</html>\n")
            self.finish()
            return True
        if reply.fault == "error_line":
            self.write(
                json.dumps(
                    {"error": "an error was encountered while running the model: unexpected EOF"}
                )
                + "\n"
            )
            self.finish()
            return True
        if reply.fault == "hang":
            await self.flush()
            await self.server.sleep(3600)
            return True
        return False


class _Chat(_Answer):
    kind = "chat"


class _Generate(_Answer):
    kind = "generate"


class _Embed(_Base):
    async def post(self) -> None:
        body = self.body()
        if body is None:
            return
        model = await self.model_or_fail(body)
        if model is None:
            return
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list):
            self.fail(400, "invalid input type")
            return
        self.server.touch(model)
        self.ok(
            {
                "model": model,
                "embeddings": [_embedding(str(t), self.server.embedding_dim) for t in inputs],
                "total_duration": 1_000_000,
                "load_duration": 100_000,
                "prompt_eval_count": sum(len(split_tokens(str(t))) for t in inputs),
            }
        )


def _lp(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}
