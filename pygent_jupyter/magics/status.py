"""``%pygent`` (status) and ``%pygent metrics``: the connection, the services, live metrics."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import Markdown, display

from ._base import MagicsBase, parse

if TYPE_CHECKING:
    from ..protocol.types import PongData

__all__ = ["StatusMagics"]


class StatusMagics(MagicsBase):
    @magic_arguments(name="%pygent")
    @argument("--no-dashboard", action="store_true", help="only the status table")
    def _status(self, rest: str) -> None:
        """%pygent status: who and what the server is, and the live metrics dashboard."""
        args = parse(self._status, rest)
        from ..widgets import MetricsDashboard

        link = self.link
        pong: PongData = link.request("ping", {"ts": time.time()}, timeout=10)["data"]
        rtt = (time.time() - float(pong.get("ts", time.time()))) * 1000
        st = link.status
        rows = [
            (
                "server",
                f"{st.get('server_version', '?')} (protocol {st.get('protocol_version', '?')})",
            ),
            ("user", st.get("user", "?")),
            ("services up", ", ".join(st.get("capabilities") or []) or "none"),
            ("round trip", f"{rtt:.1f} ms"),
        ]
        display(
            Markdown(
                "**pygent** connected\n\n| | |\n|---|---|\n"
                + "\n".join(f"| {k} | {v} |" for k, v in rows)
            )
        )
        if not args.no_dashboard:
            self._show(MetricsDashboard())

    @magic_arguments(name="%pygent metrics")
    @argument("--window", type=float, default=300.0, help="seconds of history to plot")
    def _metrics(self, rest: str) -> Any:
        args = parse(self._metrics, rest)
        from ..widgets import MetricsDashboard

        self._show(MetricsDashboard(window=args.window))
