"""What the scripted model test servers share (:class:`~.ollama_server.OllamaTestServer`,
:class:`~.openai_server.OpenAITestServer`): Tornado on 127.0.0.1 on a free port, started on the
running loop or on a thread of its own, a FIFO of scripted :class:`Reply` objects (text,
tokens, log-probs, tool calls, a fault), latency knobs, and the request/disconnect/token-time
records tests and benchmarks read.

A server subclass lists its ``routes()`` and ``FAULTS``; its handlers derive from
:class:`JSONHandler` (body parsing, error bodies, the mid-stream faults both APIs share).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import tornado.httpserver
import tornado.netutil
import tornado.web

__all__ = ["JSONHandler", "Reply", "ScriptedModelServer", "echo_last_user", "split_tokens"]

S = TypeVar("S", bound="ScriptedModelServer")


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


def embedding(text: str, dim: int) -> list[float]:
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


def echo_last_user(body: dict[str, Any]) -> Reply:
    """The default answer: ``You said: <the last user message>``."""
    last = ""
    for message in body.get("messages") or []:
        if message.get("role") == "user":
            last = str(message.get("content", ""))
    return Reply(f"You said: {last}")


class ScriptedModelServer:
    """The scripting, records and lifecycle of a model test server (see the module docstring).

    Without a script, answers come from ``responder(body) -> Reply | str``. ``latency`` is
    waited before any answer, ``first_token_delay`` before the first token, ``token_delay``
    between tokens.
    """

    #: the faults :meth:`fail_next` accepts
    FAULTS: tuple[str, ...] = ()
    thread_name = "model-test-server"

    def __init__(
        self,
        *,
        models: Iterable[str],
        token_delay: float = 0.0,
        first_token_delay: float = 0.0,
        latency: float = 0.0,
        default_logprob: float = -0.1,
        embedding_dim: int = 16,
    ) -> None:
        self.models = list(models)
        self.token_delay = token_delay
        self.first_token_delay = first_token_delay
        self.latency = latency
        self.default_logprob = default_logprob
        self.embedding_dim = embedding_dim
        self.responder: Callable[[dict[str, Any]], Reply | str] = echo_last_user
        self.requests: list[tuple[str, str, Any]] = []
        self.disconnects = 0
        #: ``time.perf_counter()`` when each streamed token was written (benchmarks)
        self.token_times: list[float] = []
        self._script: deque[Reply] = deque()
        self._server: tornado.httpserver.HTTPServer | None = None
        self._port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *replies: Reply | str) -> None:
        """Queue answers for the next requests, in order."""
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
        """Make the next request fail with ``fault`` (one of :attr:`FAULTS`)."""
        if fault not in self.FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {self.FAULTS}")
        self.script(Reply(text, fault=fault, fault_after=after, model=model))

    def next_reply(self, body: dict[str, Any]) -> Reply:
        model = body.get("model")
        for i, reply in enumerate(self._script):
            if reply.model is None or reply.model == model:
                del self._script[i]
                return reply
        made = self.responder(body)
        return Reply(made) if isinstance(made, str) else made

    def logprob(self, reply: Reply, i: int) -> float:
        """The log-probability of token ``i`` of ``reply``."""
        given = reply.logprobs or []
        return given[i] if i < len(given) else self.default_logprob

    # -- lifecycle ---------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, type[tornado.web.RequestHandler]]]:
        """The Tornado routes (a catch-all last); every handler gets ``server=self``."""
        raise NotImplementedError

    @property
    def port(self) -> int:
        return self._port

    async def start(self: S, port: int = 0) -> S:
        """Listen on 127.0.0.1 (a free port unless ``port``) on the running loop."""
        sockets = tornado.netutil.bind_sockets(port or self._port, "127.0.0.1")
        self._port = sockets[0].getsockname()[1]
        kwargs = {"server": self}
        app = tornado.web.Application([(path, h, kwargs) for path, h in self.routes()])
        self._server = tornado.httpserver.HTTPServer(app)
        self._server.add_sockets(sockets)
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.started()
        return self

    def started(self) -> None:
        """Called on the server's loop once it listens (per-loop state goes here)."""

    async def stop(self) -> None:
        """Stop listening and cut open connections (like a killed model server)."""
        if self._stopping is not None:
            self._stopping.set()
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None

    async def restart(self) -> None:
        """Listen again on the same port (the server came back)."""
        await self.start(self._port)

    def start_in_thread(self: S) -> S:
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

        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
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


class JSONHandler(tornado.web.RequestHandler):
    """A JSON API handler of a :class:`ScriptedModelServer`."""

    server: Any
    content_type = "application/json"
    #: what a ``garbage`` fault writes mid-stream
    garbage = "<html>this is not JSON</html>\n"

    def initialize(self, server: Any) -> None:
        self.server = server

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", self.content_type)

    def check_xsrf_cookie(self) -> None:  # an API server: no cookies, no XSRF
        return

    def fail(self, status: int, message: str) -> None:
        """Finish with an error body in the API's shape."""
        raise NotImplementedError

    def body(self) -> dict[str, Any] | None:
        """The JSON object body (recorded in ``server.requests``), or None after a 400."""
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

    def record(self) -> None:
        """Record a request without a body (GET)."""
        self.server.requests.append(("GET", self.request.path, None))

    async def fault(self, reply: Reply) -> bool:
        """Apply a mid-stream fault (``truncate``, ``garbage``, ``hang``); True when the
        response is over."""
        if reply.fault == "truncate":
            await self.flush()
            cast(Any, self.request.connection).stream.close()
            return True
        if reply.fault == "garbage":
            self.write(self.garbage)
            self.finish()
            return True
        if reply.fault == "hang":
            await self.flush()
            await self.server.sleep(3600)
            return True
        return False
