"""Named LLM backends configured by the admin, their credentials, health and the choice.

An admin lists backends in ``c.AgentsService.backends``; each entry is a dict parsed by
:func:`parse_backends` into a :class:`BackendSpec`::

    c.AgentsService.backends = [
        {"name": "gpu", "kind": "openai", "base_url": "http://vllm.internal:8000/v1",
         "api_key_env": "VLLM_API_KEY", "default_model": "Qwen/Qwen2.5-7B-Instruct"},
        {"name": "ollama", "kind": "ollama"},
    ]

``kind`` is ``openai`` (any OpenAI-compatible server), ``ollama`` or ``local`` (the embedded
model). A credential comes from the environment variable ``api_key_env`` or the file
``api_key_file``; it is read on the server, handed to the HTTP client, and never put into
:meth:`BackendSpec.public`, an event, an error or a log line.

:class:`BackendRegistry` holds the providers by name in the admin's order and what their last
probe found. :meth:`BackendRegistry.choose` picks the backend that answers: the one asked for,
else the first reachable one in order (waiting, bounded, for first probes still in flight, and
re-probing a preferred backend that was down before passing it over), else the embedded
model; every pass-over is returned as a :class:`Fallback` for the caller to announce.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..protocol import ErrorCode, PygentError
from . import ChatChunk, Completion, LLMProvider, Options
from .base import BaseProvider, ChatRequest
from .errors import BackendError, public_url

if TYPE_CHECKING:
    import logging

    from .local import LocalProvider
    from .ollama import OllamaProvider

__all__ = [
    "KINDS",
    "BackendError",
    "BackendRegistry",
    "BackendSpec",
    "BackendState",
    "Fallback",
    "MeteredProvider",
    "build_registry",
    "parse_backends",
    "public_url",
    "read_credential",
]

KINDS = ("openai", "ollama", "local")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class BackendSpec:
    """One configured backend. See the module docstring for the dict it is parsed from."""

    name: str
    kind: str
    base_url: str = ""
    api_key_env: str = ""
    api_key_file: str = ""
    default_model: str = ""
    embed_model: str = ""
    #: models offered to users; empty: whatever ``/v1/models`` lists
    models: tuple[str, ...] = ()
    #: whether models of this backend may be offered tools (function calling)
    tools: bool = True
    #: seconds to wait for the next piece of an answer
    timeout: float = 120.0
    connect_timeout: float = 3.0
    #: 429 answers retried (honouring ``Retry-After``) before ``rate_limited`` is raised
    max_retries: int = 2
    #: longest ``Retry-After`` waited for; a longer one is raised at once
    max_retry_wait: float = 20.0
    #: ask for ``stream_options.include_usage`` (OpenAI, vLLM, llama.cpp, SGLang support it)
    stream_usage: bool = True
    #: send ``top_k`` in the request body (vLLM, llama.cpp, SGLang accept it; OpenAI rejects it)
    top_k: bool = False
    #: ask for token log-probabilities (for the answer's confidence)
    logprobs: bool = False
    #: non-secret extra HTTP headers (e.g. an ``OpenAI-Organization``)
    headers: tuple[tuple[str, str], ...] = ()

    def public(self) -> dict[str, Any]:
        """What clients may see: never the credential or where it is kept."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.base_url:
            out["base_url"] = public_url(self.base_url)
        if self.default_model:
            out["default_model"] = self.default_model
        out["tools"] = self.tools
        return out


_FIELDS = {
    "name": str,
    "kind": str,
    "base_url": str,
    "api_key_env": str,
    "api_key_file": str,
    "default_model": str,
    "embed_model": str,
    "models": list,
    "tools": bool,
    "timeout": (int, float),
    "connect_timeout": (int, float),
    "max_retries": int,
    "max_retry_wait": (int, float),
    "stream_usage": bool,
    "top_k": bool,
    "logprobs": bool,
    "headers": dict,
}


