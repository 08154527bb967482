"""Foundation benchmark: /pygent/ws against bare Tornado in the same Jupyter Server.

    python benchmarks/ws_bench.py            # full: 2000 pings, fan-out to 100/1000/5000
    python benchmarks/ws_bench.py --quick    # smaller counts

Prints p50/p99 and ratios; see benchmarks/README.md for results and targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import websockets
from _server import free_port, start_jupyter_server

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"


def start_server(port: int, tmp: str) -> subprocess.Popen[bytes]:
    args = [
        "--PygentJupyter.services=_bench_ext:BenchService",
        "--PygentJupyter.max_concurrent_commands=64",
    ]
    extensions = "{'_bench_ext': True, 'pygent_jupyter': True}"
    return start_jupyter_server(port, tmp, TOKEN, args, extensions=extensions, pythonpath=str(HERE))


async def wait_up(port: int) -> None:
    for _ in range(300):
        try:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/bench/echo")
            await ws.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def pygent(port: int) -> websockets.ClientConnection:
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/pygent/ws",
        additional_headers={"Authorization": f"token {TOKEN}"},
        max_size=None,
    )
    await ws.recv()  # connection_status
    return ws


async def once(ws: websockets.ClientConnection, type_: str, replies: int, i: int) -> float:
    """One round trip of a ``type_`` command (unique id) awaiting ``replies`` frames, in ms."""
    frame = json.dumps({"type": type_, "id": f"r{i}", "data": {}})
    t0 = time.perf_counter()
    await ws.send(frame)
    for _ in range(replies):
        await ws.recv()
    return (time.perf_counter() - t0) * 1e3


async def interleaved(
    cases: list[tuple[websockets.ClientConnection, str, int]], n: int
) -> list[list[float]]:
    """``n`` round trips of each case, taken in turn so every case sees the same machine
    conditions (this machine is shared: sequential blocks would compare different loads)."""
    out: list[list[float]] = [[] for _ in cases]
    for i in range(n + 50):
        for samples, (ws, type_, replies) in zip(out, cases, strict=True):
            elapsed = await once(ws, type_, replies, i)
            if i >= 50:  # warm-up
                samples.append(elapsed)
    return out


async def main(quick: bool) -> None:
    n = 500 if quick else 2000
    sizes = [100, 1000] if quick else [100, 1000, 5000]
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(port, tmp)
        try:
            await wait_up(port)
            proc = psutil.Process(server.pid)
            echo = await websockets.connect(f"ws://127.0.0.1:{port}/bench/echo")
            echo3 = await websockets.connect(f"ws://127.0.0.1:{port}/bench/echo3")
            ws = await pygent(port)
            bare, ours, ours3 = await interleaved(
                [(echo, "ping", 1), (ws, "ping", 1), (ws, "request_system_metrics", 3)], n
            )
            (nagle,) = await interleaved([(echo3, "ping", 3)], min(n, 100))
            print(f"{'':34}{'p50 ms':>9}{'p99 ms':>9}")
            for name, vals in [
                ("bare Tornado echo", bare),
                ("pygent ping", ours),
                ("pygent 3-message reply", ours3),
                ("bare 3 frames, no TCP_NODELAY", nagle),
            ]:
                print(f"{name:34}{pct(vals, 0.5):9.3f}{pct(vals, 0.99):9.3f}")
            b50 = pct(bare, 0.5)
            print(
                f"ratio ping/bare echo (p50)            {pct(ours, 0.5) / b50:6.2f}  target <= 1.5"
            )
            print(
                f"ratio 3-message reply/bare echo (p50) {pct(ours3, 0.5) / b50:6.2f}  target <= 2"
            )

            clients: list[websockets.ClientConnection] = []
            drains: list[asyncio.Task[None]] = []

            async def drain(c: websockets.ClientConnection) -> None:
                async for _ in c:
                    pass

            # idle memory first, before any fan-out has allocated (and freed) buffers
            per_conn: dict[int, float] = {}
            for size in sizes:
                rss0, before = proc.memory_info().rss, len(clients)
                while len(clients) < size:
                    batch = await asyncio.gather(
                        *[pygent(port) for _ in range(min(200, size - len(clients)))]
                    )
                    clients += batch
                await asyncio.sleep(1.0)
                per_conn[size] = (proc.memory_info().rss - rss0) / (size - before) / 1024
            errors = sum(1 for c in clients if c.close_code is not None)
            drains += [asyncio.ensure_future(drain(c)) for c in clients]
            print(f"\n{'clients':>8}{'hub ms':>9}{'bare ms':>9}{'ratio':>7}  KiB/idle conn")
            for size in sorted(sizes, reverse=True):  # then fan out, closing clients in between
                while len(clients) > size:
                    await clients.pop().close()
                await asyncio.sleep(0.5)
                await ws.send(
                    json.dumps({"type": "ollama_list_models", "id": f"f{size}", "data": {}})
                )
                while True:
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 120))
                    if reply.get("reply_to") == f"f{size}":
                        break
                data = reply["data"]
                ratio = data["hub_ms"] / data["bare_ms"]
                print(
                    f"{data['clients']:8d}{data['hub_ms']:9.2f}{data['bare_ms']:9.2f}"
                    f"{ratio:7.2f}  {per_conn[size]:6.1f}"
                )
            print(f"\n{max(sizes)} concurrent connections held; {errors} closed with an error")
            print("targets: fan-out ratio <= 1.2, <= 32 KiB per idle connection")
            for t in drains:
                t.cancel()
        finally:
            server.terminate()
            server.wait(20)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
