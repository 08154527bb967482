"""System and GPU metrics, and threshold alerts."""

from __future__ import annotations

from ..spec import CLIENT, SERVER, MessageSpec, arr, boolean, integer, number, obj, string

NUM_OR_NULL = {"type": ["number", "null"]}

GPU = obj(
    {
        "index": integer(),
        "name": string(),
        "uuid": string(),
        "utilization": NUM_OR_NULL,
        "memory_used": NUM_OR_NULL,
        "memory_total": NUM_OR_NULL,
        "temperature": NUM_OR_NULL,
        "power_w": NUM_OR_NULL,
        "processes": arr(obj({"pid": integer(), "memory_used": NUM_OR_NULL}, additional=True)),
        "index_memory": NUM_OR_NULL,
    },
    required=["index", "name"],
    additional=True,
)

MESSAGES = [
    MessageSpec(
        "request_system_metrics",
        CLIENT,
        obj({}),
        "Ask for one sample now. Answered by `system_metrics` and `gpu_metrics`.",
        {"type": "request_system_metrics", "id": "q1", "data": {}},
        domain="metrics",
    ),
    MessageSpec(
        "system_metrics",
        SERVER,
        obj(
            {
                "cpu_percent": number(),
                "cpu_count": integer(),
                "load_avg": arr(number()),
                "memory": obj(additional=True),
                "disk": obj(additional=True),
                "network": obj(additional=True),
                "process": obj(additional=True),
                "sampled_at": number(),
            },
            required=["cpu_percent", "memory", "sampled_at"],
            additional=True,
        ),
        "One psutil sample: CPU %, memory, disk and network counters (bytes). On the `metrics` "
        "topic every `MetricsService.interval` seconds; lossy (a slow client gets the latest).",
        {
            "type": "system_metrics",
            "seq": 12,
            "ts": "2026-11-27T15:00:01.000Z",
            "data": {
                "cpu_percent": 12.5,
                "cpu_count": 2,
                "load_avg": [0.4, 0.3, 0.2],
                "memory": {"total": 25769803776, "used": 4294967296, "percent": 16.7},
                "disk": {"total": 270582939648, "used": 23622320128, "percent": 8.7},
                "network": {"bytes_sent": 1024, "bytes_recv": 2048},
                "process": {"rss": 123456789, "cpu_percent": 1.0},
                "sampled_at": 1764250001.0,
            },
        },
        lossy=True,
        domain="metrics",
    ),
    MessageSpec(
        "gpu_metrics",
        SERVER,
        obj(
            {
                "available": boolean(),
                "driver": string(),
                "gpus": arr(GPU),
                "error": string(),
                "sampled_at": number(),
            },
            required=["available", "gpus"],
            additional=True,
        ),
        "One NVML sample per GPU (utilization %, memory bytes, temperature C, power W, per-process "
        "memory). Without an NVIDIA driver: `available:false, gpus:[]`. Lossy like "
        "`system_metrics`.",
        {
            "type": "gpu_metrics",
            "seq": 13,
            "ts": "2026-11-27T15:00:01.000Z",
            "data": {
                "available": True,
                "driver": "550.54",
                "sampled_at": 1764250001.0,
                "gpus": [
                    {
                        "index": 0,
                        "name": "NVIDIA H100",
                        "uuid": "GPU-1",
                        "utilization": 37.0,
                        "memory_used": 2147483648,
                        "memory_total": 85899345920,
                        "temperature": 41.0,
                        "power_w": 120.5,
                        "processes": [{"pid": 4242, "memory_used": 1073741824}],
                    }
                ],
            },
        },
        lossy=True,
        domain="metrics",
    ),
    MessageSpec(
        "system_alert",
        SERVER,
        obj(
            {
                "metric": string(),
                "state": string(enum=["firing", "resolved"]),
                "severity": string(enum=["info", "warning", "critical"]),
                "value": number(),
                "threshold": number(),
                "message": string(),
                "gpu_index": integer(),
                "source": string(),
            },
            required=["metric", "state", "message"],
            additional=True,
        ),
        "A threshold was crossed (`firing`) or recovered (`resolved`), with hysteresis so a value "
        "hovering at the line does not flood clients. Sent to everyone.",
        {
            "type": "system_alert",
            "seq": 20,
            "ts": "2026-11-27T15:00:05.000Z",
            "data": {
                "metric": "memory_percent",
                "state": "firing",
                "severity": "warning",
                "value": 91.2,
                "threshold": 90.0,
                "message": "memory at 91.2% (threshold 90%)",
            },
        },
        domain="metrics",
    ),
]
