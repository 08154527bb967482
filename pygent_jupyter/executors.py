"""Where fitness evaluations and batch items run: this process, a local process pool, or Dask.

``as_executor(x)`` turns what a user passes as ``executor=`` into an :class:`Executor`:

- ``None`` or ``"inprocess"``: ``None``, meaning "in this process, as before" (async work
  concurrent on the event loop, sync work inline or in a thread);
- ``"processes"`` (or a :class:`concurrent.futures.ProcessPoolExecutor`): a local process pool;
- a ``distributed.Client``, a Dask cluster object with ``get_client()`` (``LocalCluster``,
  Dask Gateway's ``GatewayCluster``) or a scheduler address (``"tcp://host:8786"``): a Dask
  cluster.

An executor runs *top-level* worker functions (``fn(*args)``) and streams their outcomes back
as they finish (:class:`Batch`), so callers can publish progress per item. Functions and
objects sent to remote workers are pickled with cloudpickle; :func:`check_picklable` names the
captured variable or attribute that cannot be sent. Nothing in this module logs or prints task
arguments; model credentials never travel in tasks (see :class:`BackendSpec`).
"""

from __future__ import annotations

import abc
import asyncio
import collections
import concurrent.futures
import contextlib
import hashlib
import inspect
import os
import pickle
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BackendSpec",
    "Batch",
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "ProcessExecutor",
    "UnpicklableError",
    "WorkerProvider",
    "as_executor",
    "backend_spec",
    "check_picklable",
    "resolve",
    "run_on_worker_loop",
    "worker_provider",
]

#: address schemes that name a Dask scheduler
DASK_SCHEMES = ("tcp://", "tls://", "inproc://", "ucx://", "ws://", "wss://")


class ExecutorError(RuntimeError):
    """The executor itself failed (cluster unreachable, a task lost or not loadable on a
    worker) as opposed to the user's function raising, which callers handle per item."""


class UnpicklableError(TypeError):
    """A function or object cannot be sent to worker processes; the message names why."""


# -- pickling --------------------------------------------------------------------------------


def _dumps(obj: Any) -> bytes:
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - cloudpickle comes with distributed
        return pickle.dumps(obj)
    data: bytes = cloudpickle.dumps(obj)
    return data


def _culprits(obj: Any) -> list[str]:
    """Names of the captured variables / globals / attributes of ``obj`` that do not pickle."""
    found: list[str] = []
    fn = obj
    if not inspect.isfunction(fn) and not inspect.ismethod(fn):
        fn = getattr(type(obj), "__call__", None) if not inspect.isclass(obj) else None  # noqa: B004
        for name, value in list(getattr(obj, "__dict__", {}).items())[:200]:
            try:
                _dumps(value)
            except Exception as exc:
                found.append(f"attribute {name!r} ({type(value).__name__}: {exc})")
        if found:
            return found
    if inspect.ismethod(fn):
        fn = fn.__func__
    if not inspect.isfunction(fn):
        return found
    code = fn.__code__
    for name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=False):
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        try:
            _dumps(value)
        except Exception as exc:
            found.append(f"captured variable {name!r} ({type(value).__name__}: {exc})")
    for name in code.co_names:
        if name in fn.__globals__:
            value = fn.__globals__[name]
            if inspect.ismodule(value):
                continue
            try:
                _dumps(value)
            except Exception as exc:
                found.append(f"global {name!r} ({type(value).__name__}: {exc})")
    return found


def check_picklable(obj: Any, what: str = "the function") -> bytes:
    """Pickle ``obj`` for a worker (cloudpickle) and return the bytes.

    Raises :class:`UnpicklableError` naming the captured variable, global or attribute that
    cannot be pickled (open files, locks, sockets, live clients, generators…).
    """
    try:
        return _dumps(obj)
    except Exception as exc:
        label = getattr(obj, "__qualname__", None) or type(obj).__name__
        culprits = _culprits(obj)
        cause = "; ".join(culprits[:3]) if culprits else f"{type(exc).__name__}: {exc}"
        raise UnpicklableError(
            f"{what} {label!r} cannot be sent to worker processes because it cannot be "
            f"pickled: {cause}. Create such objects inside the function (or in a module the "
            "workers import) instead of capturing them."
        ) from exc


@dataclass(frozen=True)
class _Shipped:
    """A pickled function sent to a process pool once per task; loaded once per process."""

    digest: str
    blob: bytes = field(repr=False)


