"""``%pygent`` and ``%%pygent``: the notebook front door to the pygent services.

Load with ``%load_ext pygent_jupyter`` (or ``c.InteractiveShellApp.extensions =
["pygent_jupyter"]``). ``%pygent help`` lists the subcommands. Every error is one line
(IPython's ``UsageError``), never a traceback. The magics talk to the server through the
process-wide :func:`~pygent_jupyter.widgets.link.shared_link`, which needs no arguments in a
kernel started by a server running the extension.

One module per subcommand family, each a :class:`~._base.MagicsBase` subclass that
:class:`~.core.PygentMagics` combines: ``status`` (status, metrics), ``chat`` (chat, history,
usage, backends), ``prompt`` (the ``%%pygent`` cell: ``{var}`` interpolation, ``--vars``,
``--act``), ``reasoning`` (reason, game24), ``evolution`` (evolve), ``mcp``, ``memory``.
Messages sent and replies read are typed with :mod:`pygent_jupyter.protocol.types`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._base import interpolate
from .chat import usage_markdown
from .core import HELP, SUBCOMMANDS, PygentMagics
from .evolution import DEFAULT_SEED_PROMPTS

__all__ = [
    "DEFAULT_SEED_PROMPTS",
    "HELP",
    "SUBCOMMANDS",
    "PygentMagics",
    "interpolate",
    "iter_help",
    "load_ipython_extension",
    "usage_markdown",
]


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%pygent`` / ``%%pygent`` on ``ipython``."""
    ipython.register_magics(PygentMagics)


def iter_help() -> Iterator[str]:
    """The help text, line by line (for docs and tests)."""
    yield from HELP.splitlines()
