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

import hashlib
import json
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import tornado.iostream
import tornado.web

from .model_server import JSONHandler, Reply, ScriptedModelServer, echo_last_user, split_tokens
from .model_server import embedding as _embedding

__all__ = ["OllamaTestServer", "Reply", "split_tokens"]

FAULTS = ("http_500", "not_found", "truncate", "garbage", "error_line", "hang", "no_done")


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


def _default_responder(body: dict[str, Any]) -> Reply:
    if "prompt" in body:
        return Reply(f"Completion of: {str(body.get('prompt'))[-200:]}")
    return echo_last_user(body)


class OllamaTestServer(ScriptedModelServer):
    """See the module docstring."""

    FAULTS = FAULTS
    thread_name = "ollama-test-server"

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
        super().__init__(
            models=models,
            token_delay=token_delay,
            first_token_delay=first_token_delay,
            latency=latency,
            default_logprob=default_logprob,
            embedding_dim=embedding_dim,
        )
        self.version = version
        self.keep_alive_s = keep_alive_s
        self.responder = _default_responder
        self.loaded: dict[str, float] = {}

    @property
    def host(self) -> str:
        """The base URL to give an Ollama client (``OLLAMA_HOST``)."""
        return f"http://127.0.0.1:{self._port}"

    def routes(self) -> list[tuple[str, type[tornado.web.RequestHandler]]]:
        return [
            (r"/api/version", _Version),
            (r"/api/tags", _Tags),
            (r"/api/ps", _Ps),
            (r"/api/chat", _Chat),
            (r"/api/generate", _Generate),
            (r"/api/embed", _Embed),
            (r"/", _Root),
            (r".*", _NotFound),
        ]

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


class _Base(JSONHandler):
    server: OllamaTestServer
    content_type = "application/json; charset=utf-8"

    def on_connection_close(self) -> None:
        self._gone = True

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
        self.record()
        if await self.server.sleep(self.server.latency):
            self.ok({"version": self.server.version})


class _Tags(_Base):
    async def get(self) -> None:
        self.record()
        if await self.server.sleep(self.server.latency):
            self.ok({"models": [_model_entry(m) for m in self.server.models]})


class _Ps(_Base):
    async def get(self) -> None:
        self.record()
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
        return [self.server.logprob(reply, i) for i in range(len(tokens))]

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
        if reply.fault == "error_line":
            self.write(
                json.dumps(
                    {"error": "an error was encountered while running the model: unexpected EOF"}
                )
                + "\n"
            )
            self.finish()
            return True
        return await self.fault(reply)


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
