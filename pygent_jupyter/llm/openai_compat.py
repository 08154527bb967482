"""`OpenAIProvider`: the :class:`~pygent_jupyter.llm.LLMProvider` over any OpenAI-compatible
server (vLLM, SGLang, llama.cpp's ``llama-server``, LM Studio, Ray Serve, OpenAI itself).

Built on the official ``openai`` client (``AsyncOpenAI``), one per backend:

- ``chat_stream`` / ``chat``: ``/v1/chat/completions`` (SSE when streaming, with
  ``stream_options.include_usage`` for token counts); sampling options mapped from
  :class:`~pygent_jupyter.llm.Options` (``num_predict`` -> ``max_tokens``, ``top_k`` only when
  the backend says it accepts it, ``seed``, ``stop``); tools in the OpenAI function format,
  tool calls assembled from the streamed fragments. A stream is requested through the client
  (``with_streaming_response``: auth, status errors, retries) and its SSE body decoded here
  with ``json.loads`` (:func:`_events`), without a pydantic model per chunk;
- ``generate``: a one-message chat (the chat template is the server's);
- ``embed``: ``/v1/embeddings``; ``list_models``: ``/v1/models``; ``health``: ``/v1/models``
  within ``probe_timeout``.

Failures become :class:`~pygent_jupyter.llm.errors.BackendError` with a stable
``backend_code`` (the one family of :mod:`pygent_jupyter.llm.errors`): ``unreachable``,
``timeout``, ``model_not_found``, ``bad_response``, ``rate_limited`` (after ``max_retries``
retries that wait what ``Retry-After`` says, up to ``max_retry_wait``; ``retry_after`` in the
error), ``auth_failed`` (401/403), ``server_error`` (5xx, an ``{"error": …}`` event),
``stream_broken`` (the connection died or the stream ended without a finish reason),
``bad_request`` (400/422). Text streamed before a
failure has already reached the caller. The credential lives in the client only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import openai
from openai import AsyncOpenAI

from . import ChatChunk, ChatMessage, Completion
from .backends import BackendSpec, parse_backends
from .base import BaseProvider, ChatRequest, StreamTally, finite
from .errors import BackendError, public_url

try:  # recent `openai` releases run on httpx2 (the same exception names as httpx)
    import httpx2 as _httpx2

    _HTTP_MODULES: tuple[Any, ...] = (httpx, _httpx2)
except ImportError:  # pragma: no cover - older openai on httpx
    _HTTP_MODULES = (httpx,)


def _http(*names: str) -> tuple[type[BaseException], ...]:
    """The exception classes called ``names`` in every HTTP library the client may use."""
    return tuple(getattr(m, n) for m in _HTTP_MODULES for n in names if hasattr(m, n))


_TIMEOUT = _http("TimeoutException")
_CONNECT_TIMEOUT = _http("ConnectTimeout")
_CONNECT = _http("ConnectError")
_BROKEN = _http("RemoteProtocolError", "ReadError", "WriteError", "StreamError")
_HTTP_ERROR = _http("HTTPError")

__all__ = ["OpenAIProvider", "to_openai_messages"]


class OpenAIProvider(BaseProvider):
    """One OpenAI-compatible backend (see the module docstring)."""

    kind = "openai"

    def __init__(
        self,
        spec: BackendSpec,
        api_key: str | None = None,
        *,
        probe_timeout: float = 3.0,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.base_url = spec.base_url
        self.probe_timeout = probe_timeout
        self._api_key = api_key
        self._client: AsyncOpenAI | None = None
        #: the outcome of the last probe or call: True, False or None (never tried)
        self.reachable: bool | None = None
        _ = self.client  # build it (and its lazy imports) at configuration time

    @classmethod
    def connect(
        cls,
        base_url: str,
        *,
        model: str,
        api_key: str | None = None,
        api_key_env: str = "",
        name: str = "openai",
        **options: Any,
    ) -> OpenAIProvider:
        """A provider for notebooks and scripts (e.g. ``solve(..., provider=llm)``):
        ``base_url`` (…/v1), the default ``model``, the key given or read from ``api_key_env``;
        ``options`` are the other backend keys (``timeout``, ``top_k``, ``logprobs``…)."""
        from .backends import read_credential

        [spec] = parse_backends(
            [
                {
                    "name": name,
                    "kind": "openai",
                    "base_url": base_url,
                    "default_model": model,
                    **({"api_key_env": api_key_env} if api_key_env else {}),
                    **options,
                }
            ]
        )
        return cls(spec, api_key if api_key is not None else read_credential(spec))

    def __repr__(self) -> str:  # never the key
        return f"OpenAIProvider(name={self.name!r}, base_url={public_url(self.base_url)!r})"

    @property
    def default_model(self) -> str:
        return self.spec.default_model

    @property
    def client(self) -> AsyncOpenAI:
        if self._client is None:
            self._client = AsyncOpenAI(
                # a server without auth still needs a non-empty key for the client
                api_key=self._api_key or "not-needed",
                base_url=self.base_url,
                timeout=openai.Timeout(self.spec.timeout, connect=self.spec.connect_timeout),
                max_retries=0,  # 429 retries are ours (Retry-After honoured, bounded)
                default_headers=dict(self.spec.headers) or None,
            )
            # the client imports its resources lazily (a second or more on a busy machine):
            # do it now, not inside the first health probe's time budget
            _ = (self._client.chat.completions, self._client.models, self._client.embeddings)
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    # -- errors ------------------------------------------------------------------------------

    def backend_error(self, exc: Exception, model: str | None = None) -> BackendError:
        """Map a client/transport exception to a :class:`BackendError` (re-raise others)."""
        if isinstance(exc, BackendError):
            return exc
        where = f"backend {self.name!r} at {public_url(self.base_url)}"

        def make(code: str, message: str, retry_after: float | None = None) -> BackendError:
            return BackendError(
                code,
                message,
                backend=self.name,
                url=self.base_url,
                model=model,
                retry_after=retry_after,
            )

        if isinstance(exc, (openai.APITimeoutError, *_TIMEOUT)):
            if isinstance(exc, _CONNECT_TIMEOUT):
                self.reachable = False
                return make("unreachable", f"{where} is not reachable (connect timeout)")
            return make("timeout", f"{where} did not answer within {self.spec.timeout:g} s")
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            if isinstance(cause, _TIMEOUT) and not isinstance(cause, _CONNECT_TIMEOUT):
                return make("timeout", f"{where} did not answer within {self.spec.timeout:g} s")
            if isinstance(cause, _BROKEN):
                return make("stream_broken", f"the connection to {where} broke mid-response")
            self.reachable = False
            return make("unreachable", f"{where} is not reachable")
        if isinstance(exc, (*_CONNECT, ConnectionRefusedError)):
            self.reachable = False
            return make("unreachable", f"{where} is not reachable")
        if isinstance(exc, openai.APIStatusError):
            self.reachable = True
            status = exc.status_code
            detail = _status_text(exc)
            if status in (401, 403):
                return make(
                    "auth_failed",
                    f"{where} refused the credential (HTTP {status}); the administrator must "
                    "check the backend's api_key_env / api_key_file",
                )
            if status == 404:
                name = model or "?"
                return make(
                    "model_not_found",
                    f"model {name!r} is not served by {where}: pick one of its /v1/models",
                )
            if status == 429:
                return make(
                    "rate_limited",
                    f"{where} is rate limiting requests (HTTP 429): {detail}",
                    retry_after=_retry_after(exc.response),
                )
            if status in (400, 413, 422):
                return make("bad_request", f"{where} rejected the request: {detail}")
            return make("server_error", f"{where} answered with HTTP {status}: {detail}")
        if isinstance(exc, _BROKEN):
            return make("stream_broken", f"the connection to {where} broke mid-response")
        if isinstance(exc, _StreamError):
            return make("server_error", f"{where} failed mid-answer: {exc}")
        if isinstance(
            exc,
            (
                openai.APIResponseValidationError,
                openai.APIError,
                json.JSONDecodeError,
                ValueError,
                TypeError,
                KeyError,
                AttributeError,
            ),
        ):
            return make("bad_response", f"{where} sent a response that is not the OpenAI API's")
        if isinstance(exc, _HTTP_ERROR):
            return make("server_error", f"HTTP failure talking to {where}: {type(exc).__name__}")
        raise exc

    async def _create(self, model: str, *, stream: bool = False, **kwargs: Any) -> Any:
        """``chat.completions.create`` with bounded 429 retries that honour Retry-After.

        With ``stream``, the open HTTP response (``with_streaming_response``): the client has
        sent the request, checked the status and retried; the body is read by :func:`_events`.
        """
        attempt = 0
        completions = self.client.chat.completions
        while True:
            try:
                if stream:
                    opened = completions.with_streaming_response.create(
                        model=model, stream=True, **kwargs
                    )
                    return await opened.__aenter__()
                return await completions.create(model=model, **kwargs)
            except openai.RateLimitError as exc:
                wait = _retry_after(exc.response)
                if attempt >= self.spec.max_retries or (
                    wait is not None and wait > self.spec.max_retry_wait
                ):
                    raise
                attempt += 1
                await asyncio.sleep(wait if wait is not None else min(8.0, 0.5 * 2**attempt))

    def _request(self, request: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"messages": to_openai_messages(request.messages)}
        extra: dict[str, Any] = {}
        for key, value in (request.options or {}).items():
            if value is None:
                continue
            if key == "num_predict":
                if int(value) > 0:  # type: ignore[call-overload]
                    kwargs["max_tokens"] = int(value)  # type: ignore[call-overload]
            elif key in ("temperature", "top_p", "seed", "stop"):
                kwargs[key] = value
            elif key == "top_k" and self.spec.top_k:
                extra["top_k"] = value
        if request.tools and self.spec.tools:
            kwargs["tools"] = [_tool_spec(t) for t in request.tools]
        if self.spec.logprobs:
            kwargs["logprobs"] = True
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    # -- LLMProvider -------------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream the answer; the final chunk carries the :class:`Completion`.

        The SSE body is decoded here with ``json.loads`` into plain dicts: the client's
        per-chunk pydantic models cost more than everything else on the per-token path.
        """
        model = request.model
        kwargs = self._request(request)
        if self.spec.stream_usage:
            kwargs["stream_options"] = {"include_usage": True}
        tally = StreamTally()
        calls: dict[int, dict[str, Any]] = {}
        usage: dict[str, Any] = {}
        finish: str | None = None
        served_model = model
        response: Any = None
        try:
            with self.mapped(model):
                response = await self._create(model, stream=True, **kwargs)
                async for chunk in _events(response.iter_lines()):
                    self.reachable = True
                    served_model = chunk.get("model") or served_model
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or ():
                        finish = choice.get("finish_reason") or finish
                        lps = _choice_logprobs(choice)
                        tally.logprobs.extend(lps)
                        delta = choice.get("delta")
                        if not delta:
                            continue
                        for call in delta.get("tool_calls") or ():
                            _merge_call(calls, call)
                        content = delta.get("content")
                        if content:
                            yield tally.delta(content, lps)
        finally:
            # left early (cancel, aclose) or failed: give the connection back now
            if response is not None:
                await _close_quietly(response)
        if finish is None:
            raise BackendError(
                "stream_broken",
                f"backend {self.name!r} ended the stream without a finish reason",
                backend=self.name,
                url=self.base_url,
                model=model,
            )
        end = time.perf_counter()
        first = tally.first or end
        completion = Completion(
            text=tally.answer,
            model=served_model,
            backend=self.name,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or len(tally.text)),
            eval_duration_s=end - first,
            prompt_eval_duration_s=first - tally.started,
            total_duration_s=end - tally.started,
            done_reason="tool_calls" if calls and finish == "tool_calls" else finish,
            token_logprobs=finite(tally.logprobs),
            tool_calls=[_finish_call(calls[i]) for i in sorted(calls)],
        )
        yield ChatChunk(delta="", done=True, completion=completion)

    async def complete(self, request: ChatRequest) -> Completion:
        """One non-streaming ``/v1/chat/completions`` call."""
        model = request.model
        started = time.perf_counter()
        with self.mapped(model):
            response = await self._create(model, **self._request(request))
            self.reachable = True
            choice = response.choices[0]
            message = choice.message
            calls = [
                _finish_call(
                    {
                        "id": c.id,
                        "name": c.function.name,
                        "arguments": c.function.arguments or "",
                    }
                )
                for c in (message.tool_calls or ())
                if getattr(c, "function", None) is not None
            ]
            usage = response.usage
            lps = _choice_logprobs(choice)
        total = time.perf_counter() - started
        return Completion(
            text=message.content or "",
            model=response.model or model,
            backend=self.name,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            eval_duration_s=total,
            total_duration_s=total,
            done_reason=choice.finish_reason,
            token_logprobs=finite(lps),
            tool_calls=calls,
        )

    async def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        """``/v1/embeddings``: one vector per text, in input order."""
        model = model or self.spec.embed_model or self.default_model
        with self.mapped(model):
            response = await self.client.embeddings.create(model=model, input=list(texts))
            data = sorted(response.data, key=lambda d: d.index)
            vectors = [[float(v) for v in d.embedding] for d in data]
        if len(vectors) != len(texts):
            raise BackendError(
                "bad_response",
                f"backend {self.name!r} returned {len(vectors)} embeddings for {len(texts)} texts",
                backend=self.name,
                url=self.base_url,
                model=model,
            )
        self.reachable = True
        return vectors

    async def list_models(self) -> list[dict[str, Any]]:
        """``/v1/models`` as ``[{name, owned_by?, created?, backend, tools}]``."""
        with self.mapped():
            page = await self.client.models.list()
            models = [m async for m in page]
        self.reachable = True
        out = []
        for m in models:
            entry: dict[str, Any] = {"name": m.id, "backend": self.name, "tools": self.spec.tools}
            owned = getattr(m, "owned_by", None)
            if owned:
                entry["owned_by"] = str(owned)
            extra = getattr(m, "max_model_len", None)
            if isinstance(extra, int):
                entry["context_length"] = extra
            out.append(entry)
        return out

    async def health(self) -> dict[str, Any]:
        """Probe ``/v1/models`` within ``probe_timeout``; never raises."""
        base = {"backend": self.name, "kind": self.kind, "base_url": public_url(self.base_url)}
        try:
            client = self.client.with_options(
                timeout=openai.Timeout(
                    self.probe_timeout, connect=min(self.probe_timeout, self.spec.connect_timeout)
                ),
                max_retries=0,
            )
            await client.models.list()
        except Exception as exc:
            self.reachable = False
            try:
                reason = self.backend_error(exc).backend_code
            except Exception:
                reason = type(exc).__name__
            return {"state": "down", **base, "reachable": False, "error": reason}
        self.reachable = True
        return {"state": "up", **base, "reachable": True}


