"""MetricsDashboard: CPU, memory and per-GPU time series, alerts, Ollama status and tokens/s."""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime, timezone
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._base import EventWidget, esc
from .render import figure_svg, theme_figure

__all__ = ["MetricsDashboard"]

GIB = 1024**3


def _pct(used: Any, total: Any) -> float | None:
    if isinstance(used, (int, float)) and isinstance(total, (int, float)) and total > 0:
        return 100.0 * used / total
    return None


class MetricsDashboard(EventWidget):
    """Live system metrics from the ``metrics`` and ``ollama`` topics.

    Keeps the samples of the last ``window`` seconds (by each sample's ``sampled_at``): the top
    plot shows CPU %, memory % and each GPU's utilization %, the bottom one each GPU's VRAM %
    and temperature. ``system_alert`` events drive a banner of the alerts now firing.
    """

    EVENTS = (
        "system_metrics",
        "gpu_metrics",
        "system_alert",
        "ollama_status",
        "ollama_metrics",
        "ollama_model_update",
        "subscribed",
    )

    def __init__(self, *, window: float = 300.0, plot: str = "svg", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.window = window
        self.system: deque[tuple[float, float, float | None]] = deque()
        self.gpus: dict[int, deque[tuple[float, float | None, float | None, float | None]]] = {}
        self.gpu_names: dict[int, str] = {}
        self.gpu_available: bool | None = None
        self.alerts: dict[tuple[str, Any], dict[str, Any]] = {}
        self.ollama: dict[str, Any] = {}
        self.tokens_per_s: float | None = None
        self.latest: dict[str, Any] = {}
        self.figure = go.FigureWidget(
            make_subplots(
                rows=2,
                cols=1,
                shared_xaxes=True,
                vertical_spacing=0.2,
                subplot_titles=("Utilization %", "GPU memory % / temperature °C"),
            )
        )
        self.figure.add_scatter(name="CPU %", mode="lines+markers", row=1, col=1)
        self.figure.add_scatter(name="Memory %", mode="lines+markers", row=1, col=1)
        theme_figure(self.figure, height=440)
        self.figure.update_layout(
            margin={"l": 48, "r": 16, "t": 30, "b": 40},
            legend={"orientation": "h", "y": -0.12, "yanchor": "top"},
        )
        self.figure.update_yaxes(range=[0, 100], row=1, col=1, title_text="%")
        self.figure.update_xaxes(showticklabels=True, tickformat="%H:%M:%S")
        self.figure.add_annotation(
            text="no GPU detected",
            name="no-gpu",
            visible=False,
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.22,
            font={"size": 14},
        )
        self.banner = W.HTML()
        self.summary = W.HTML()
        self.backend = W.HTML()
        view = self._plot_view(self.figure, plot)
        self.children = (self.status, self.banner, self.summary, self.backend, view)
        self.throttle.request()

    # -- model ------------------------------------------------------------------------------

    def _trim(self, now: float) -> None:
        horizon = now - self.window
        while self.system and self.system[0][0] < horizon:
            self.system.popleft()
        for series in self.gpus.values():
            while series and series[0][0] < horizon:
                series.popleft()

    def _on_system_metrics(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        t = float(data.get("sampled_at") or time.time())
        memory = data.get("memory") or {}
        mem = memory.get("percent")
        self.system.append((t, float(data.get("cpu_percent", 0.0)), mem))
        self.latest = data
        self._trim(t)

    def _on_gpu_metrics(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        self.gpu_available = bool(data.get("available"))
        t = float(data.get("sampled_at") or time.time())
        for gpu in data.get("gpus") or []:
            index = int(gpu.get("index", 0))
            self.gpu_names[index] = str(gpu.get("name", f"GPU {index}"))
            series = self.gpus.setdefault(index, deque())
            series.append(
                (
                    t,
                    gpu.get("utilization"),
                    _pct(gpu.get("memory_used"), gpu.get("memory_total")),
                    gpu.get("temperature"),
                )
            )
        self._trim(t)

    def _on_system_alert(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        key = (str(data.get("metric")), data.get("gpu_index"))
        if data.get("state") == "resolved":
            self.alerts.pop(key, None)
        else:
            self.alerts[key] = data

    def _on_ollama_status(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        self.ollama.update(data)

    def _on_ollama_metrics(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        tps = data.get("tokens_per_s")
        if isinstance(tps, (int, float)):
            self.tokens_per_s = float(tps)
        if data.get("model"):
            self.ollama["last_model"] = data["model"]

    def _on_ollama_model_update(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        self.ollama["models"] = [m.get("name") for m in data.get("models") or []]

    def _on_subscribed(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        pass

    @property
    def points(self) -> int:
        """How many samples the plot shows now (the browser test asserts it is > 0)."""
        return len(self.system)

    # -- drawing ----------------------------------------------------------------------------

    def _ensure_gpu_traces(self) -> None:
        have = {t.name for t in self.figure.data}
        for index, name in sorted(self.gpu_names.items()):
            label = f"GPU{index} {name}"
            if f"{label} util %" not in have:
                self.figure.add_scatter(name=f"{label} util %", mode="lines", row=1, col=1)
                self.figure.add_scatter(name=f"{label} VRAM %", mode="lines", row=2, col=1)
                self.figure.add_scatter(
                    name=f"{label} temp °C", mode="lines", line={"dash": "dot"}, row=2, col=1
                )

    def _draw(self) -> None:
        fig = self.figure
        self._ensure_gpu_traces()
        xs = [_when(t) for t, _, _ in self.system]
        by_name = {t.name: t for t in fig.data}
        with fig.batch_update():
            by_name["CPU %"].x, by_name["CPU %"].y = xs, [c for _, c, _ in self.system]
            by_name["Memory %"].x, by_name["Memory %"].y = xs, [m for _, _, m in self.system]
            for index, series in self.gpus.items():
                label = f"GPU{index} {self.gpu_names[index]}"
                gx = [_when(s[0]) for s in series]
                for suffix, pos in (("util %", 1), ("VRAM %", 2), ("temp °C", 3)):
                    trace = by_name[f"{label} {suffix}"]
                    trace.x, trace.y = gx, [s[pos] for s in series]
            if self.system:  # show the window, not plotly's guess from one or two points
                newest = self.system[-1][0]
                pad = 0.03 * self.window
                fig.update_xaxes(range=[_when(newest - self.window), _when(newest + pad)])
        if fig.layout.annotations:
            no_gpu = self.gpu_available is False and not self.gpus
            for note in fig.layout.annotations:
                if note.name == "no-gpu" and note.visible != no_gpu:
                    note.visible = no_gpu
        self.banner.value = self._banner_html()
        self.summary.value = self._summary_html()
        self.backend.value = self._backend_html()
        self._draw_chart(fig, "Utilization % (top) · GPU memory % / °C (bottom)")

    def _banner_html(self) -> str:
        return "".join(
            "<div class='pygent-alert{crit}' role='alert'>&#9888; {msg}</div>".format(
                crit=" pygent-alert-critical" if a.get("severity") == "critical" else "",
                msg=esc(a.get("message", a.get("metric"))),
            )
            for a in self.alerts.values()
        )

    def _snapshot_body(self) -> str:
        chart = figure_svg(self.figure, title="Utilization % / GPU memory % and °C")
        return (
            f"<b>Metrics</b>{self._banner_html()}<div>{self._summary_html()}</div>"
            f"<div>{self._backend_html()}</div>{chart}"
        )

    def _summary_html(self) -> str:
        d = self.latest
        if not d:
            return "<i>waiting for the first metrics sample…</i>"
        mem = d.get("memory") or {}
        parts = [
            f"CPU <b>{float(d.get('cpu_percent', 0)):.1f}%</b>"
            + (f" of {d['cpu_count']} cores" if d.get("cpu_count") else ""),
            f"memory <b>{float(mem.get('percent', 0)):.1f}%</b>"
            + (
                f" ({mem.get('used', 0) / GIB:.1f} / {mem.get('total', 0) / GIB:.1f} GiB)"
                if mem.get("total")
                else ""
            ),
        ]
        if self.gpu_available is False:
            parts.append("no GPU")
        elif self.gpus:
            parts.append(f"{len(self.gpus)} GPU(s)")
        return " &middot; ".join(parts) + f" &middot; {len(self.system)} samples"

    def _backend_html(self) -> str:
        o = self.ollama
        if not o and self.tokens_per_s is None:
            return ""
        if o.get("reachable"):
            state = f"Ollama <b>reachable</b> at {esc(o.get('host', ''))}"
            if o.get("version"):
                state += f" (v{esc(o['version'])})"
        elif o:
            state = f"Ollama not reachable; backend <b>{esc(o.get('backend', 'local'))}</b>"
        else:
            state = "LLM backend"
        if o.get("models"):
            state += " &middot; models: " + esc(", ".join(str(m) for m in o["models"][:8]))
        if self.tokens_per_s is not None:
            state += f" &middot; last response <b>{self.tokens_per_s:.1f} tokens/s</b>"
        return state

    def _on_reconnected(self) -> None:
        self.command("subscribe", {"topics": ["metrics", "ollama"]})

    def _on_attach(self) -> None:
        self.command("subscribe", {"topics": ["metrics", "ollama"]})
        self.command("request_system_metrics", {})


def _when(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)
