"""``PygentMagics``: the ``%pygent`` / ``%%pygent`` entry point, built from the subcommand
families (one module each) and dispatching ``%pygent <subcommand>`` to ``_<subcommand>``."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_cell_magic, magics_class

from ._base import split
from .chat import ChatMagics
from .evolution import EvolutionMagics
from .mcp import MCPMagics
from .memory import MemoryMagics
from .prompt import PromptMagics
from .reasoning import ReasoningMagics
from .status import StatusMagics

__all__ = ["HELP", "SUBCOMMANDS", "PygentMagics"]

HELP = """\
%pygent                         status of the connection and services, and the live dashboard
%pygent chat [--agent A] [--model M] [--conversation ID]    a chat widget
%%pygent [--agent A] [--model M] [--conversation ID]        the cell is a prompt; the answer
                                streams in as Markdown. {name} puts a kernel variable in
                                ({{ and }} for literal braces)
%pygent reason "<problem>" [--method bfs|dfs] [--generate propose|sample]
              [--evaluate value|vote] [--n-generate N] [--n-evaluate N] [--n-select N]
              [--depth N] [--model M] [--seed N] [--max-calls N] [--max-seconds S] [--no-wait]
%pygent game24 "4 5 6 10" [same options as reason]        Tree-of-Thought on Game of 24
%pygent evolve [--population N] [--generations N] [--task-set NAME] [--seed N]
               [--max-evaluations N] [--max-seconds S] [--no-wait]
%pygent metrics                 CPU, memory, GPU time series and alerts
%pygent mcp [list]              the MCP panel (servers, tools, a call form)
%pygent mcp start|stop|restart|status SERVER
%pygent mcp tools SERVER        the server's tools
%pygent mcp call SERVER TOOL [--args JSON]
%pygent memory                  the memory widget
%pygent memory add "text" [--meta JSON] [--namespace NS]
%pygent memory search "query" [--k N] [--namespace NS]
%pygent history [--conversation ID] [--limit N]
%pygent usage [--conversation ID]   model tokens/cost today (and in a conversation), budget
%pygent backends                the model backends, their health and models
%pygent help                    this text
"""

SUBCOMMANDS = (
    "status",
    "chat",
    "reason",
    "game24",
    "evolve",
    "metrics",
    "mcp",
    "memory",
    "history",
    "usage",
    "backends",
    "help",
)


@magics_class
class PygentMagics(
    StatusMagics,
    ChatMagics,
    PromptMagics,
    ReasoningMagics,
    EvolutionMagics,
    MCPMagics,
    MemoryMagics,
):
    """The ``%pygent`` line/cell magic. ``link_factory`` is injectable for tests."""

    @line_cell_magic
    def pygent(self, line: str, cell: str | None = None) -> Any:
        """Agents, reasoning, evolution, metrics, MCP and memory. ``%pygent help`` for usage."""
        if cell is not None:
            return self._run(lambda: self._cell(line, cell))
        sub, rest = split(line)
        if sub not in SUBCOMMANDS:
            raise UsageError(
                f"pygent: unknown subcommand {sub!r}; one of: {', '.join(SUBCOMMANDS)}"
            )
        if sub == "help":
            print(HELP)
            return None
        handler = getattr(self, f"_{sub}")
        return self._run(lambda: handler(rest))