# -- helpers ---------------------------------------------------------------------------------


def to_openai_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Our (Ollama-shaped) messages -> OpenAI chat messages.

    Assistant ``tool_calls`` get ``id`` (kept from the model's call, else made up) and JSON
    ``arguments``; each following ``tool`` message is matched, in order, to those ids.
    """
    out: list[dict[str, Any]] = []
    pending: list[str] = []
    for n, message in enumerate(messages):
        role = message.get("role", "user")
        content = message.get("content", "")
        if role == "assistant" and message.get("tool_calls"):
            calls = []
            pending = []
            for k, call in enumerate(message.get("tool_calls") or []):
                function = call.get("function") or {}
                call_id = str(call.get("id") or f"call_{n}_{k}")
                pending.append(call_id)
                arguments = function.get("arguments", {})
                calls.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {
                            "name": str(function.get("name", "")),
                            "arguments": arguments
                            if isinstance(arguments, str)
                            else json.dumps(arguments),
                        },
                    }
                )
            out.append({"role": "assistant", "content": content or None, "tool_calls": calls})
        elif role == "tool":
            call_id = pending.pop(0) if pending else f"call_{n}"
            out.append({"role": "tool", "tool_call_id": call_id, "content": content})
        else:
            out.append({"role": role, "content": content})
    return out


def _tool_spec(spec: dict[str, Any]) -> dict[str, Any]:
    function = dict(spec.get("function") or {})
    function.setdefault("parameters", {"type": "object", "properties": {}})
    return {"type": "function", "function": function}


async def _events(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects of a chat completion's server-sent events, up to ``[DONE]``; the rest
    of the body is read (so the connection can be reused). An error event raises
    ``server_error``; a payload that is not a JSON object, ``bad_response``."""
    data: list[str] = []
    event = ""
    done = False
    async for line in lines:
        if line:
            if line.startswith(":"):
                continue  # an SSE comment (keep-alive)
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
            continue
        if not data or done:
            data, event = [], ""
            continue
        text, data = "\n".join(data), []
        if text.startswith("[DONE]"):
            done = True
            continue
        chunk = json.loads(text)
        if not isinstance(chunk, dict):
            raise ValueError("an event that is not a JSON object")
        if chunk.get("error") or event == "error":
            raise _StreamError(chunk.get("error") or chunk)
        event = ""
        yield chunk


class _StreamError(Exception):
    """An ``{"error": …}`` event in the middle of a stream."""

    def __init__(self, error: Any) -> None:
        message = error.get("message") if isinstance(error, dict) else None
        super().__init__(str(message or error)[:300])


def _merge_call(calls: dict[int, dict[str, Any]], delta: dict[str, Any]) -> None:
    """Add one streamed tool-call fragment (``index``, ``id``, name, argument text)."""
    index = int(delta.get("index") or 0)
    entry = calls.setdefault(index, {"id": None, "name": "", "arguments": ""})
    if delta.get("id"):
        entry["id"] = delta["id"]
    function = delta.get("function")
    if function:
        entry["name"] += function.get("name") or ""
        entry["arguments"] += function.get("arguments") or ""


def _finish_call(entry: dict[str, Any]) -> dict[str, Any]:
    text = entry.get("arguments") or ""
    try:
        arguments = json.loads(text) if text.strip() else {}
    except ValueError:
        arguments = {"_raw": text}
    if not isinstance(arguments, dict):
        arguments = {"_value": arguments}
    call: dict[str, Any] = {
        "function": {"name": str(entry.get("name", "")), "arguments": arguments}
    }
    if entry.get("id"):
        call["id"] = str(entry["id"])
    return call


def _choice_logprobs(choice: Any) -> list[float]:
    """The token log-probs of a choice (a client model, or a dict from :func:`_events`)."""
    if isinstance(choice, dict):
        content = (choice.get("logprobs") or {}).get("content")
        return [float(t["logprob"]) for t in content or () if t.get("logprob") is not None]
    lp = getattr(choice, "logprobs", None)
    content = getattr(lp, "content", None) if lp is not None else None
    return [float(t.logprob) for t in content or () if getattr(t, "logprob", None) is not None]


def _retry_after(response: Any) -> float | None:
    """Seconds from ``Retry-After`` (or ``retry-after-ms``); None when absent or unparsable."""
    if response is None:
        return None
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        if "retry-after" in headers:
            return max(0.0, float(headers["retry-after"]))
    except ValueError:
        return None
    return None


def _status_text(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error)[:300]
        return str(error)[:300]
    return str(getattr(exc, "message", "") or exc)[:300]


async def _close_quietly(stream: Any) -> None:
    with contextlib.suppress(BaseException):
        await asyncio.shield(stream.close())
