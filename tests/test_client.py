"""PygentClient against real servers: in-process, a restarting subprocess, and a real kernel."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from pygent_jupyter.client import ConnectionFailed, PygentClient, PygentRequestError


def _url(port, base_url):
    return f"http://127.0.0.1:{port}{base_url}"


async def test_request_reply_handlers_and_iteration(
    pygent_app, http_server_client, jp_http_port, jp_base_url, jp_auth_header
):
    token = jp_auth_header["Authorization"].split()[1]
    client = await PygentClient(_url(jp_http_port, jp_base_url), token).connect()
    try:
        assert client.is_connected()
        assert client.status["protocol_version"] == 1
        seen = []
        client.on("pong", seen.append)
        pong = await client.request("ping", {"ts": 42.0})
        assert pong["data"]["ts"] == 42.0 and seen and seen[0] is pong
        client.off("pong")
        with pytest.raises(PygentRequestError) as info:
            await client.request("subscribe", {"topics": ["nope"]})
        assert info.value.code == "invalid" and info.value.field == "data.topics[0]"

        async def first_metrics():
            async for event in client.events(["system_metrics"]):
                return event

        waiter = asyncio.ensure_future(first_metrics())
        await asyncio.sleep(0)
        await client.request("request_system_metrics", {})
        assert (await asyncio.wait_for(waiter, 5))["data"]["memory"]["total"] > 0
        # the seed's protocol-layer surface
        assert await client.send_message({"type": "ping", "id": "seed-1", "data": {}})
        message = await client.receive_message(timeout=5)
        assert message is not None and message["type"] == "pong"
    finally:
        await client.close()
    assert not client.is_connected()


async def test_bad_token_fails_fast_with_local_events(
    pygent_app, http_server_client, jp_http_port, jp_base_url
):
    client = PygentClient(_url(jp_http_port, jp_base_url), "wrong", max_attempts=3, base_delay=0.01)
    events = []
    client.on("*", events.append)
    with pytest.raises(ConnectionFailed):
        await client.connect()
    types = [e["type"] for e in events]
    assert "connection_error" in types and "connection_failed" in types
    assert types.count("connection_error") == 1  # 403 is final: no pointless retries


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(port, token, tmp_path):
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            f"--port={port}",
            "--ip=127.0.0.1",
            "--no-browser",
            f"--IdentityProvider.token={token}",
            "--allow-root",
            f"--ServerApp.root_dir={tmp_path}",
            "--ServerApp.port_retries=0",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
async def test_reconnects_and_resumes_after_server_restart(tmp_path):
    port, token = _free_port(), "restart-test-token"
    server = _start_server(port, token, tmp_path)
    client = PygentClient(
        f"http://127.0.0.1:{port}/", token, max_attempts=40, base_delay=0.25, max_delay=1.0
    )
    events = []
    client.on("*", events.append)
    try:
        await client.connect()
        first_connection = client.status["connection_id"]
        await client.request("subscribe", {"topics": ["metrics"]})
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        await asyncio.sleep(0.5)
        server = _start_server(port, token, tmp_path)
        deadline = time.monotonic() + 60
        while client.status.get("connection_id") == first_connection:
            assert time.monotonic() < deadline, "client did not reconnect"
            await asyncio.sleep(0.1)
        pong = await client.request("ping", {"ts": 7})
        assert pong["data"]["ts"] == 7
        # the subscription was renewed on the new connection
        renewed = [e for e in events if e["type"] == "system_metrics"]
        deadline = time.monotonic() + 10
        while not [e for e in events if e["type"] == "system_metrics"][len(renewed) :]:
            assert time.monotonic() < deadline, "metrics did not resume after the reconnect"
            await asyncio.sleep(0.1)
        states = [e["data"]["state"] for e in events if e["type"] == "connection_status"]
        assert states[:3] == ["connected", "reconnecting", "connected"]
        # the restarted server has fresh sequence numbers: the client is told to resync
        assert any(e["type"] == "error" and e["data"]["code"] == "resync" for e in events)
    finally:
        await client.close()
        server.terminate()
        server.wait(10)


@pytest.mark.slow
async def test_connect_with_no_arguments_inside_a_real_kernel(
    pygent_app, http_server_client, jp_serverapp
):
    """A kernel launched by the server inherits $PYGENT_URL/$PYGENT_TOKEN and connects."""
    km = jp_serverapp.kernel_manager
    kernel_id = await km.start_kernel(kernel_name="python3")
    client = km.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        code = (
            "import os, time\n"
            "from pygent_jupyter.client import PygentClient\n"
            "assert 'PYGENT_TOKEN' in os.environ\n"
            "c = await PygentClient().connect()\n"
            "pong = await c.request('ping', {'ts': 3.5})\n"
            "print('PONG', pong['data']['ts'], c.status['user'])\n"
            "await c.close()\n"
        )
        reply = await client.execute_interactive(code, timeout=60, output_hook=_collect)
        assert reply["content"]["status"] == "ok", reply["content"]
        assert f"PONG 3.5 {pygent_app.owner_name}" in "".join(_OUTPUT)
    finally:
        client.stop_channels()
        await km.shutdown_kernel(kernel_id, now=True)


_OUTPUT: list[str] = []


def _collect(msg):
    if msg["msg_type"] == "stream":
        _OUTPUT.append(msg["content"]["text"])
    elif msg["msg_type"] == "error":
        _OUTPUT.append("\n".join(msg["content"]["traceback"]))


def test_discover_prefers_kernel_environment(monkeypatch):
    from pygent_jupyter.client import discover

    monkeypatch.setenv("PYGENT_URL", "ws://h:1/pygent/ws")
    monkeypatch.setenv("PYGENT_TOKEN", "secret")
    assert discover() == ("ws://h:1/pygent/ws", {"X-Pygent-Token": "secret"})
