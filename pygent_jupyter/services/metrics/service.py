"""MetricsService: samples once per interval while anyone subscribes to ``metrics``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from traitlets import Float, Unicode

from ..base import Service
from ..seams import GpuMemoryReport, Publisher, Seams
from .alerts import AlertRule, AlertTracker, flatten_sample
from .sampler import GpuSampler, sample_system

if TYPE_CHECKING:
    from ...hub import Request
    from ...protocol.types import RequestSystemMetricsData
    from ...storage import Database

__all__ = ["MetricsService"]

TOPIC = "metrics"


class MetricsService(Service):
    """``request_system_metrics`` on demand; periodic ``system_metrics``/``gpu_metrics`` on the
    ``metrics`` topic; ``system_alert`` (to everyone) when a threshold is crossed or recovers.

    Sampling happens once per ``interval`` however many clients subscribe, and not at all
    when none do (so alerts, too, are evaluated only while someone watches).
    """

    name = "metrics"

    interval = Float(1.0, help="Seconds between samples on the metrics topic.").tag(config=True)
    cpu_threshold = Float(95.0, help="CPU % that raises an alert.").tag(config=True)
    memory_threshold = Float(90.0, help="Memory % that raises an alert.").tag(config=True)
    disk_threshold = Float(95.0, help="Disk % (of disk_path) that raises an alert.").tag(
        config=True
    )
    gpu_memory_threshold = Float(95.0, help="GPU memory % that raises an alert.").tag(config=True)
    gpu_temperature_threshold = Float(85.0, help="GPU temperature (C) that raises an alert.").tag(
        config=True
    )
    hysteresis = Float(
        5.0, help="How far below a threshold a value must fall before the alert resolves."
    ).tag(config=True)
    disk_path = Unicode("/", help="Filesystem whose usage is reported.").tag(config=True)

    def __init__(self, hub: Publisher, **kwargs: Any) -> None:
        super().__init__(hub, **kwargs)
        self._gpu_memory: GpuMemoryReport | None = None
        self.gpu = GpuSampler()
        self.tracker = AlertTracker(self._rules())
        self._task: asyncio.Task[None] | None = None
        self.samples_taken = 0
        hub.on_topic_change(self._on_topic_change)

    def bind(self, db: Database | None, seams: Seams) -> None:
        super().bind(db, seams)
        self._gpu_memory = seams.gpu_memory

    def _rules(self) -> list[AlertRule]:
        h = self.hysteresis
        return [
            AlertRule("cpu_percent", self.cpu_threshold, h),
            AlertRule("memory_percent", self.memory_threshold, h),
            AlertRule("disk_percent", self.disk_threshold, h),
            AlertRule("gpu_memory_percent", self.gpu_memory_threshold, h),
            AlertRule("gpu_temperature", self.gpu_temperature_threshold, h, "critical", " C"),
        ]

    def commands(self) -> Mapping[str, Callable[[Request], Awaitable[None]]]:
        return {"request_system_metrics": self._request}

    async def sample(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """One (system, gpu) sample, taken off the event loop."""
        loop = asyncio.get_running_loop()
        system, gpu = await loop.run_in_executor(None, self._sample_blocking)
        self.samples_taken += 1
        return system, gpu

    def _sample_blocking(self) -> tuple[dict[str, Any], dict[str, Any]]:
        system = sample_system(self.disk_path)
        gpu = self.gpu.sample()
        self._add_index_memory(gpu)
        return system, gpu

    def _add_index_memory(self, gpu: dict[str, Any]) -> None:
        report = self._gpu_memory
        if report is None or not gpu.get("gpus"):
            return
        try:
            held = report.gpu_index_bytes()
        except Exception:
            return
        for g in gpu["gpus"]:
            g["index_memory"] = float(held.get(g["index"], 0))

    async def _request(self, request: Request[RequestSystemMetricsData]) -> None:
        system, gpu = await self.sample()
        request.reply("system_metrics", system)
        request.reply("gpu_metrics", gpu)

    def _on_topic_change(self, topic: str, count: int) -> None:
        if topic != TOPIC:
            return
        if count and self._task is None:
            self._task = asyncio.ensure_future(self._loop())
        elif not count and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                system, gpu = await self.sample()
            except Exception:
                self.log.exception("metrics sampling failed")
            else:
                self.hub.publish_topic(TOPIC, "system_metrics", system)
                self.hub.publish_topic(TOPIC, "gpu_metrics", gpu)
                for alert in self.tracker.update(flatten_sample(system, gpu)):
                    self.hub.broadcast("system_alert", alert.to_data())
            next_at += self.interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.gpu.close()

    def health(self) -> dict[str, Any]:
        return {
            "state": "up",
            "sampling": self._task is not None,
            "interval": self.interval,
            "nvml": self.gpu.available,
        }
