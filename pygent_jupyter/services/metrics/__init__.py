"""Live CPU/memory/disk/network (psutil) and GPU (NVML) metrics with threshold alerts."""

from .alerts import Alert, AlertRule, AlertTracker
from .sampler import sample_gpus, sample_system

__all__ = ["Alert", "AlertRule", "AlertTracker", "sample_gpus", "sample_system"]
