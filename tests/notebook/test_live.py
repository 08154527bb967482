"""Widgets on a real server through the Link: live data, and surviving a dropped socket."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from pygent_jupyter.widgets import ChatWidget, Link, MetricsDashboard, WidgetCommandError

from .conftest import LabServer

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dummy_comm")]


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def link(lab_server: LabServer) -> Iterator[Link]:
    link = _link_for(lab_server)
    try:
        yield link
    finally:
        link.close()


def _link_for(server: LabServer) -> Link:
    """A Link whose client authenticates like a kernel the server started."""
    old = {k: os.environ.get(k) for k in server.kernel_env()}
    os.environ.update(server.kernel_env())
    try:
        return Link(base_delay=0.1).connect()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def drop_socket(link: Link) -> None:
    """Close the socket under the client, as a network blip would; it reconnects by itself."""

    async def drop() -> None:
        ws = link.client._ws
        assert ws is not None
        await ws.close()

    link.call(drop(), 10)


def test_dashboard_keeps_its_data_and_resumes_after_a_reconnect(link: Link) -> None:
    dash = MetricsDashboard().attach(link)
    wait_until(lambda: dash.points >= 2, 30, "two metrics samples")
    seq_before = dash.last_seq
    states: list[str] = []
    link.on("connection_status", lambda e: states.append(e["data"].get("state", "")))
    drop_socket(link)
    wait_until(lambda: "connected" in states, 30, "the client to reconnect")
    assert "reconnecting" in states
    points = dash.points
    wait_until(lambda: dash.points > points, 30, "samples after the reconnect")
    assert dash.last_seq > seq_before
    dash.flush()
    assert dash.status.value == ""  # the reconnect banner is gone
    assert dash.points >= 3  # what was plotted before the blip is still there


def test_chat_never_hangs_on_a_dropped_socket_and_works_after(link: Link) -> None:
    chat = ChatWidget().attach(link)
    future = chat.submit("Count from one to five.")
    drop_socket(link)  # while the answer is being written
    # either the answer was complete before the drop (and is replayed), or the command died
    # with the socket and the widget says so; it never waits forever
    try:
        message = future.result(120)
        assert message["content"]
    except WidgetCommandError as exc:
        assert exc.code == "interrupted"
        chat.flush()
        assert "interrupted" in chat.status.value
    assert chat.active_request is None
    answer = chat.ask("Say hello.", timeout=120)
    assert answer and chat.last_answer == answer
    assert sum(1 for m in chat.messages if m["role"] == "user") == 2  # no duplicates


def test_stream_raises_instead_of_hanging_when_the_socket_drops(link: Link) -> None:
    data = {"message": {"content": "Write a long story about a robot.", "agentId": "general"}}
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="dropped while chat_message was running"):
        for event in link.stream("chat_message", data, until="chat_response", timeout=120):
            if event["type"] == "chat_stream":
                drop_socket(link)
    assert time.monotonic() - started < 60
