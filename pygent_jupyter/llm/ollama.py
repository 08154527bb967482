"""`OllamaProvider`: the :class:`~pygent_jupyter.llm.LLMProvider` over a real Ollama server.

Talks to Ollama with the official ``ollama`` client (``AsyncClient``), except for the body of a
streamed chat: its NDJSON lines are decoded here with ``json.loads`` into plain dicts
(:func:`_chat_part`), without the client's pydantic model per token. The host is one setting
for the whole server and its kernels: ``c.OllamaProvider.host``, defaulting to ``OLLAMA_HOST``
(Ollama's own convention) and then to ``http://127.0.0.1:11434``. :func:`export_host` puts the
resolved value back into ``OLLAMA_HOST`` so that kernels started by this server (and the
``ollama`` client used inside them) reach the same Ollama as the server does.

Failures become :class:`~pygent_jupyter.llm.errors.OllamaError`, the
:class:`~pygent_jupyter.llm.errors.BackendError` of this backend, with the stable codes
``unreachable``, ``timeout``, ``model_not_found`` (the message names the ``ollama pull``
command), ``server_error`` (HTTP 5xx, an ``{"error": …}`` line), ``stream_broken`` and
``bad_response`` (see :mod:`pygent_jupyter.llm.errors`).
Text streamed before a failure has already reached the caller; the caller keeps it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import pydantic
from ollama import AsyncClient, ChatResponse, ResponseError
from traitlets import Bool, Float, Unicode, default
from traitlets.config import LoggingConfigurable

from . import ChatChunk, Completion, Options
from .base import BaseProvider, ChatRequest, StreamTally, finite
from .errors import OllamaError

__all__ = ["DEFAULT_HOST", "OllamaError", "OllamaProvider", "export_host", "normalize_host"]

DEFAULT_HOST = "http://127.0.0.1:11434"
_NS = 1e-9


def normalize_host(value: str | None) -> str:
    """``OLLAMA_HOST`` as Ollama's client reads it -> a base URL.

    No scheme: ``http`` and port 11434; with a scheme: that scheme's port unless one is given.
    A bind-all address (``0.0.0.0``, ``::``) means "this machine".
    """
    value = (value or "").strip()
    if not value:
        return DEFAULT_HOST
    explicit = "://" in value
    parts = urlsplit(value if explicit else "http://" + value)
    scheme = parts.scheme if explicit else "http"
    hostname = parts.hostname or "127.0.0.1"
    if hostname in ("0.0.0.0", "::"):
        hostname = "127.0.0.1"
    if ":" in hostname:  # IPv6 literal
        hostname = f"[{hostname}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme, 11434) if explicit else 11434
    return f"{scheme}://{hostname}:{port}{parts.path.rstrip('/')}"


def export_host(host: str) -> None:
    """Make kernels started after this call (and their ``ollama`` clients) use ``host``."""
    os.environ["OLLAMA_HOST"] = host


class OllamaProvider(BaseProvider, LoggingConfigurable):
    """Chat, generate, embeddings and model listing over Ollama's REST API."""

    name = "ollama"

    host = Unicode(
        help="Ollama's base URL. Defaults to $OLLAMA_HOST (as Ollama reads it), else "
        "http://127.0.0.1:11434. The server exports the resolved value as OLLAMA_HOST so that "
        "kernels it starts talk to the same Ollama."
    ).tag(config=True)

    model = Unicode("llama3.2", help="Model used when an agent or request names none.").tag(
        config=True
    )

    embed_model = Unicode(
        "all-minilm", help="Model used by embed() when the caller names none."
    ).tag(config=True)

    connect_timeout = Float(
        1.0, help="Seconds to wait for a TCP connection to Ollama before reporting it unreachable."
    ).tag(config=True)

    read_timeout = Float(
        120.0,
        help="Seconds to wait for the next piece of a response (model load included) "
        "before giving up with a timeout error.",
    ).tag(config=True)

    probe_timeout = Float(
        2.0, help="Total seconds for a status probe (/api/version, /api/ps)."
    ).tag(config=True)

    logprobs = Bool(
        True,
        help="Ask Ollama for token log-probabilities (used for the answer's confidence). "
        "Servers older than logprob support ignore the flag.",
    ).tag(config=True)

    keep_alive = Unicode(
        "",
        help="Ollama keep_alive for chat/generate requests (e.g. '5m'); empty: Ollama's default.",
    ).tag(config=True)

    @default("host")
    def _host_default(self) -> str:
        return normalize_host(os.environ.get("OLLAMA_HOST"))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host = normalize_host(self.host)
        self._client: AsyncClient | None = None
        self._probe: httpx.AsyncClient | None = None
        #: the outcome of the last probe or call: True, False or None (never tried)
        self.reachable: bool | None = None
        self.version: str | None = None

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def default_model(self) -> str:
        return self.model

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            timeout = httpx.Timeout(self.read_timeout, connect=self.connect_timeout)
            self._client = AsyncClient(host=self.host, timeout=timeout)
        return self._client

    def _probe_client(self) -> httpx.AsyncClient:
        if self._probe is None:
            timeout = httpx.Timeout(
                self.probe_timeout, connect=min(self.connect_timeout, self.probe_timeout)
            )
            self._probe = httpx.AsyncClient(base_url=self.host, timeout=timeout)
        return self._probe

    async def aclose(self) -> None:
        """Close the HTTP clients (they are re-created on next use)."""
        client, probe = self._client, self._probe
        self._client = self._probe = None
        if client is not None:
            await client._client.aclose()
        if probe is not None:
            await probe.aclose()

    def backend_error(self, exc: Exception, model: str | None = None) -> OllamaError:
        """Map a client/transport exception to an :class:`OllamaError` (re-raise others)."""
        host = self.host
        if isinstance(exc, OllamaError):
            return exc

        def make(code: str, message: str) -> OllamaError:
            return OllamaError(code, message, host=host, model=model)

        if isinstance(exc, (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout)):
            self.reachable = False
            return make("unreachable", f"Ollama is not reachable at {host}")
        if isinstance(exc, httpx.TimeoutException):
            return make(
                "timeout", f"Ollama at {host} did not answer within {self.read_timeout:g} s"
            )
        if isinstance(exc, ResponseError):
            self.reachable = True
            text = _error_text(exc.error)
            if exc.status_code == 404 or ("not found" in text and "model" in text):
                name = model or "?"
                return make(
                    "model_not_found",
                    f"model {name!r} is not available on Ollama at {host}: run "
                    f"`ollama pull {name}`",
                )
            status = (
                f"HTTP {exc.status_code}" if exc.status_code and exc.status_code > 0 else "an error"
            )
            return make("server_error", f"Ollama at {host} answered with {status}: {text[:300]}")
        if isinstance(
            exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.StreamError)
        ):
            return make("stream_broken", f"the connection to Ollama at {host} broke mid-response")
        if isinstance(
            exc, (json.JSONDecodeError, pydantic.ValidationError, ValueError, TypeError, KeyError)
        ):
            return make(
                "bad_response", f"Ollama at {host} sent a response that is not Ollama's JSON"
            )
        if isinstance(exc, httpx.HTTPError):
            return make(
                "server_error", f"HTTP failure talking to Ollama at {host}: {type(exc).__name__}"
            )
        raise exc

    def _chat_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": request.model, "messages": list(request.messages)}
        if request.options:
            kwargs["options"] = dict(request.options)
        if request.tools:
            kwargs["tools"] = list(request.tools)
        if self.logprobs:
            kwargs["logprobs"] = True
        if self.keep_alive:
            kwargs["keep_alive"] = self.keep_alive
        return kwargs

    # -- LLMProvider -------------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream ``/api/chat``. Each chunk carries the mean log-prob of its tokens (if given).

        The request goes through the ``ollama`` client's HTTP connection pool; its lines are
        decoded by :func:`_chat_part` (the client's own per-line pydantic model was about a
        quarter of the event loop's CPU per token: ``benchmarks/ollama_stream.py``). Only the
        final line becomes a ``ChatResponse``."""
        model = request.model
        tally = StreamTally()
        final: Completion | None = None
        body = {"stream": True, **self._chat_kwargs(request)}
        with self.mapped(model):
            async with self.client._client.stream("POST", "/api/chat", json=body) as response:
                if response.is_error:
                    await response.aread()
                    raise ResponseError(response.text, response.status_code)
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    part = _chat_part(line)
                    self.reachable = True
                    message = part.get("message") or {}
                    delta = message.get("content") or ""
                    part_lps = [float(lp["logprob"]) for lp in part.get("logprobs") or []]
                    tally.logprobs.extend(part_lps)
                    tally.tool_calls.extend(
                        _tool_call_dict(c) for c in message.get("tool_calls") or []
                    )
                    if delta:
                        yield tally.delta(delta, part_lps)
                    if part.get("done"):
                        # keep reading to the end of the body, so that the connection goes
                        # back to the pool instead of being dropped
                        done = ChatResponse.model_validate(part)
                        final = _completion(done, tally.answer, model, tally, tally.started)
        if final is None:
            raise OllamaError(
                "stream_broken",
                f"Ollama at {self.host} ended the stream without its final message",
                host=self.host,
                model=model,
            )
        yield ChatChunk(delta="", done=True, completion=final)

    async def complete(self, request: ChatRequest) -> Completion:
        """One ``/api/chat`` call with ``stream: false``."""
        started = time.perf_counter()
        with self.mapped(request.model):
            response = await self.client.chat(stream=False, **self._chat_kwargs(request))
        self.reachable = True
        message = response.message
        tally = StreamTally(
            logprobs=[float(lp.logprob) for lp in (response.logprobs or [])],
            tool_calls=[_tool_call_dict(c) for c in (message.tool_calls or [])],
        )
        return _completion(response, message.content or "", request.model, tally, started)

    async def generate(
        self, prompt: str, *, model: str | None = None, options: Options | None = None
    ) -> Completion:
        """One ``/api/generate`` call (raw completion, no chat template of ours)."""
        model = model or self.model
        kwargs: dict[str, Any] = {"model": model, "prompt": prompt, "stream": False}
        if options:
            kwargs["options"] = dict(options)
        if self.logprobs:
            kwargs["logprobs"] = True
        started = time.perf_counter()
        with self.mapped(model):
            response = await self.client.generate(**kwargs)
        self.reachable = True
        tally = StreamTally(logprobs=[float(lp.logprob) for lp in (response.logprobs or [])])
        return _completion(response, response.response or "", model, tally, started)

    async def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        """``/api/embed``: one vector per text."""
        model = model or self.embed_model
        with self.mapped(model):
            response = await self.client.embed(model=model, input=list(texts))
        self.reachable = True
        return [list(map(float, v)) for v in response.embeddings]

    async def list_models(self) -> list[dict[str, Any]]:
        """``/api/tags`` as ``[{name, size, modified_at, family, parameter_size, …}]``."""
        with self.mapped():
            response = await self.client.list()
        self.reachable = True
        return [_model_dict(m) for m in response.models]

    async def running_models(self) -> list[dict[str, Any]]:
        """``/api/ps``: the models loaded right now."""
        with self.mapped():
            response = await self.client.ps()
        return [_model_dict(m) for m in response.models]

    async def status(self) -> dict[str, Any]:
        """Probe ``/api/version`` and ``/api/ps`` within ``probe_timeout``; never raises.

        ``{"reachable", "host", "version", "running_models", "error"?}``
        """
        probe = self._probe_client()
        try:
            version = (await probe.get("/api/version")).raise_for_status().json()["version"]
            ps = (await probe.get("/api/ps")).raise_for_status().json()
            running = [_model_dict(m) for m in ps.get("models") or []]
        except Exception as exc:
            self.reachable = False
            self.version = None
            try:
                reason = self.backend_error(exc).backend_code
            except Exception:
                reason = type(exc).__name__
            return {
                "reachable": False,
                "host": self.host,
                "version": None,
                "running_models": [],
                "error": reason,
            }
        self.reachable = True
        self.version = str(version)
        return {
            "reachable": True,
            "host": self.host,
            "version": self.version,
            "running_models": running,
        }

    async def health(self) -> dict[str, Any]:
        status = await self.status()
        return {"state": "up" if status["reachable"] else "down", **status}


# -- helpers ---------------------------------------------------------------------------------


def _chat_part(line: str) -> dict[str, Any]:
    """One line of a streamed ``/api/chat`` body as a dict. An ``{"error": …}`` line raises
    :class:`ResponseError` (as the ``ollama`` client does); a line that is not a chat part
    raises ``ValueError`` (both mapped by :meth:`OllamaProvider.backend_error`)."""
    part = json.loads(line)
    if not isinstance(part, dict):
        raise ValueError("a chat stream line is not a JSON object")
    if error := part.get("error"):
        raise ResponseError(str(error))
    message = part.get("message")
    if message is not None and not (
        isinstance(message, dict)
        and isinstance(message.get("content") or "", str)
        and isinstance(calls := message.get("tool_calls") or [], list)
        and all(isinstance(c, dict) for c in calls)
    ):
        raise ValueError("a chat stream line has a malformed message")
    logprobs = part.get("logprobs") or []
    if not (isinstance(logprobs, list) and all(isinstance(lp, dict) for lp in logprobs)):
        raise ValueError("a chat stream line has malformed logprobs")
    return part


def _error_text(error: Any) -> str:
    text = str(error or "")
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict) and "error" in parsed:
            return str(parsed["error"])
    except ValueError:
        pass
    return text


def _tool_call_dict(call: Any) -> dict[str, Any]:
    if hasattr(call, "model_dump"):
        call = call.model_dump(exclude_none=True)
    function = dict(call.get("function") or {})
    arguments = function.get("arguments") or {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            arguments = {"_raw": arguments}
    return {"function": {"name": str(function.get("name", "")), "arguments": dict(arguments)}}


def _model_dict(model: Any) -> dict[str, Any]:
    raw = model.model_dump(exclude_none=True) if hasattr(model, "model_dump") else dict(model)
    details = raw.pop("details", None) or {}
    out: dict[str, Any] = {"name": raw.get("name") or raw.get("model")}
    for key in ("model", "size", "digest", "size_vram", "context_length"):
        if raw.get(key) is not None:
            out[key] = raw[key]
    for key in ("modified_at", "expires_at"):
        if raw.get(key) is not None:
            value = raw[key]
            out[key] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    for key in ("family", "parameter_size", "quantization_level", "format"):
        if details.get(key):
            out[key] = details[key]
    return out


def _completion(part: Any, text: str, model: str, tally: StreamTally, started: float) -> Completion:
    total = (part.total_duration or 0) * _NS or (time.perf_counter() - started)
    return Completion(
        text=text,
        model=part.model or model,
        backend="ollama",
        prompt_tokens=int(part.prompt_eval_count or 0),
        completion_tokens=int(part.eval_count or 0),
        eval_duration_s=(part.eval_duration or 0) * _NS,
        prompt_eval_duration_s=(part.prompt_eval_duration or 0) * _NS,
        load_duration_s=(part.load_duration or 0) * _NS,
        total_duration_s=total,
        done_reason=part.done_reason,
        token_logprobs=finite(tally.logprobs),
        tool_calls=tally.tool_calls,
    )
