"""A live widget across a server restart: a real Jupyter Server with the extension, a real
PygentClient (through the widgets' Link) feeding a MetricsDashboard, and a new Hub epoch.

The restart is made in-process, as a restarted server looks to its clients: a new epoch,
every user's numbering back to 0, every socket closed (1012). ``tests/test_client.py`` has
the same with a killed and restarted server process (slow).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pygent_jupyter.protocol import CATALOG
from pygent_jupyter.widgets import Link, MetricsDashboard

pytestmark = pytest.mark.usefixtures("dummy_comm")


async def _until(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _sample(i: int) -> dict[str, Any]:
    data = dict(CATALOG["system_metrics"].example["data"])
    data["sampled_at"] = time.time() + i * 0.001
    return data


async def test_a_live_widget_keeps_receiving_events_after_a_server_restart(
    pygent_app: Any,
    http_server_client: Any,
    jp_http_port: int,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = pygent_app.hub
    token = jp_auth_header["Authorization"].split()[1]
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    link = Link(url=url, token=token, base_delay=0.05, max_delay=0.2, max_attempts=50)
    try:
        await asyncio.to_thread(link.connect)
        user, old_epoch = link.status["user"], link.status["epoch"]
        dash = MetricsDashboard().attach(link)  # attached after the greeting, like in a notebook
        assert dash.epoch == old_epoch
        for i in range(300):  # push this user's numbering far ahead
            hub.publish(user, "system_metrics", _sample(i))
        await _until(lambda: dash.last_seq >= 300, "the widget to see the first events")
        seen_before, seq_before = dash.events_seen, dash.last_seq

        async def never_answers(request: Any) -> None:
            await asyncio.Event().wait()

        monkeypatch.setitem(hub._commands, "memory_search", never_answers)
        blocked = asyncio.ensure_future(  # a cell waiting on a command when the server goes
            asyncio.to_thread(lambda: list(link.stream("memory_search", {"query": "q"})))
        )
        await _until(  # this command: the dashboard's own requests run as tasks too
            lambda: any(key.startswith("memory_s") for c in hub.connections for key in c.tasks),
            "the command to start running",
        )

        hub.epoch = uuid.uuid4().hex[:12]  # "restart": new epoch, numbering from 0
        hub._streams.clear()
        for conn in list(hub.connections):
            conn.close(1012, "server restart")
        await _until(
            lambda: link.connected and link.status.get("epoch") == hub.epoch,
            "the client to reconnect to the new epoch",
        )
        await _until(lambda: dash.epoch == hub.epoch, "the widget to learn the new epoch")
        for i in range(5):
            hub.publish(user, "system_metrics", _sample(1000 + i))
        # the new events have seqs far below the widget's old last_seq, and are applied
        await _until(lambda: dash.events_seen >= seen_before + 5, "events after the restart")
        assert dash.last_seq < seq_before
        assert link.client.session.epoch == hub.epoch
        dash.flush()
        assert dash.connection_state == "connected" and dash.status.value == ""
        # the command died with the old server: the waiting cell is told, it does not hang
        with pytest.raises(ConnectionError, match="dropped"):
            await asyncio.wait_for(blocked, 15)
    finally:
        await asyncio.to_thread(link.close)