_LOADED: dict[str, Any] = {}
_LOADED_LOCK = threading.Lock()


def resolve(handle: Any) -> Any:
    """On a worker: the object a worker function was given (unwraps what ``prepare`` made)."""
    if isinstance(handle, _Shipped):
        with _LOADED_LOCK:
            if handle.digest not in _LOADED:
                if len(_LOADED) > 16:
                    _LOADED.clear()
                _LOADED[handle.digest] = pickle.loads(handle.blob)
            return _LOADED[handle.digest]
    return handle


_WORKER_LOOPS = threading.local()


def run_on_worker_loop(awaitable: Any) -> Any:
    """On a worker thread: run a coroutine on that thread's own persistent event loop, so that
    clients bound to a loop (httpx in model providers) are reused across tasks."""
    loop = getattr(_WORKER_LOOPS, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _WORKER_LOOPS.loop = loop
    return loop.run_until_complete(awaitable)


# -- the seam ----------------------------------------------------------------------------------


class Batch(abc.ABC):
    """Tasks submitted together; outcomes come back in completion order.

    ``submit(tag, fn, *args)`` starts ``fn(*args)`` where the executor runs things;
    ``await next()`` returns ``(tag, value, error)`` of the next finished task (``error`` is
    the exception the task raised, or an :class:`ExecutorError`), or ``None`` after
    ``timeout`` seconds or a :meth:`wake`. ``cancel()`` cancels everything still pending.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ready: collections.deque[tuple[Any, Any, BaseException | None] | None] = (
            collections.deque()
        )
        self._waiter: asyncio.Future[None] | None = None
        self.pending = 0

    @abc.abstractmethod
    def submit(self, tag: Any, fn: Callable[..., Any], *args: Any) -> None: ...

    @abc.abstractmethod
    async def cancel(self) -> None: ...

    def _push(self, item: tuple[Any, Any, BaseException | None] | None) -> None:
        self._ready.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _deliver(self, tag: Any, value: Any, error: BaseException | None) -> None:
        """Thread-safe: hand one outcome to the loop."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self._loop.call_soon_threadsafe(self._push, (tag, value, error))

    def wake(self) -> None:
        """Thread-safe: make a waiting :meth:`next` return ``None`` now."""
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._push, None)

    async def next(
        self, timeout: float | None = None
    ) -> tuple[Any, Any, BaseException | None] | None:
        if not self._ready:
            # a plain future, not wait_for: a cancellation of the caller is never swallowed
            waiter = self._waiter = self._loop.create_future()
            timer = None
            if timeout is not None:

                def expire() -> None:
                    if not waiter.done():
                        waiter.set_result(None)

                timer = self._loop.call_later(timeout, expire)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        if not self._ready:
            return None
        item = self._ready.popleft()
        if item is not None:
            self.pending -= 1
        return item

    async def results(self) -> AsyncIterator[tuple[Any, Any, BaseException | None]]:
        """Every outcome, in completion order, until none is pending."""
        while self.pending:
            item = await self.next()
            if item is not None:
                yield item


class Executor(abc.ABC):
    """Somewhere to run top-level functions: see the module docstring."""

    kind: str = ""

    def prepare(self, obj: Any, what: str = "the function") -> Any:
        """Ship ``obj`` (a user function) once; the handle goes into tasks in its place and
        :func:`resolve` turns it back into the object on the worker. Raises
        :class:`UnpicklableError` when ``obj`` cannot be sent."""
        return obj

    def release(self, handle: Any) -> None:  # noqa: B027 - nothing to forget by default
        """Forget a handle made by :meth:`prepare`."""

    @abc.abstractmethod
    def batch(self) -> Batch:
        """A new :class:`Batch` bound to the running loop."""

    async def slots(self) -> int:
        """How many tasks run at once right now (at least 1)."""
        return 1

    def describe(self) -> dict[str, Any]:
        """JSON-safe facts for events and logs: ``kind`` and, for Dask, address/dashboard."""
        return {"kind": self.kind}

    async def aclose(self) -> None:  # noqa: B027 - nothing to close by default
        """Release what this executor created (not what the caller passed in)."""


# -- local process pool --------------------------------------------------------------------------


