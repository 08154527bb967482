"""EvolutionWidget: fitness and diversity per generation, the best genome, its genealogy."""

from __future__ import annotations

import concurrent.futures
import json
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._base import EventWidget, esc
from .render import figure_svg, html_table, theme_figure

__all__ = ["EvolutionWidget"]


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


class EvolutionWidget(EventWidget):
    """Follows one evolution run (``run_id``, the first seen, or the one it started).

    Plots best/mean/worst fitness and diversity per ``evolution_progress``; on
    ``evolution_complete`` shows the best genome and the winner's genealogy (its ``lineage`` /
    ``genealogy`` list when the service sends one).
    """

    EVENTS = ("evolution_progress", "evolution_complete")

    def __init__(self, *, run_id: str | None = None, plot: str = "svg", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.generations: list[dict[str, Any]] = []
        self.result: dict[str, Any] | None = None
        self.phase = ""
        #: the last ``phase: "evaluation"`` event of the generation being built
        self.live: dict[str, Any] | None = None
        self._start_id: str | None = None
        fig = make_subplots(specs=[[{"secondary_y": True}]])
        self.figure = go.FigureWidget(fig)
        for name, color, dash, symbol in (
            ("best", "#16a34a", "solid", "circle"),
            ("mean", "#2563eb", "dash", "square"),
            ("worst", "#dc2626", "dot", "diamond"),
        ):  # distinct dashes and markers: equal values stay visible on top of each other
            self.figure.add_scatter(
                name=name,
                mode="lines+markers",
                line={"color": color, "dash": dash, "width": 2},
                marker={"symbol": symbol, "size": 7},
                secondary_y=False,
            )
        self.figure.add_scatter(
            name="diversity",
            mode="lines",
            line={"dash": "dot", "color": "#9333ea"},
            secondary_y=True,
        )
        theme_figure(self.figure, height=380)
        self.figure.update_layout(
            margin={"l": 52, "r": 52, "t": 20, "b": 80},
            legend={"orientation": "h", "y": -0.28, "yanchor": "top", "x": 0},
            xaxis={"title": {"text": "generation"}, "dtick": 1, "tickformat": "d"},
        )
        self.figure.update_yaxes(title_text="fitness", secondary_y=False)
        self.figure.update_yaxes(title_text="diversity", secondary_y=True)
        self.header = W.HTML()
        self.best = W.HTML()
        self.genealogy = W.HTML()
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True)
        self.stop_button.on_click(lambda _b: self.stop())
        self.best.layout = W.Layout(flex="1 1 280px", min_width="0")
        self.genealogy.layout = W.Layout(flex="2 1 320px", min_width="0")
        top = W.HBox([self.header, self.stop_button])
        bottom = W.HBox([self.best, self.genealogy])
        top.add_class("pygent-row")
        bottom.add_class("pygent-row")
        self.children = (top, self._plot_view(self.figure, plot), bottom, self.status)
        self.throttle.request()

    def start(self, **options: Any) -> concurrent.futures.Future[Any]:
        """Send ``start_evolution``; the future resolves to the ``evolution_complete`` data."""
        with self._state_lock:
            self.run_id = None
            self.generations = []
            self.result = None
            self.live = None
        msg_id, future = self.request("start_evolution", options)
        self._start_id = msg_id
        self.throttle.request()
        return future

    def stop(self) -> None:
        if self.run_id and self.result is None:
            self.command("stop_evolution", {"run_id": self.run_id})

    def _follows(self, data: dict[str, Any], event: dict[str, Any]) -> bool:
        if self.run_id is None:
            if self._start_id is not None and event.get("reply_to") != self._start_id:
                return False
            self.run_id = data.get("run_id")
        return data.get("run_id") == self.run_id

    def _on_evolution_progress(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        if not self._follows(data, event):
            return
        phase = data.get("phase", "generation")
        if phase == "generation":  # not "started" / "evaluation" / "stopping"
            self.generations.append(data)
            self.live = None
        elif phase == "evaluation":  # one finished evaluation (live on a cluster)
            self.live = data
        else:
            self.phase = str(data.get("phase"))

    def _on_evolution_complete(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        if self._follows(data, event):
            self.result = data
            self._resolve(event.get("reply_to"), data)

    @property
    def best_fitness(self) -> list[float | None]:
        return [_num(g.get("best")) for g in self.generations]

    def _draw(self) -> None:
        gens = [g.get("generation") for g in self.generations]
        with self.figure.batch_update():
            for trace in self.figure.data:
                trace.x = gens
                trace.y = [_num(g.get(trace.name)) for g in self.generations]
        self._draw_chart(self.figure, "fitness (best / mean / worst) and diversity per generation")
        last = self.generations[-1] if self.generations else {}
        head = f"<b>Evolution</b> {esc(self.run_id or '')}"
        if last:
            head += (
                f" &middot; generation {esc(last.get('generation'))} &middot; best "
                f"{esc(_fmt_num(last.get('best')))} &middot; "
                f"{esc(last.get('evaluations', '?'))} "
                "evaluations"
            )
        live_row = self.live
        if live_row and self.result is None:
            head += (
                f" &middot; generation {esc(live_row.get('generation'))}: "
                f"{esc(live_row.get('evaluated'))}/{esc(live_row.get('to_evaluate'))} evaluated"
                f", best so far {esc(live_row.get('best_so_far'))}"
            )
        self.header.value = head
        self.stop_button.disabled = not self.run_id or self.result is not None
        if self.result is None:
            live = last.get("best_genome")
            if live is not None:
                self.best.value = (
                    "<b>Best genome so far</b><pre style='max-height:240px;overflow:auto'>"
                    f"{esc(json.dumps(live, indent=1))}</pre>"
                )
            else:
                self.best.value = f"<i>{esc(self.phase or 'running')}…</i>" if self.run_id else ""
            self.genealogy.value = ""
            return
        r = self.result
        best = r.get("best") or {}
        self.best.value = (
            "<b>Best genome</b>"
            + _improvement_html(r.get("improvement"))
            + f"<pre style='max-height:240px;overflow:auto'>{esc(json.dumps(best, indent=1))}"
            "</pre>"
        )
        lineage = r.get("genealogy") or r.get("lineage") or best.get("genealogy") or []
        if not lineage:
            self.genealogy.value = ""
            return
        rows = [
            (
                item.get("generation", ""),
                str(item.get("id", ""))[:12],
                item.get("op", item.get("operator", "")),
                ", ".join(
                    str(p)[:12] for p in item.get("parents", item.get("parent_ids", [])) or []
                ),
                _fmt_num(item.get("fitness", "")),
            )
            for item in lineage
            if isinstance(item, dict)
        ]
        self.genealogy.value = "<b>Genealogy of the winner</b>" + html_table(
            ("gen", "id", "operator", "parents", "fitness"), rows
        )

    def _snapshot_body(self) -> str:
        chart = figure_svg(self.figure, title="fitness / diversity per generation")
        return f"<div>{self.header.value}</div>{chart}<div>{self.best.value}</div>" + (
            f"<div>{self.genealogy.value}</div>"
        )


def _fmt_num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _improvement_html(improvement: Any) -> str:
    """``{"absolute": 0.2, "relative": 0.5, ...}`` as ``+0.2 (+50%)``; numbers as they are."""
    if improvement is None:
        return ""
    if isinstance(improvement, (int, float)):
        return f" &middot; improvement <b>{improvement:+.4g}</b>"
    if isinstance(improvement, dict):
        start, final = improvement.get("generation0_best"), improvement.get("final_best")
        absolute, relative = improvement.get("absolute"), improvement.get("relative")
        if isinstance(start, (int, float)) and isinstance(final, (int, float)):
            text = f"fitness {start:.4g} &rarr; <b>{final:.4g}</b>"
            extra = []
            if isinstance(absolute, (int, float)):
                extra.append(f"{absolute:+.4g}")
            if isinstance(relative, (int, float)):
                extra.append(f"{relative:+.1%}")
            return f" &middot; {text}" + (f" ({', '.join(extra)})" if extra else "")
        return " &middot; no improvement measured"
    return f" &middot; improvement {esc(improvement)}"