def parse_backends(raw: Sequence[Any]) -> list[BackendSpec]:
    """Validate the admin's backend list. Raises ``ValueError`` naming the bad entry/key."""
    specs: list[BackendSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        where = f"backends[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be a dict, got {type(entry).__name__}")
        unknown = set(entry) - set(_FIELDS) - {"api_key"}
        if unknown:
            raise ValueError(
                f"{where} has unknown keys {sorted(unknown)}; known: {sorted(_FIELDS)}"
            )
        if "api_key" in entry:
            raise ValueError(
                f"{where}: do not put a credential in the config; name an environment variable "
                "(api_key_env) or a file (api_key_file)"
            )
        for key, value in entry.items():
            expected = _FIELDS[key]
            if isinstance(value, bool) and expected in ((int, float), int):
                raise ValueError(f"{where}.{key} must be a number")
            if not isinstance(value, expected):  # type: ignore[arg-type]
                raise ValueError(f"{where}.{key} has the wrong type ({type(value).__name__})")
        name = str(entry.get("name", ""))
        if not _NAME.match(name):
            raise ValueError(f"{where}.name must be 1-64 letters, digits, '_', '.', '-'")
        if name in seen:
            raise ValueError(f"{where}: backend name {name!r} is used twice")
        seen.add(name)
        kind = str(entry.get("kind", "openai"))
        if kind not in KINDS:
            raise ValueError(f"{where}.kind must be one of {KINDS}")
        base_url = str(entry.get("base_url", "")).rstrip("/")
        if kind == "openai":
            if not base_url:
                raise ValueError(f"{where}: an openai backend needs base_url (…/v1)")
            if urlsplit(base_url).scheme not in ("http", "https"):
                raise ValueError(f"{where}.base_url must be an http(s) URL")
        headers = entry.get("headers") or {}
        for key in headers:
            if key.lower() in ("authorization", "api-key", "x-api-key"):
                raise ValueError(f"{where}.headers: credentials go in api_key_env/api_key_file")
        models = tuple(str(m) for m in entry.get("models") or ())
        specs.append(
            BackendSpec(
                name=name,
                kind=kind,
                base_url=base_url,
                api_key_env=str(entry.get("api_key_env", "")),
                api_key_file=str(entry.get("api_key_file", "")),
                default_model=str(entry.get("default_model", "") or (models[0] if models else "")),
                embed_model=str(entry.get("embed_model", "")),
                models=models,
                tools=bool(entry.get("tools", True)),
                timeout=float(entry.get("timeout", 120.0)),
                connect_timeout=float(entry.get("connect_timeout", 3.0)),
                max_retries=max(0, int(entry.get("max_retries", 2))),
                max_retry_wait=float(entry.get("max_retry_wait", 20.0)),
                stream_usage=bool(entry.get("stream_usage", True)),
                top_k=bool(entry.get("top_k", False)),
                logprobs=bool(entry.get("logprobs", False)),
                headers=tuple((str(k), str(v)) for k, v in headers.items()),
            )
        )
    return specs


def read_credential(spec: BackendSpec, environ: dict[str, str] | None = None) -> str | None:
    """The backend's secret from ``api_key_env`` or ``api_key_file`` (stripped); None if neither
    is set. Raises ``ValueError`` (without the secret) when a named source is missing/empty."""
    env = os.environ if environ is None else environ
    if spec.api_key_env:
        value = env.get(spec.api_key_env, "").strip()
        if not value:
            raise ValueError(
                f"backend {spec.name!r}: environment variable {spec.api_key_env} is not set"
            )
        return value
    if spec.api_key_file:
        try:
            value = Path(spec.api_key_file).expanduser().read_text().strip()
        except OSError as exc:
            raise ValueError(
                f"backend {spec.name!r}: cannot read api_key_file ({exc.strerror})"
            ) from None
        if not value:
            raise ValueError(f"backend {spec.name!r}: api_key_file is empty")
        return value
    return None