class _PoolBatch(Batch):
    def __init__(self, pool: concurrent.futures.Executor) -> None:
        super().__init__()
        self._pool = pool
        self._futures: set[concurrent.futures.Future[Any]] = set()

    def submit(self, tag: Any, fn: Callable[..., Any], *args: Any) -> None:
        future = self._pool.submit(fn, *args)
        self._futures.add(future)
        self.pending += 1

        def done(f: concurrent.futures.Future[Any]) -> None:
            self._futures.discard(f)
            if f.cancelled():
                return
            error = f.exception()
            if isinstance(error, BrokenProcessPool):
                error = ExecutorError(f"a worker process died: {error}")
            self._deliver(tag, None if error else f.result(), error)

        future.add_done_callback(done)

    async def cancel(self) -> None:
        for future in list(self._futures):
            future.cancel()  # queued ones are cancelled; running ones finish, ignored
        self._futures.clear()
        self.pending = 0


class ProcessExecutor(Executor):
    """A local process pool (``spawn`` start method: safe in a threaded server).

    A running task cannot be interrupted: cancelling drops its result. User functions are
    pickled with cloudpickle, so notebook functions and lambdas work.
    """

    kind = "processes"

    def __init__(
        self, max_workers: int | None = None, *, pool: concurrent.futures.Executor | None = None
    ) -> None:
        if pool is not None:
            self._pool, self._owned = pool, False
            self._workers = max_workers or getattr(pool, "_max_workers", None) or 1
        else:
            import multiprocessing

            self._workers = max_workers or os.cpu_count() or 1
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self._workers, mp_context=multiprocessing.get_context("spawn")
            )
            self._owned = True

    def prepare(self, obj: Any, what: str = "the function") -> Any:
        blob = check_picklable(obj, what)
        return _Shipped(hashlib.sha1(blob).hexdigest(), blob)

    def batch(self) -> Batch:
        return _PoolBatch(self._pool)

    async def slots(self) -> int:
        return int(self._workers)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": self._workers}

    async def aclose(self) -> None:
        if self._owned:
            await asyncio.to_thread(self._pool.shutdown, True, cancel_futures=True)


# -- Dask ------------------------------------------------------------------------------------------


def _identity(obj: Any) -> Any:
    return obj


#: each chunk takes this share of what is left per worker thread (guided self-scheduling)
GUIDED_SHARE = 2


