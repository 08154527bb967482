"""EvolutionWidget: fitness and diversity per generation, the best genome, its genealogy."""

from __future__ import annotations

import concurrent.futures
import json
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._base import EventWidget, esc

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

    def __init__(self, *, run_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.generations: list[dict[str, Any]] = []
        self.result: dict[str, Any] | None = None
        self.phase = ""
        self._start_id: str | None = None
        fig = make_subplots(specs=[[{"secondary_y": True}]])
        self.figure = go.FigureWidget(fig)
        for name, color in (("best", "#16a34a"), ("mean", "#2563eb"), ("worst", "#dc2626")):
            self.figure.add_scatter(
                name=name, mode="lines+markers", line={"color": color}, secondary_y=False
            )
        self.figure.add_scatter(
            name="diversity",
            mode="lines",
            line={"dash": "dot", "color": "#9333ea"},
            secondary_y=True,
        )
        self.figure.update_layout(
            height=360,
            template="plotly_white",
            margin={"l": 40, "r": 40, "t": 30, "b": 30},
            legend={"orientation": "h"},
            xaxis={"title": {"text": "generation"}},
        )
        self.figure.update_yaxes(title_text="fitness", secondary_y=False)
        self.figure.update_yaxes(title_text="diversity", secondary_y=True)
        self.header = W.HTML()
        self.best = W.HTML()
        self.genealogy = W.HTML()
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True)
        self.stop_button.on_click(lambda _b: self.stop())
        self.children = (
            W.HBox([self.header, self.stop_button]),
            self.figure,
            W.HBox([self.best, self.genealogy]),
            self.status,
        )
        self.throttle.request()

    def start(self, **options: Any) -> concurrent.futures.Future[Any]:
        """Send ``start_evolution``; the future resolves to the ``evolution_complete`` data."""
        with self._state_lock:
            self.run_id = None
            self.generations = []
            self.result = None
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
        if data.get("phase", "generation") == "generation":  # not "started" / "stopping"
            self.generations.append(data)
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
        last = self.generations[-1] if self.generations else {}
        head = f"<b>Evolution</b> {esc(self.run_id or '')}"
        if last:
            head += (
                f" &middot; generation {esc(last.get('generation'))} &middot; best "
                f"{esc(last.get('best'))} &middot; {esc(last.get('evaluations', '?'))} "
                "evaluations"
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
        improvement = r.get("improvement")
        self.best.value = (
            "<b>Best genome</b>"
            + (f" (improvement {esc(improvement)})" if improvement is not None else "")
            + f"<pre style='max-height:240px;overflow:auto'>{esc(json.dumps(best, indent=1))}"
            "</pre>"
        )
        lineage = r.get("genealogy") or r.get("lineage") or best.get("genealogy") or []
        if not lineage:
            self.genealogy.value = ""
            return
        rows = "".join(
            "<tr><td>{g}</td><td>{i}</td><td>{op}</td><td>{p}</td><td>{f}</td></tr>".format(
                g=esc(item.get("generation", "")),
                i=esc(item.get("id", "")),
                op=esc(item.get("op", item.get("operator", ""))),
                p=esc(
                    ", ".join(str(p) for p in item.get("parents", item.get("parent_ids", [])) or [])
                ),
                f=esc(item.get("fitness", "")),
            )
            for item in lineage
            if isinstance(item, dict)
        )
        self.genealogy.value = (
            "<b>Genealogy of the winner</b><table><tr><th>gen</th>"
            "<th>id</th><th>operator</th><th>parents</th><th>fitness</th>"
            f"</tr>{rows}</table>"
        )
