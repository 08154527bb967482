"""Fixtures: ipywidgets' dummy comm and a fake clock (widgets without a kernel), and a real
JupyterLab server with the extension (notebooks under nbclient, the browser test)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
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


# -- a real JupyterLab server with the extension, for notebooks and the browser ---------------

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "test-artifacts"


@dataclass
class LabServer:
    """A running ``jupyter lab`` subprocess (its own config, runtime and database dirs)."""

    url: str
    token: str
    kernel_token: str
    root: Path
    log: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "pygent/ws"

    def kernel_env(self) -> dict[str, str]:
        """What the server exports to the kernels it starts."""
        return {"PYGENT_URL": self.ws_url, "PYGENT_TOKEN": self.kernel_token}

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """``jupyter lab`` with pygent on a free port; the notebooks are copied into its root.

    MCP: the ``time`` server (``mcp-server-time``) is configured, so the MCP notebook runs
    its whole path.
    """
    root = tmp_path_factory.mktemp("lab")
    for nb in NOTEBOOKS.glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
    config = root / ".config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"pygent_jupyter": True}}})
    )
    time_server = Path(sys.executable).with_name("mcp-server-time")
    if time_server.exists():
        (config / "pygent-mcp.json").write_text(
            json.dumps({"mcpServers": {"time": {"command": str(time_server), "args": []}}})
        )
    port, token, kernel_token = _free_port(), secrets.token_hex(16), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYGENT_")}
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(root / ".runtime"),
        JUPYTER_DATA_DIR=str(root / ".data"),
        PYTHONUNBUFFERED="1",
    )
    log = root / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--PygentJupyter.db_path={root / '.pygent' / 'pygent.db'}",
        f"--PygentJupyter.kernel_token={kernel_token}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT)
    server = LabServer(f"http://127.0.0.1:{port}/", token, kernel_token, root, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited ({proc.returncode}):\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(
                    f"{server.url}pygent/api/health?token={token}", timeout=2
                ) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not come up in 120 s:\n{server.log_tail()}")
            time.sleep(0.5)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