def chunk_sizes(n: int, slots: int) -> list[int]:
    """How a burst of ``n`` submissions is cut for ``slots`` worker threads: guided
    self-scheduling, each chunk ``ceil(remaining / (GUIDED_SHARE * slots))``. Big chunks first
    keep Dask's per-task cost low; the last ones hold one call each, so the workers finish a
    generation within about one call of each other (fixed-size chunks left one worker idle
    for up to a whole chunk at every generation's end)."""
    sizes: list[int] = []
    left = n
    while left > 0:
        size = max(1, -(-left // (GUIDED_SHARE * max(1, slots))))
        sizes.append(size)
        left -= size
    return sizes


def run_chunk(calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[Any]:
    """Runs on a Dask worker: several submitted calls as one task (one scheduling round trip
    instead of one each). An exception is returned in its call's place, as ``_Failed``."""
    out: list[Any] = []
    for fn, args in calls:
        try:
            out.append(fn(*args))
        except Exception as exc:
            out.append(_Failed(exc))
    return out


class _DaskBatch(Batch):
    """Submissions made in one loop turn go out together at the end of the turn, cut into
    chunks of decreasing size (:func:`chunk_sizes`, run by :func:`run_chunk`): on a small
    cluster Dask's per-task cost (milliseconds of scheduler and client CPU, on the cores the
    workers compute on) would otherwise eat much of the speed-up. Results are fetched in
    batches: Dask's callback thread only names the finished task, and one ``gather`` on a
    helper thread fetches all that finished meanwhile; each call's outcome is delivered on
    its own."""

    def __init__(self, executor: DaskExecutor) -> None:
        super().__init__()
        self._executor = executor
        self._futures: dict[Any, tuple[list[Any], Any, bool]] = {}  # key: tags, future, chunk
        self._queued: list[tuple[Any, Callable[..., Any], tuple[Any, ...]]] = []
        self._finished: list[Any] = []
        self._fetcher: asyncio.Task[None] | None = None
        self._cancelled = False

    def submit(self, tag: Any, fn: Callable[..., Any], *args: Any) -> None:
        self._queued.append((tag, fn, args))
        self.pending += 1
        if len(self._queued) == 1:
            self._loop.call_soon(self._send)

    def _send(self) -> None:
        queued, self._queued = self._queued, []
        if self._cancelled or not queued:
            return
        if len(queued) == 1:
            tag, fn, args = queued[0]
            self._track(
                [tag], False, self._executor.client.submit(fn, *args, **self._options(self._key()))
            )
            return
        parts, start = [], 0
        for size in chunk_sizes(len(queued), self._executor.known_slots or 4):
            parts.append(queued[start : start + size])
            start += size
        # One call for the whole burst: the scheduler sees every chunk at once, so it queues
        # them and hands them out in this order as threads free up. Chunks submitted one by
        # one went to the worker holding the prepared function until the group grew past
        # twice the thread count, the biggest ones all to that one worker.
        prefix = self._key()
        futures = self._executor.client.map(
            run_chunk,
            [[(fn, args) for _, fn, args in part] for part in parts],
            **self._options([f"{prefix}-{i:05d}" for i in range(len(parts))]),
        )
        for part, future in zip(parts, futures, strict=True):
            self._track([tag for tag, _, _ in part], True, future)

    def _key(self) -> str:
        return f"{self._executor.key_prefix}-{uuid.uuid4().hex}"

    def _options(self, key: Any) -> dict[str, Any]:
        return {"key": key, "pure": False, "retries": self._executor.retries}

    def _track(self, tags: list[Any], chunk: bool, future: Any) -> None:
        self._futures[future.key] = (tags, future, chunk)

        def done(f: Any) -> None:  # on Dask's callback thread: no blocking calls here
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._on_finished, f.key)

        future.add_done_callback(done)

    def _on_finished(self, key: Any) -> None:
        if self._cancelled or key not in self._futures:
            return
        self._finished.append(key)
        if self._fetcher is None or self._fetcher.done():
            self._fetcher = self._loop.create_task(self._fetch())

    async def _fetch(self) -> None:
        client = self._executor.client
        while self._finished and not self._cancelled:
            keys, self._finished = self._finished, []
            items = [self._futures.pop(k) for k in keys if k in self._futures]
            ready = [item for item in items if item[1].status == "finished"]
            values: list[Any] = []
            if ready:
                try:
                    values = await asyncio.to_thread(client.gather, [f for _, f, _ in ready])
                except Exception:  # one was lost meanwhile: fetch them one by one
                    values = [await self._one(f) for _, f, _ in ready]
            for (tags, _, chunk), value in zip(ready, values, strict=True):
                if chunk and not isinstance(value, _Failed):
                    for tag, one in zip(tags, value, strict=True):
                        if isinstance(one, _Failed):
                            self._push((tag, None, _dask_error(one.error)))
                        else:
                            self._push((tag, one, None))
                    continue
                for tag in tags:
                    if isinstance(value, _Failed):
                        self._push((tag, None, value.error))
                    else:
                        self._push((tag, value, None))
            for tags, f, _ in items:
                if f.status == "finished" or self._cancelled:
                    continue
                if f.status == "cancelled":
                    error: BaseException = ExecutorError("the task was cancelled on the cluster")
                else:
                    try:
                        error = _dask_error(await asyncio.to_thread(f.exception))
                    except Exception as exc:
                        error = _dask_error(exc)
                for tag in tags:
                    self._push((tag, None, error))

    async def _one(self, future: Any) -> Any:
        try:
            return await asyncio.to_thread(future.result)
        except Exception as exc:
            return _Failed(_dask_error(exc))

    async def cancel(self) -> None:
        self._cancelled = True
        self._queued.clear()
        futures = [f for _, f, _ in self._futures.values()]
        self._futures.clear()
        self.pending = 0
        if futures:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._executor.client.cancel, futures)


@dataclass
class _Failed:
    error: BaseException


def _dask_error(exc: BaseException | None) -> ExecutorError:
    if isinstance(exc, ExecutorError):
        return exc
    name = type(exc).__name__
    if name == "KilledWorker":
        return ExecutorError(
            f"a task killed its worker several times and was given up ({exc}); the function "
            "may crash the process or exhaust its memory"
        )
    if isinstance(exc, (ImportError, AttributeError, pickle.UnpicklingError)):
        return ExecutorError(
            f"a task could not be loaded on a Dask worker ({name}: {exc}); install the same "
            "packages (pygent-jupyter included) on the workers, or define the function in "
            "the notebook"
        )
    return ExecutorError(f"the Dask task failed: {name}: {exc}")


class DaskExecutor(Executor):
    """A Dask cluster through a synchronous ``distributed.Client`` (yours, or one made from a
    scheduler address by :meth:`connect`).

    Tasks are named ``<key_prefix>-<uuid>`` (one group on the dashboard). A task whose worker
    dies is re-run elsewhere by the scheduler; ``retries`` re-runs tasks that raised.
    """

    kind = "dask"

    def __init__(
        self,
        client: Any,
        *,
        owned: bool = False,
        retries: int = 1,
        key_prefix: str = "pygent",
    ) -> None:
        if getattr(client, "asynchronous", False):
            raise TypeError(
                "pass a synchronous distributed.Client (the default, Client(address)); an "
                "asynchronous one is bound to another event loop"
            )
        self.client = client
        self.owned = owned
        self.retries = retries
        self.key_prefix = key_prefix
        self.known_slots = 0  # worker threads at the last slots() call (0: not asked yet)

    @classmethod
    def connect(cls, address: str, *, timeout: float = 10.0, **kwargs: Any) -> DaskExecutor:
        """Connect to the scheduler at ``address`` (blocking; raises :class:`ExecutorError`)."""
        try:
            from distributed import Client
        except ImportError as exc:
            raise ExecutorError(
                "running on a Dask cluster needs the 'distributed' package on this machine"
            ) from exc
        try:
            client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(
                f"cannot reach the Dask scheduler at {address}: {type(exc).__name__}: {exc}"
            ) from None
        return cls(client, owned=True, **kwargs)

    def with_prefix(self, key_prefix: str) -> DaskExecutor:
        """The same client, naming its tasks ``<key_prefix>-…`` (never closes the client)."""
        other = DaskExecutor(self.client, retries=self.retries, key_prefix=key_prefix)
        other.known_slots = self.known_slots
        return other

    def prepare(self, obj: Any, what: str = "the function") -> Any:
        check_picklable(obj, what)
        # A task holding the object: shipped once, fetched by workers that need it, and
        # recomputed by the scheduler if the worker holding it dies.
        return self.client.submit(
            _identity, obj, key=f"{self.key_prefix}-fn-{uuid.uuid4().hex}", pure=False
        )

    def release(self, handle: Any) -> None:
        release = getattr(handle, "release", None)
        if callable(release):
            with contextlib.suppress(Exception):
                release()

    def batch(self) -> Batch:
        return _DaskBatch(self)

    async def slots(self) -> int:
        try:
            nthreads = await asyncio.to_thread(self.client.nthreads)
        except Exception as exc:
            raise ExecutorError(f"the Dask scheduler is unreachable: {exc}") from None
        self.known_slots = max(1, sum(nthreads.values()))
        return self.known_slots

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"kind": self.kind}
        with contextlib.suppress(Exception):
            info["address"] = str(self.client.scheduler.address)
        with contextlib.suppress(Exception):
            link = self.client.dashboard_link
            if link:
                info["dashboard"] = str(link)
        return info

    async def aclose(self) -> None:
        if self.owned:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.client.close)


