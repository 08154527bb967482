"""What the benchmarks share: a free port and a real Jupyter Server subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence

__all__ = ["free_port", "start_jupyter_server"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_jupyter_server(
    port: int,
    tmp: str,
    token: str,
    args: Sequence[str] = (),
    *,
    extensions: str = "{'pygent_jupyter': True}",
    pythonpath: str | None = None,
) -> subprocess.Popen[bytes]:
    """``jupyter_server`` on 127.0.0.1:``port`` with its config, data and runtime under
    ``tmp``, token auth, logs silenced; ``args`` are extra command-line settings."""
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": f"{tmp}/cfg",
        "JUPYTER_DATA_DIR": f"{tmp}/data",
        "JUPYTER_RUNTIME_DIR": f"{tmp}/rt",
    }
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    command = [
        sys.executable, "-m", "jupyter_server", f"--port={port}", "--ip=127.0.0.1",
        "--no-browser", "--allow-root", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={tmp}", f"--ServerApp.jpserver_extensions={extensions}",
        "--ServerApp.log_level=WARN", *args,
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
