"""asyncio helpers shared by the notebook-facing APIs (reasoning, evolution)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T], *, thread_name: str = "pygent-run-sync") -> T:
    """Run ``coro`` to completion and return its result (or raise its exception).

    Without a running event loop this is :func:`asyncio.run`. Inside one (a Jupyter kernel,
    where the cell itself runs on the loop) the coroutine runs on a helper thread with its
    own loop while the caller blocks, so callbacks the coroutine makes are called from that
    thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=target, name=thread_name)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result