def _is_dask_client(obj: Any) -> bool:
    return type(obj).__module__.startswith("distributed") and hasattr(obj, "submit")


def as_executor(spec: Any, *, connect_timeout: float = 10.0) -> Executor | None:
    """The :class:`Executor` for what a user passed as ``executor=`` (see the module doc).

    ``None`` means in-process. Raises ``ValueError`` for anything unrecognised and
    :class:`ExecutorError` when a scheduler address cannot be reached (blocking connect).
    """
    if spec is None or spec == "inprocess":
        return None
    if isinstance(spec, Executor):
        return spec
    if isinstance(spec, str):
        if spec in ("processes", "process"):
            return ProcessExecutor()
        if spec.startswith(DASK_SCHEMES):
            return DaskExecutor.connect(spec, timeout=connect_timeout)
        raise ValueError(
            f"unknown executor {spec!r}: use 'inprocess', 'processes', a Dask scheduler "
            "address (tcp://host:8786) or a distributed.Client"
        )
    if isinstance(spec, concurrent.futures.ProcessPoolExecutor):
        return ProcessExecutor(pool=spec)
    if _is_dask_client(spec):
        return DaskExecutor(spec)
    get_client = getattr(spec, "get_client", None)
    if callable(get_client):  # LocalCluster, GatewayCluster, …
        return DaskExecutor(get_client(), owned=True)
    raise ValueError(
        f"cannot run tasks on a {type(spec).__name__}: pass 'processes', a "
        "distributed.Client, a Dask cluster or a scheduler address"
    )


