"""Live ipywidgets for the pygent services; each is a pure consumer of protocol events.

    from pygent_jupyter.widgets import ChatWidget, shared_link
    chat = ChatWidget().attach(shared_link())
    chat

Every widget redraws at most ``max_rate`` (10) times a second however fast events arrive,
and skips events it has already seen (by ``seq``), so a reconnect that replays events
resumes where it left off.
"""

from __future__ import annotations

from ._base import EventWidget, Throttle, WidgetCommandError
from .chat import ChatWidget
from .evolution import EvolutionWidget
from .link import Link, reset_shared_link, shared_link
from .mcp import MCPPanel
from .memory import MemoryWidget
from .metrics import MetricsDashboard
from .reasoning import ReasoningTreeWidget, TreeLayout

__all__ = [
    "ChatWidget",
    "EventWidget",
    "EvolutionWidget",
    "Link",
    "MCPPanel",
    "MemoryWidget",
    "MetricsDashboard",
    "ReasoningTreeWidget",
    "Throttle",
    "TreeLayout",
    "WidgetCommandError",
    "reset_shared_link",
    "shared_link",
]