def build_registry(
    entries: Sequence[Any],
    *,
    ollama: OllamaProvider,
    local: LocalProvider,
    probe_timeout: float = 3.0,
    log: logging.Logger | None = None,
) -> tuple[BackendRegistry, str | None]:
    """The providers of the admin's backend list, and the configuration error to report at
    start (None when the list is valid). An invalid or empty list gives the default: Ollama,
    then the embedded model. ``ollama`` and ``local`` are the two providers of those kinds
    (the ``ollama`` entry's ``base_url``/``default_model`` are applied to it). A backend whose
    credential cannot be read stays listed (its probe reports ``auth_failed``)."""
    from .ollama import normalize_host

    registry = BackendRegistry()
    error: str | None = None
    try:
        specs = parse_backends(entries)
    except ValueError as exc:
        error = str(exc)
        specs = []
    if not entries or error:
        specs = [BackendSpec("ollama", "ollama")]
    if not any(s.kind == "local" for s in specs):
        specs.append(BackendSpec("local", "local", tools=False))
    for spec in specs:
        provider: LLMProvider
        if spec.kind == "ollama":
            if spec.name != "ollama" or any(s.kind == "ollama" and s is not spec for s in specs):
                error = "there is one Ollama backend and it is named 'ollama'"
                continue
            if spec.base_url:
                ollama.host = normalize_host(spec.base_url)
            if spec.default_model:
                ollama.model = spec.default_model
            provider = ollama
        elif spec.kind == "local":
            if spec.name != "local":
                error = "the embedded backend is named 'local'"
                continue
            provider = local
        else:
            from .openai_compat import OpenAIProvider

            try:
                key = read_credential(spec)
            except ValueError as exc:
                # one backend's missing credential must not take chat down
                if log is not None:
                    log.error("pygent: %s", exc)
                key = None
            provider = OpenAIProvider(spec, key, probe_timeout=probe_timeout)
        registry.add(spec, provider)
    return registry, error


@dataclass
class BackendState:
    """What the last probe of one backend found."""

    reachable: bool | None = None
    models: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    checked: float = 0.0  # time.monotonic() of the last probe, 0: never
    version: str | None = None


@dataclass
class Fallback:
    """A backend passed over while choosing, and why (announced to the user)."""

    skipped: str
    chosen: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"from": self.skipped, "to": self.chosen, "reason": self.reason}


Prober = Callable[[LLMProvider], Any]


