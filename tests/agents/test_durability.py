"""Nothing acknowledged is lost: a real Jupyter Server process, killed with SIGKILL mid-stream."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import tornado.websocket
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from pygent_jupyter.testing import OllamaTestServer

TOKEN = "durability-test-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def ollama_thread() -> Any:
    server = OllamaTestServer(models=["llama3.2:latest"], token_delay=0.005).start_in_thread()
    yield server
    server.stop_thread()


@pytest.fixture
def server_process(tmp_path: Path, ollama_thread: OllamaTestServer) -> Any:
    port = _free_port()
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {
                    "jpserver_extensions": {"pygent_jupyter": True},
                    "open_browser": False,
                    "allow_root": True,
                    "port": port,
                    "ip": "127.0.0.1",
                    "root_dir": str(tmp_path),
                },
                "IdentityProvider": {"token": TOKEN},
                "PygentJupyter": {
                    "db_path": str(tmp_path / "pygent.db"),
                    "services": ["pygent_jupyter.services.agents:AgentsService"],
                },
                "OllamaProvider": {"host": ollama_thread.host, "model": "llama3.2"},
                "AgentsService": {"backend": "ollama"},
            }
        )
    )
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_PATH": str(config_dir),
    }
    with open(tmp_path / "server.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                f"--config={config_dir}/jupyter_server_config.json",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        yield proc, port, tmp_path / "pygent.db"
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


async def _wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    client = AsyncHTTPClient()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            await client.fetch(
                f"http://127.0.0.1:{port}/pygent/api/health",
                headers={"Authorization": f"token {TOKEN}"},
            )
            return
        except (HTTPClientError, OSError):
            await asyncio.sleep(0.2)
    raise TimeoutError("the server did not start")


async def test_kill_9_loses_nothing_acknowledged(server_process, ollama_thread):
    proc, port, db_path = server_process
    await _wait_ready(port, proc)
    request = HTTPRequest(
        f"ws://127.0.0.1:{port}/pygent/ws", headers={"Authorization": f"token {TOKEN}"}
    )
    ws = await tornado.websocket.websocket_connect(request)

    async def recv(msg_id: str, type_: str) -> dict[str, Any]:
        while True:
            frame = await asyncio.wait_for(ws.read_message(), 10)
            assert frame is not None
            event = json.loads(frame)
            if event.get("reply_to") == msg_id and event["type"] in (type_, "error"):
                assert event["type"] == type_, event
                return event

    acknowledged: list[tuple[str, str]] = []
    conversation = None
    for i in range(5):
        ollama_thread.script(f"answer number {i}")
        data: dict[str, Any] = {"message": {"content": f"question number {i}"}}
        if conversation:
            data["conversation_id"] = conversation
        await ws.write_message(json.dumps({"type": "chat_message", "id": f"q{i}", "data": data}))
        response = await recv(f"q{i}", "chat_response")
        conversation = response["data"]["conversation_id"]
        acknowledged += [
            ("user", f"question number {i}"),
            ("assistant", response["data"]["message"]["content"]),
        ]
    # a last turn: acknowledged (typing_indicator) and streaming when the server dies
    ollama_thread.token_delay = 0.05
    ollama_thread.script(" ".join(["streaming"] * 200))
    await ws.write_message(
        json.dumps(
            {
                "type": "chat_message",
                "id": "last",
                "data": {
                    "conversation_id": conversation,
                    "message": {"content": "the last question"},
                },
            }
        )
    )
    await recv("last", "typing_indicator")
    acknowledged.append(("user", "the last question"))
    await recv("last", "chat_stream")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    ws.close()

    conn = sqlite3.connect(db_path)
    rows = conn.execute(
        "SELECT role, content FROM agent_messages WHERE conversation_id=? ORDER BY n",
        (conversation,),
    ).fetchall()
    conn.close()
    assert rows[: len(acknowledged)] == acknowledged
    assert acknowledged[1] == ("assistant", "answer number 0")
