"""Blocking samplers: psutil for the system, NVML (``nvidia-ml-py``) for GPUs.

Both return plain JSON-safe dicts shaped like the ``system_metrics`` / ``gpu_metrics``
events. Neither raises: no NVIDIA driver gives ``{"available": False, "gpus": []}``.
Call them from a worker thread, never from the event loop.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

import psutil

__all__ = ["GpuSampler", "sample_gpus", "sample_system"]

_process = psutil.Process(os.getpid())


def sample_system(disk_path: str = "/") -> dict[str, Any]:
    """One system sample. ``cpu_percent`` is the utilisation since the previous call."""
    vm = psutil.virtual_memory()
    try:
        du = psutil.disk_usage(disk_path)
        disk = {"path": disk_path, "total": du.total, "used": du.used, "percent": du.percent}
    except OSError:
        disk = {"path": disk_path}
    net = psutil.net_io_counters()
    try:
        load = list(os.getloadavg())
    except (AttributeError, OSError):
        load = []
    with _process.oneshot():
        process = {"rss": _process.memory_info().rss, "cpu_percent": _process.cpu_percent()}
    return {
        "cpu_percent": psutil.cpu_percent(interval=None),
        "cpu_count": psutil.cpu_count() or 0,
        "load_avg": load,
        "memory": {
            "total": vm.total,
            "used": vm.total - vm.available,
            "available": vm.available,
            "percent": vm.percent,
        },
        "disk": disk,
        "network": {"bytes_sent": net.bytes_sent, "bytes_recv": net.bytes_recv} if net else {},
        "process": process,
        "sampled_at": time.time(),
    }


class GpuSampler:
    """NVML, initialised once on first use; every failure becomes ``available: False``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: bool | None = None
        self._error = ""
        self._nvml: Any = None

    @property
    def available(self) -> bool | None:
        """True once NVML answered, False if it cannot, None before the first sample."""
        return self._ready

    def _init(self) -> bool:
        if self._ready is not None:
            return self._ready
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._ready = True
        except Exception as exc:  # no library, no driver, no device
            self._error = f"NVML unavailable: {type(exc).__name__}: {exc}".strip()
            self._ready = False
        return self._ready

    def sample(self) -> dict[str, Any]:
        with self._lock:
            if not self._init():
                return {
                    "available": False,
                    "gpus": [],
                    "error": self._error,
                    "sampled_at": time.time(),
                }
            try:
                return self._sample()
            except Exception as exc:
                return {
                    "available": False,
                    "gpus": [],
                    "sampled_at": time.time(),
                    "error": f"NVML query failed: {type(exc).__name__}: {exc}",
                }

    def _sample(self) -> dict[str, Any]:
        nv = self._nvml
        gpus = []
        for i in range(nv.nvmlDeviceGetCount()):
            h = nv.nvmlDeviceGetHandleByIndex(i)
            gpu: dict[str, Any] = {"index": i, "name": _text(nv.nvmlDeviceGetName(h))}
            gpu["uuid"] = _try(lambda h=h: _text(nv.nvmlDeviceGetUUID(h)))
            util = _try(lambda h=h: nv.nvmlDeviceGetUtilizationRates(h))
            gpu["utilization"] = float(util.gpu) if util is not None else None
            mem = _try(lambda h=h: nv.nvmlDeviceGetMemoryInfo(h))
            gpu["memory_used"] = float(mem.used) if mem is not None else None
            gpu["memory_total"] = float(mem.total) if mem is not None else None
            temp = _try(lambda h=h: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
            gpu["temperature"] = float(temp) if temp is not None else None
            power = _try(lambda h=h: nv.nvmlDeviceGetPowerUsage(h))
            gpu["power_w"] = power / 1000.0 if power is not None else None
            procs = _try(lambda h=h: nv.nvmlDeviceGetComputeRunningProcesses(h)) or []
            gpu["processes"] = [
                {"pid": p.pid, "memory_used": _bytes_or_none(p.usedGpuMemory)} for p in procs
            ]
            gpus.append(gpu)
        driver = _try(lambda: _text(nv.nvmlSystemGetDriverVersion())) or ""
        return {"available": True, "driver": driver, "gpus": gpus, "sampled_at": time.time()}

    def close(self) -> None:
        with self._lock:
            if self._ready:
                with contextlib.suppress(Exception):
                    self._nvml.nvmlShutdown()
            self._ready = None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _try(fn: Any) -> Any:
    try:
        return fn()
    except Exception:
        return None


def _bytes_or_none(value: Any) -> float | None:
    # NVML reports "not available" as a huge sentinel or None
    if value is None or value >= 2**63:
        return None
    return float(value)


_default = GpuSampler()


def sample_gpus() -> dict[str, Any]:
    """One GPU sample from the process-wide sampler."""
    return _default.sample()
