"""ReasoningTreeWidget: a Tree-of-Thought run growing live, node by node."""

from __future__ import annotations

import concurrent.futures
import textwrap
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go

from ._base import EventWidget, esc
from .render import figure_svg, theme_figure

__all__ = ["ReasoningTreeWidget", "TreeLayout"]


class TreeLayout:
    """Incremental layered layout: each new node gets a position in O(1); none ever moves.

    ``y`` is the depth (the figure's axis is reversed, so the root is on top). ``x`` is the
    next free slot of the node's layer, pushed right
    to at least its parent's ``x`` so subtrees stay under their parents.
    """

    def __init__(self) -> None:
        self.pos: dict[str, tuple[float, float]] = {}
        self._next_free: dict[int, float] = {}

    def place(self, node_id: str, parent_id: str | None, depth: int) -> tuple[float, float]:
        """Position of ``node_id`` (computed on first call, stable after)."""
        if node_id in self.pos:
            return self.pos[node_id]
        parent_x = self.pos[parent_id][0] if parent_id in self.pos else 0.0
        x = max(self._next_free.get(depth, 0.0), parent_x)
        self._next_free[depth] = x + 1.0
        self.pos[node_id] = (x, float(depth))
        return self.pos[node_id]


class ReasoningTreeWidget(EventWidget):
    """Follows one ToT run (``run_id``, or the first run it sees, or the one it started).

    Node colour is its value, hover shows the thought, pruned nodes are dimmed, and on
    ``reasoning_complete`` the best path is drawn over the tree and the answer shown.
    """

    EVENTS = ("reasoning_update", "reasoning_complete")

    def __init__(self, *, run_id: str | None = None, plot: str = "svg", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.nodes: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.layout_engine = TreeLayout()
        self.best_path: list[str] = []
        self.result: dict[str, Any] | None = None
        self.step = 0
        self._start_id: str | None = None
        self.figure = go.FigureWidget()
        self.figure.add_scatter(
            name="edges", mode="lines", hoverinfo="skip", line={"color": "#9ca3af", "width": 1}
        )
        self.figure.add_scatter(
            name="thoughts",
            mode="markers",
            hovertemplate="%{text}<extra></extra>",
            marker={
                "size": 14,
                "colorscale": "Viridis",
                "cmin": 0.0,
                "cmax": 1.0,
                "showscale": True,
                "colorbar": {"title": {"text": "value"}},
                "line": {"width": 1},
            },
        )
        self.figure.add_scatter(
            name="best path",
            mode="lines+markers",
            hoverinfo="skip",
            line={"color": "#dc2626", "width": 4},
            marker={"size": 18, "color": "rgba(0,0,0,0)", "line": {"color": "#dc2626", "width": 3}},
        )
        self.figure.add_scatter(  # nodes not evaluated yet: grey, not "value 0"
            name="unscored",
            mode="markers",
            hovertemplate="%{text}<extra></extra>",
            marker={"size": 14, "color": "rgba(150,150,150,0.55)", "line": {"width": 1}},
        )
        theme_figure(self.figure, height=420)
        self.figure.update_layout(
            showlegend=False,
            margin={"l": 56, "r": 10, "t": 20, "b": 10},
            xaxis={"visible": False},
            yaxis={
                "title": {"text": "depth"},
                "autorange": "reversed",
                "dtick": 1,
                "tickformat": "d",
                "rangemode": "tozero",
            },
        )
        self.header = W.HTML()
        self.answer = W.HTML()
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True)
        self.stop_button.on_click(lambda _b: self.stop())
        self.children = (
            W.HBox([self.header, self.stop_button]),
            self._plot_view(self.figure, plot),
            self.answer,
            self.status,
        )
        self.throttle.request()

    # -- commands ---------------------------------------------------------------------------

    def start(self, **options: Any) -> concurrent.futures.Future[Any]:
        """Send ``start_reasoning`` with ``options``; the future resolves to the complete data."""
        self.reset()
        msg_id, future = self.request("start_reasoning", options)
        self._start_id = msg_id
        return future

    def stop(self) -> None:
        if self.run_id and self.result is None:
            self.command("stop_reasoning", {"run_id": self.run_id})

    def reset(self) -> None:
        with self._state_lock:
            self.run_id = None
            self.nodes.clear()
            self.order.clear()
            self.layout_engine = TreeLayout()
            self.best_path = []
            self.result = None
            self.step = 0
        self.throttle.request()

    # -- events -----------------------------------------------------------------------------

    def _follows(self, data: dict[str, Any], event: dict[str, Any]) -> bool:
        run = data.get("run_id")
        if self.run_id is None:
            if self._start_id is not None and event.get("reply_to") != self._start_id:
                return False
            self.run_id = run
        return run == self.run_id

    def _on_reasoning_update(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        if not self._follows(data, event):
            return
        if isinstance(data.get("step"), int):
            self.step = max(self.step, data["step"])
        node = data.get("node")
        if not isinstance(node, dict) or "id" not in node:
            return
        nid = str(node["id"])
        current = self.nodes.get(nid)
        if current is None:
            current = {}
            self.nodes[nid] = current
            self.order.append(nid)
        current.update(node)
        if data.get("event") == "pruned":
            current["status"] = "pruned"
        parent = current.get("parent_id")
        depth = current.get("depth")
        if not isinstance(depth, int):
            depth = self.nodes.get(str(parent), {}).get("depth", -1) + 1 if parent else 0
            current["depth"] = depth
        self.layout_engine.place(nid, str(parent) if parent else None, depth)

    def _on_reasoning_complete(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        if not self._follows(data, event):
            return
        self.result = data
        by_thought = {str(n.get("thought")): nid for nid, n in self.nodes.items()}
        path: list[str] = []
        for item in data.get("best_path_ids") or data.get("best_path") or []:
            key = item.get("id") if isinstance(item, dict) else item
            key = str(key)
            if key in self.nodes:
                path.append(key)
            elif key in by_thought:
                path.append(by_thought[key])
        if path and self.nodes[path[0]].get("parent_id") in self.nodes:
            chain: list[str] = []  # complete the path up to the root
            parent = self.nodes[path[0]].get("parent_id")
            while parent in self.nodes and parent not in chain:
                chain.insert(0, str(parent))
                parent = self.nodes[str(parent)].get("parent_id")
            path = chain + path
        self.best_path = path
        self._resolve(event.get("reply_to"), data)

    # -- drawing ----------------------------------------------------------------------------

    def _draw(self) -> None:
        pos = self.layout_engine.pos
        ex: list[float | None] = []
        ey: list[float | None] = []
        xs, ys, colors, opac, texts, symbols = [], [], [], [], [], []
        ux: list[float] = []
        uy: list[float] = []
        utexts: list[str] = []
        for nid in self.order:
            node = self.nodes[nid]
            x, y = pos[nid]
            parent = node.get("parent_id")
            if parent in pos:
                px, py = pos[str(parent)]
                ex += [px, x, None]
                ey += [py, y, None]
            value = node.get("value")
            thought = "<br>".join(textwrap.wrap(str(node.get("thought", "")), 60)) or nid
            status = node.get("status", "")
            if not isinstance(value, (int, float)):
                ux.append(x)
                uy.append(y)
                utexts.append(f"{thought}<br>not scored yet<br>{status}")
                continue
            xs.append(x)
            ys.append(y)
            colors.append(float(value))
            pruned = status == "pruned"
            opac.append(0.25 if pruned else 1.0)
            symbols.append("x" if pruned else "circle")
            texts.append(f"{thought}<br>value: {value:.3g}<br>{status}")
        bx = [pos[n][0] for n in self.best_path if n in pos]
        by = [pos[n][1] for n in self.best_path if n in pos]
        edges, nodes, best, unscored = self.figure.data
        values = [c for c in colors if c == c]
        with self.figure.batch_update():
            unscored.x, unscored.y, unscored.text = ux, uy, utexts
            if values:  # the colour scale spans the values seen (never a fake 0)
                lo, hi = min(values), max(values)
                nodes.marker.cmin, nodes.marker.cmax = lo, hi if hi > lo else lo + 1e-9
            edges.x, edges.y = ex, ey
            nodes.x, nodes.y, nodes.text = xs, ys, texts
            nodes.marker.color = colors
            nodes.marker.opacity = opac
            nodes.marker.symbol = symbols
            best.x, best.y = bx, by
        self._draw_chart(self.figure, "Tree of Thought: x branch, y depth (colour: value)")
        pruned = sum(1 for n in self.nodes.values() if n.get("status") == "pruned")
        head = (
            f"<b>Tree of Thought</b> {esc(self.run_id or '')} &middot; step {self.step}"
            f" &middot; {len(self.nodes)} nodes ({pruned} pruned)"
        )
        self.header.value = head
        self.stop_button.disabled = not self.run_id or self.result is not None
        if self.result is not None:
            r = self.result
            solved = r.get("solved")
            status = str(r.get("status") or r.get("reason") or "")
            if "stop" in status or "cancel" in status:
                badge = "&#9632; stopped"
            elif solved is True:
                badge = "&#10004; solved"
            elif solved is False:
                badge = "&#10008; not solved"
            else:
                badge = "done"
            answer = r.get("answer")
            shown = (
                f"answer: <code>{esc(answer)}</code>"
                if answer not in (None, "")
                else "<i>no answer</i>"
            )
            stats = r.get("stats") or {}
            bits = ", ".join(f"{esc(k).replace('_', ' ')}: {esc(v)}" for k, v in stats.items())
            self.answer.value = f"<b>{badge}</b> &middot; {shown}<br><small>{bits}</small>"
        else:
            self.answer.value = (
                f"<i>running… step {self.step}, {len(self.nodes)} nodes</i>" if self.run_id else ""
            )

    def _snapshot_body(self) -> str:
        chart = figure_svg(self.figure, title="Tree of Thought (x: branch, y: value/depth)")
        return f"<div>{self.header.value}</div><div>{self.answer.value}</div>{chart}"
