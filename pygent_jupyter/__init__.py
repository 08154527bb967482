"""pygent-jupyter: an AI-agent workbench inside Jupyter.

A server extension hosts agents, Tree-of-Thought reasoning, evolution, a vector memory, MCP
servers and live metrics behind one authenticated WebSocket, ``/pygent/ws``.
"""

from __future__ import annotations

from typing import Any

from ._version import PROTOCOL_VERSION, __version__

__all__ = ["PROTOCOL_VERSION", "__version__", "load_ipython_extension"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import PygentJupyter

    return [{"module": "pygent_jupyter", "app": PygentJupyter}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "pygent-jupyter"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext pygent_jupyter``: registers the ``%pygent`` magics."""
    from .magics import load_ipython_extension as _load

    _load(ipython)
