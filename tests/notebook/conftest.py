"""Fixtures for widget tests without a kernel: ipywidgets' dummy-comm pattern, a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import comm
import ipywidgets  # noqa: F401  (imported before any test shell exists, as in a kernel)
import pytest


class DummyComm:
    """Records what a widget would send to the frontend (ipywidgets' tests/utils.py)."""

    comm_id = "a-b-c-d"
    kernel = "Truthy"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.messages: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_msg(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send(self, *args: Any, **kwargs: Any) -> None:
        self.messages.append((args, kwargs))

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass


@pytest.fixture
def dummy_comm() -> Iterator[None]:
    """Widgets created inside the test talk to DummyComm instead of a kernel."""
    orig_create, orig_manager = comm.create_comm, comm.get_comm_manager
    comm.create_comm = lambda **kw: DummyComm()
    comm.get_comm_manager = lambda **kw: {}
    try:
        yield
    finally:
        comm.create_comm, comm.get_comm_manager = orig_create, orig_manager


class FakeClock:
    """A manual clock and scheduler: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[tuple[float, Callable[[], None]]] = []

    def __call__(self) -> float:
        return self.now

    def schedule(self, delay: float, fn: Callable[[], None]) -> None:
        self.timers.append((self.now + delay, fn))

    def advance(self, seconds: float) -> None:
        """Move time forward, firing due timers in order."""
        target = self.now + seconds
        while True:
            due = sorted((t for t in self.timers if t[0] <= target), key=lambda t: t[0])
            if not due:
                break
            when, fn = due[0]
            self.timers.remove(due[0])
            self.now = when
            fn()
        self.now = target


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Sent:
    """A ``send=`` callable that records commands instead of sending them."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, dict[str, Any], str]] = []

    def __call__(self, type_: str, data: dict[str, Any], msg_id: str) -> None:
        self.commands.append((type_, data, msg_id))

    def last(self, type_: str) -> tuple[dict[str, Any], str]:
        for t, data, msg_id in reversed(self.commands):
            if t == type_:
                return data, msg_id
        raise AssertionError(f"no {type_} was sent; sent: {[c[0] for c in self.commands]}")


@pytest.fixture
def sent() -> Sent:
    return Sent()
