"""Threshold alerts with hysteresis. Pure: feed samples in, get alert transitions out.

A rule fires when its value reaches ``threshold`` and resolves only when the value falls to
``threshold - hysteresis`` or below, so a value hovering at the line yields one alert, not a
storm.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["Alert", "AlertRule", "AlertTracker", "flatten_sample"]


@dataclass(frozen=True)
class AlertRule:
    metric: str  # key in the flattened sample, e.g. "memory_percent" or "gpu_temperature"
    threshold: float
    hysteresis: float = 5.0
    severity: Literal["info", "warning", "critical"] = "warning"
    unit: str = "%"


@dataclass(frozen=True)
class Alert:
    metric: str
    state: Literal["firing", "resolved"]
    severity: str
    value: float
    threshold: float
    message: str
    gpu_index: int | None = None

    def to_data(self) -> dict[str, object]:
        data: dict[str, object] = {
            "metric": self.metric,
            "state": self.state,
            "severity": self.severity,
            "value": round(self.value, 2),
            "threshold": self.threshold,
            "message": self.message,
            "source": "metrics",
        }
        if self.gpu_index is not None:
            data["gpu_index"] = self.gpu_index
        return data


class AlertTracker:
    """Remembers which (metric, gpu) pairs are firing; :meth:`update` returns transitions."""

    def __init__(self, rules: Iterable[AlertRule]) -> None:
        self.rules = list(rules)
        self.firing: set[tuple[str, int | None]] = set()

    def update(self, values: Mapping[tuple[str, int | None], float]) -> list[Alert]:
        """Feed one sample (``(metric, gpu_index) -> value``); get the alerts that changed."""
        out: list[Alert] = []
        for rule in self.rules:
            for (metric, gpu), value in values.items():
                if metric != rule.metric:
                    continue
                key = (metric, gpu)
                where = f"GPU {gpu} " if gpu is not None else ""
                if key not in self.firing and value >= rule.threshold:
                    self.firing.add(key)
                    out.append(
                        Alert(
                            metric,
                            "firing",
                            rule.severity,
                            value,
                            rule.threshold,
                            f"{where}{metric} at {value:.1f}{rule.unit} "
                            f"(threshold {rule.threshold:g}{rule.unit})",
                            gpu,
                        )
                    )
                elif key in self.firing and value <= rule.threshold - rule.hysteresis:
                    self.firing.discard(key)
                    out.append(
                        Alert(
                            metric,
                            "resolved",
                            "info",
                            value,
                            rule.threshold,
                            f"{where}{metric} recovered to {value:.1f}{rule.unit}",
                            gpu,
                        )
                    )
        return out


def flatten_sample(
    system: Mapping[str, object], gpu: Mapping[str, object]
) -> dict[tuple[str, int | None], float]:
    """The values alert rules look at, from one ``system_metrics`` and ``gpu_metrics`` pair."""
    values: dict[tuple[str, int | None], float] = {}
    cpu = system.get("cpu_percent")
    if isinstance(cpu, (int, float)):
        values[("cpu_percent", None)] = float(cpu)
    for name in ("memory", "disk"):
        part = system.get(name)
        if isinstance(part, Mapping) and isinstance(part.get("percent"), (int, float)):
            values[(f"{name}_percent", None)] = float(part["percent"])
    gpus = gpu.get("gpus")
    if isinstance(gpus, list):
        for g in gpus:
            idx = g.get("index")
            used, total = g.get("memory_used"), g.get("memory_total")
            if isinstance(used, (int, float)) and isinstance(total, (int, float)) and total:
                values[("gpu_memory_percent", idx)] = 100.0 * used / total
            if isinstance(g.get("temperature"), (int, float)):
                values[("gpu_temperature", idx)] = float(g["temperature"])
    return values
