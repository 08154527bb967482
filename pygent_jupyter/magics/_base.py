"""What every ``%pygent`` subcommand family shares: the link, error mapping, option parsing."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics
from IPython.display import display

__all__ = ["MagicsBase", "cell_text", "interpolate", "json_arg", "parse", "split"]

_VAR = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}")


def interpolate(text: str, namespace: dict[str, Any]) -> str:
    """Replace ``{name}`` / ``{name.attr}`` by the kernel value's ``str``; ``{{``/``}}`` escape.

    Any other brace text (code, JSON) is left alone. An undefined name raises ``UsageError``.
    """

    def sub(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        path = match.group(1).split(".")
        if path[0] not in namespace:
            raise UsageError(
                f"{{{match.group(1)}}} is not defined in the kernel "
                "(write {{ and }} for literal braces)"
            )
        value = namespace[path[0]]
        for attr in path[1:]:
            try:
                value = getattr(value, attr)
            except AttributeError:
                raise UsageError(f"{{{match.group(1)}}}: no attribute {attr!r}") from None
        return str(value)

    return _VAR.sub(sub, text)


def split(line: str) -> tuple[str, str]:
    """``"memory add x"`` -> ``("memory", "add x")``; an empty line is ``status``."""
    line = line.strip()
    if not line:
        return "status", ""
    head, _, rest = line.partition(" ")
    return head, rest.strip()


def parse(magic_func: Any, rest: str) -> Any:
    """Parse ``rest`` with ``magic_func``'s argparse parser, shell-style (quotes group words).

    Parse errors raise ``UsageError`` (one line).
    """
    try:
        argv = shlex.split(rest)
    except ValueError as exc:
        raise UsageError(f"pygent: cannot parse the options: {exc}") from None
    return magic_func.parser.parse_args(argv)


def json_arg(text: str | None, what: str) -> dict[str, Any]:
    """A JSON object option (``--args``, ``--meta``…); anything else is a one-line error."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc.msg} (at character {exc.pos})") from None
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a JSON object")
    return value


def cell_text(text: str, limit: int = 120) -> str:
    """``text`` on one line, at most ``limit`` characters, safe inside a Markdown table cell."""
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|")


class MagicsBase(Magics):
    """The link to the server and the error mapping; each subcommand family is a subclass.

    ``link_factory`` is injectable for tests (default: the process-wide ``shared_link()``).
    """

    def __init__(self, shell: Any = None, link_factory: Callable[[], Any] | None = None) -> None:
        super().__init__(shell)
        self._link_factory = link_factory
        self._link: Any = None

    @property
    def link(self) -> Any:
        """The connected Link (connecting on first use); a failure is one clear line."""
        if self._link is None:
            from ..client import ConnectionFailed
            from ..widgets.link import shared_link

            try:
                self._link = self._link_factory() if self._link_factory else shared_link()
            except ConnectionFailed as exc:
                raise UsageError(f"pygent: cannot reach the server: {exc}") from None
        return self._link

    def _run(self, fn: Callable[[], Any]) -> Any:
        """Run a subcommand, mapping server and connection failures to one-line errors."""
        from ..client import ConnectionFailed, PygentRequestError
        from ..widgets import WidgetCommandError

        try:
            return fn()
        except SystemExit:  # argparse after printing --help
            return None
        except (PygentRequestError, WidgetCommandError) as exc:
            raise UsageError(f"pygent: {exc.code}: {exc.message}") from None
        except ConnectionFailed as exc:
            raise UsageError(f"pygent: cannot reach the server: {exc}") from None
        except (ConnectionError, TimeoutError) as exc:
            raise UsageError(f"pygent: {exc or type(exc).__name__}") from None

    def _show(self, widget: Any) -> Any:
        widget.attach(self.link)
        display(widget)
        return widget