# -- model backends on workers ---------------------------------------------------------------------


@dataclass(frozen=True)
class BackendSpec:
    """How a worker builds its own model client, with no credential in it.

    ``kind`` is ``"ollama"`` (``settings``: ``host``, ``model``), ``"local"`` (the embedded
    model, loaded by each worker) or ``"openai"`` (``config``: the admin's credential-free
    :class:`pygent_jupyter.llm.backends.BackendSpec`, which names the environment variable or
    file holding the key; the worker reads it there). Safe to print, log and pickle.
    """

    kind: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    config: Any = None

    def build(self) -> Any:
        """On the worker: the provider (reads the credential from the worker's environment)."""
        if self.kind == "openai" and self.config is not None:
            from .llm.backends import read_credential
            from .llm.openai_compat import OpenAIProvider

            return OpenAIProvider(self.config, read_credential(self.config))
        from .llm import provider_class

        return provider_class(self.kind)(**dict(self.settings))


class WorkerProvider:
    """An ``LLMProvider`` that travels: pickles as its :class:`BackendSpec` only and builds the
    real provider lazily in the process (and thread) where it is first used."""

    def __init__(self, spec: BackendSpec, default_model: str = "") -> None:
        self.spec = spec
        self.name = spec.kind
        self._default_model = default_model or str(spec.settings.get("model", ""))
        self._local = threading.local()

    @property
    def default_model(self) -> str:
        return self._default_model

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "default_model": self._default_model}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"], state["default_model"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"WorkerProvider({self.spec.kind!r}, settings={sorted(self.spec.settings)})"

    def _provider(self) -> Any:
        provider = getattr(self._local, "provider", None)
        if provider is None:
            provider = self._local.provider = self.spec.build()
        return provider

    def chat_stream(self, messages: Sequence[Any], **kwargs: Any) -> Any:
        return self._provider().chat_stream(messages, **kwargs)

    async def chat(self, messages: Sequence[Any], **kwargs: Any) -> Any:
        return await self._provider().chat(messages, **kwargs)

    async def generate(self, prompt: str, **kwargs: Any) -> Any:
        return await self._provider().generate(prompt, **kwargs)

    async def embed(self, texts: Sequence[str], **kwargs: Any) -> Any:
        return await self._provider().embed(texts, **kwargs)

    async def list_models(self) -> Any:
        return await self._provider().list_models()

    async def health(self) -> Any:
        return await self._provider().health()


def backend_spec(provider: Any) -> BackendSpec | None:
    """A :class:`BackendSpec` for a live provider, or ``None`` when it has no known recipe.

    Wrappers with ``inner`` (metering) are unwrapped. Ollama ships its ``host`` and default
    ``model``; an OpenAI-compatible provider its configured spec (credential-free); the
    embedded model nothing (each worker loads its own).
    """
    for _ in range(4):
        inner = getattr(provider, "inner", None)
        if inner is None:
            break
        provider = inner
    own = getattr(provider, "worker_spec", None)
    if callable(own):
        spec = own()
        if isinstance(spec, BackendSpec):
            return spec
    kind = str(getattr(provider, "kind", "") or getattr(provider, "name", ""))
    config = getattr(provider, "spec", None)
    if kind == "openai" and config is not None and hasattr(config, "api_key_env"):
        return BackendSpec("openai", {}, config)
    if getattr(provider, "name", "") == "ollama":
        settings: dict[str, Any] = {}
        for attr in ("host", "model", "read_timeout", "connect_timeout"):
            value = getattr(provider, attr, None)
            if isinstance(value, (str, int, float)) and value != "":
                settings[attr] = value
        return BackendSpec("ollama", settings)
    if getattr(provider, "name", "") == "local":
        return BackendSpec("local", {})
    return None


def worker_provider(provider: Any) -> Any:
    """What to send to workers in place of ``provider``: a :class:`WorkerProvider` built from
    its :func:`backend_spec`, or the provider itself when it pickles (test doubles).

    Raises :class:`UnpicklableError` when neither works.
    """
    if isinstance(provider, WorkerProvider):
        return provider
    default_model = str(getattr(provider, "default_model", "") or "")
    spec = backend_spec(provider)
    if spec is not None:
        return WorkerProvider(spec, default_model)
    for _ in range(4):  # wrappers (usage metering) stay here; the model itself travels
        inner = getattr(provider, "inner", None)
        if inner is None:
            break
        provider = inner
    check_picklable(provider, "the model provider")
    return provider
