"""Benchmark-only server pieces, loaded by ws_bench.py into a real Jupyter Server.

- ``/bench/echo``: a bare Tornado WebSocketHandler echo (TCP_NODELAY on), the baseline.
- ``/bench/echo3``: replies three frames per message, with TCP_NODELAY off, to show the
  Nagle/delayed-ACK stall that ``set_nodelay(True)`` avoids.
- ``BenchService``: answers ``request_system_metrics`` with three canned events through the
  real Hub (so the 3-message reply measures transport, not psutil), and on
  ``ollama_list_models`` times a broadcast through the Hub against a bare loop that writes
  one pre-encoded frame to each connection (alternating, median of at least 15 each). The
  catalog is closed, so the benchmark reuses these two command types; this module is never
  loaded outside benchmarks.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from tornado.websocket import WebSocketHandler

from pygent_jupyter.services.base import Service


class Echo(WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True

    def open(self) -> None:
        self.set_nodelay(True)

    def on_message(self, message: Any) -> None:
        self.write_message(message)


class Echo3NoNodelay(WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True

    def on_message(self, message: Any) -> None:
        for _ in range(3):
            self.write_message(message)


class BenchExt(ExtensionApp):
    name = "_bench_ext"

    def initialize_handlers(self) -> None:
        self.handlers.extend([(r"/bench/echo", Echo), (r"/bench/echo3", Echo3NoNodelay)])


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "_bench_ext", "app": BenchExt}]


EVENT = {"metric": "bench", "state": "firing", "message": "x" * 420}  # ~0.5 KB on the wire


class BenchService(Service):
    name = "bench"

    def commands(self) -> dict[str, Any]:
        return {"request_system_metrics": self._three, "ollama_list_models": self._fanout}

    async def _three(self, request: Any) -> None:
        request.reply("system_metrics", {"cpu_percent": 1.0, "memory": {}, "sampled_at": 0.0})
        request.reply("gpu_metrics", {"available": False, "gpus": []})
        request.reply("system_metrics", {"cpu_percent": 2.0, "memory": {}, "sampled_at": 0.0})

    async def _fanout(self, request: Any) -> None:
        hub = self.hub
        conns = [c for c in hub.connections if c is not request.connection]
        frame = '{"type":"system_alert","data":' + __import__("json").dumps(EVENT) + ',"seq":1}'
        hub_times, bare_times = [], []
        for _ in range(max(15, 20_000 // max(1, len(conns)))):  # small fan-outs are noisier
            t0 = time.perf_counter()
            for c in conns:
                c._transport.write_message(frame)
            bare_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            hub.broadcast("system_alert", EVENT)
            hub.connections.flush()  # the loop would run this next; count it in
            hub_times.append(time.perf_counter() - t0)
        request.reply(
            "ollama_model_update",
            {
                "clients": len(conns),
                "hub_ms": statistics.median(hub_times) * 1e3,
                "bare_ms": statistics.median(bare_times) * 1e3,
            },
        )