class BackendRegistry:
    """Providers by backend name, in the admin's order, with their probe state."""

    def __init__(self) -> None:
        self.providers: dict[str, LLMProvider] = {}
        self.specs: dict[str, BackendSpec] = {}
        self.states: dict[str, BackendState] = {}
        self._first: dict[str, asyncio.Future[Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def add(self, spec: BackendSpec, provider: LLMProvider) -> None:
        self.providers[spec.name] = provider
        self.specs[spec.name] = spec
        self.states.setdefault(spec.name, BackendState())

    def names(self) -> list[str]:
        return list(self.providers)

    def get(self, name: str) -> LLMProvider | None:
        return self.providers.get(name)

    def kind(self, name: str) -> str:
        spec = self.specs.get(name)
        return spec.kind if spec else "custom"

    # -- probing ----------------------------------------------------------------------------

    async def probe(self, name: str) -> BackendState:
        """Ask the backend's ``health()`` and, when up, ``list_models()``; never raises."""
        provider = self.providers[name]
        state = self.states.setdefault(name, BackendState())
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            try:
                health = await provider.health()
                up = health.get("state") == "up"
                state.error = None if up else str(health.get("error") or "down")
                state.version = health.get("version")
                if up:
                    try:
                        state.models = await self._models(name, provider)
                    except PygentError as exc:
                        state.models = []
                        state.error = exc.message
                state.reachable = up
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a provider bug must not kill the monitor
                state.reachable = False
                state.error = type(exc).__name__
            state.checked = time.monotonic()
        return state

    async def _models(self, name: str, provider: LLMProvider) -> list[dict[str, Any]]:
        spec = self.specs[name]
        listed = await provider.list_models()
        out = []
        allowed = set(spec.models)
        for model in listed:
            model_name = str(model.get("name") or "")
            if not model_name or (allowed and model_name not in allowed):
                continue
            entry = dict(model)
            entry["backend"] = name
            entry.setdefault("tools", spec.tools and spec.kind != "local")
            out.append(entry)
        return out

    def mark_down(self, name: str, reason: str) -> None:
        """Record that a call just found ``name`` unreachable (until the next probe)."""
        state = self.states.setdefault(name, BackendState())
        state.reachable = False
        state.error = reason
        state.checked = time.monotonic()

    def start_first_probes(self) -> None:
        """Probe every backend once in the background (call on the running loop)."""
        for name in self.providers:
            if name not in self._first:
                self._first[name] = asyncio.ensure_future(self.probe(name))

    async def wait_first_probes(self, timeout: float) -> None:
        """Wait, at most ``timeout`` seconds, for first probes still in flight."""
        pending = [f for f in self._first.values() if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def probe_all(self) -> dict[str, BackendState]:
        await asyncio.gather(*(self.probe(n) for n in self.providers))
        return self.states

    async def aclose(self) -> None:
        for future in self._first.values():
            future.cancel()
            with contextlib.suppress(BaseException):
                await future
        self._first.clear()

    # -- choice -----------------------------------------------------------------------------

    async def choose(
        self,
        order: Sequence[str],
        *,
        first_probe_wait: float,
        recheck_after: float,
    ) -> tuple[str, list[Fallback]]:
        """The first backend of ``order`` that is reachable; the last one (the embedded model)
        when none is. A backend whose first probe is pending is waited for (at most
        ``first_probe_wait`` s); one found down more than ``recheck_after`` s ago is probed
        again before it is passed over. Returns the choice and what was passed over."""
        await self.wait_first_probes(first_probe_wait)
        skipped: list[tuple[str, str]] = []
        for i, name in enumerate(order):
            last = i == len(order) - 1
            state = self.states.get(name) or BackendState()
            never = state.reachable is None and (
                name not in self._first or self._first[name].done()
            )
            stale = state.reachable is False and time.monotonic() - state.checked > recheck_after
            if not last and (never or stale):
                state = await self.probe(name)  # re-check before passing it over
            if state.reachable or last:
                return name, [Fallback(s, name, why) for s, why in skipped]
            if state.reachable is None:
                why = f"no answer to its first health probe within {first_probe_wait:g} s"
            else:
                why = state.error or "unreachable"
            skipped.append((name, why))
        raise PygentError(ErrorCode.UNAVAILABLE, "no language model backend is configured")

    def describe(self, active: str | None = None) -> list[dict[str, Any]]:
        """Every backend as clients see it: name, kind, URL, reachable, models, error."""
        out = []
        for name, provider in self.providers.items():
            spec = self.specs[name]
            state = self.states.get(name) or BackendState()
            entry = spec.public()
            entry["reachable"] = state.reachable
            entry["default_model"] = spec.default_model or _default_model(provider)
            entry["models"] = state.models
            if state.error:
                entry["error"] = state.error
            if state.version:
                entry["version"] = state.version
            entry["active"] = name == active
            out.append(entry)
        return out


def _default_model(provider: LLMProvider) -> str:
    try:
        return str(provider.default_model or "")
    except Exception:
        return ""


UsageSink = Callable[[Completion], Any]


class MeteredProvider(BaseProvider):
    """An :class:`LLMProvider` that reports every finished call's :class:`Completion` to
    ``on_usage`` (usage accounting for reasoning runs and evolution), and answers with
    ``model`` when a call names none."""

    def __init__(
        self, inner: LLMProvider, on_usage: UsageSink, *, model: str | None = None
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = model
        self.on_usage = on_usage

    @property
    def default_model(self) -> str:
        return self.model or self.inner.default_model

    def _report(self, completion: Completion) -> None:
        with contextlib.suppress(Exception):  # accounting never breaks a run
            self.on_usage(completion)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        stream = self.inner.chat_stream(
            request.messages, model=request.model, options=request.options, tools=request.tools
        )
        try:
            async for chunk in stream:
                if chunk.done and chunk.completion is not None:
                    self._report(chunk.completion)
                yield chunk
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    async def complete(self, request: ChatRequest) -> Completion:
        completion = await self.inner.chat(
            request.messages, model=request.model, options=request.options, tools=request.tools
        )
        self._report(completion)
        return completion

    async def generate(
        self, prompt: str, *, model: str | None = None, options: Options | None = None
    ) -> Completion:
        completion = await self.inner.generate(prompt, model=model or self.model, options=options)
        self._report(completion)
        return completion

    async def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        return await self.inner.embed(texts, model=model)

    async def list_models(self) -> list[dict[str, Any]]:
        return await self.inner.list_models()

    async def health(self) -> dict[str, Any]:
        return await self.inner.health()
