"""Metrics: alert rules (pure), samplers without a GPU, alerts over the socket."""

from __future__ import annotations

import pytest

from pygent_jupyter.services.metrics import AlertRule, AlertTracker, sample_gpus, sample_system
from pygent_jupyter.services.metrics.alerts import flatten_sample
from pygent_jupyter.services.metrics.sampler import GpuSampler


def test_hysteresis_fires_once_and_recovers_once():
    tracker = AlertTracker([AlertRule("memory_percent", 90, hysteresis=5)])
    series = [80, 91, 95, 89, 90.5, 88, 86, 84, 92]
    transitions = []
    for value in series:
        transitions += [
            (a.state, a.value) for a in tracker.update({("memory_percent", None): value})
        ]
    # hovering between 85 and 95 after firing does not storm; 84 recovers; 92 fires again
    assert transitions == [("firing", 91), ("resolved", 84), ("firing", 92)]


def test_gpu_rules_are_per_gpu():
    tracker = AlertTracker([AlertRule("gpu_temperature", 85, 5, "critical", " C")])
    sample = {"gpus": [{"index": 0, "temperature": 90.0}, {"index": 1, "temperature": 40.0}]}
    (alert,) = tracker.update(flatten_sample({}, sample))
    assert alert.gpu_index == 0 and alert.severity == "critical"
    assert "GPU 0" in alert.message and alert.to_data()["gpu_index"] == 0


def test_flatten_sample_reads_percentages():
    system = {"cpu_percent": 12.0, "memory": {"percent": 50.0}, "disk": {"percent": 70.0}}
    gpu = {"gpus": [{"index": 0, "memory_used": 50.0, "memory_total": 100.0}]}
    values = flatten_sample(system, gpu)
    assert values[("gpu_memory_percent", 0)] == 50.0
    assert values[("memory_percent", None)] == 50.0


def test_system_sample_shape():
    sample = sample_system()
    assert sample["memory"]["total"] > 0 and sample["cpu_count"] >= 1
    assert 0 <= sample["memory"]["percent"] <= 100


def test_no_driver_means_unavailable_not_exception():
    sample = sample_gpus()
    if sample["available"]:
        pytest.skip("an NVIDIA driver is present on this machine")
    assert sample["gpus"] == [] and "NVML" in sample["error"]


def test_nvml_failure_is_reported(monkeypatch):
    import pynvml

    def broken():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)

    monkeypatch.setattr(pynvml, "nvmlInit", broken)
    sample = GpuSampler().sample()
    assert sample["available"] is False and sample["gpus"] == []


@pytest.fixture
def pygent_config():
    # memory is always above 0.01%; the other rules are out of reach on a busy machine
    return {
        "MetricsService": {
            "interval": 0.1,
            "memory_threshold": 0.01,
            "cpu_threshold": 1e9,
            "disk_threshold": 1e9,
        }
    }


async def test_threshold_alert_reaches_every_client(ws_client):
    watcher, bystander = await ws_client(), await ws_client()
    await watcher.request("subscribe", {"topics": ["metrics"]})
    for client in (watcher, bystander):
        alert = await client.recv("system_alert", timeout=5)
        assert alert["data"]["state"] == "firing"
        assert alert["data"]["metric"] == "memory_percent"
    await watcher.recv("system_metrics")
    # hysteresis: no second alert for the same condition
    for _ in range(3):
        await watcher.recv("system_metrics")
    alerts = [e["data"] for e in watcher.events if e["type"] == "system_alert"]
    assert len(alerts) == 1, alerts
