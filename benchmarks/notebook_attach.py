"""Time-to-first-token with and without an attached 200-cell notebook (same run).

A real Hub with the agents and notebook services and the project's SQLite database (a file);
the model is scripted and answers at once, so the measured time is all ours: decoding and
validating the frame (the attachment included), committing the user turn, rendering the
attachments into the prompt, offering the notebook tools, up to the first ``chat_stream``.
The client is socket-less (frames go through the real envelope encode/decode), so network
time, equal for both, is left out. Runs alternate, with and without; medians are compared.

    .venv/bin/python benchmarks/notebook_attach.py [--runs 60] [--cells 200]

Fails (exit 1) when the attachment adds more than 20 ms to the median.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from traitlets.config import Config

from pygent_jupyter.hub import Hub
from pygent_jupyter.server.connections import Connection
from pygent_jupyter.services.agents import AgentsService
from pygent_jupyter.services.notebook import NotebookService
from pygent_jupyter.services.seams import wire
from pygent_jupyter.storage import Database
from pygent_jupyter.testing.scripted_tools import ScriptedToolModel, Step


class _Transport:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.first_delta: asyncio.Event | None = None
        self.t_first: float = 0.0

    async def _done(self) -> None:
        return None

    def write_frames(self, frames: Any) -> Any:
        for frame in frames:
            self.frames.append(frame)
            is_delta = '"type":"chat_stream"' in frame.replace(" ", "")
            if is_delta and self.first_delta is not None and not self.first_delta.is_set():
                self.t_first = time.perf_counter()
                self.first_delta.set()
        return self._done()

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        pass


def notebook(cells: int) -> dict[str, Any]:
    """A realistic notebook: a few lines of code and a short output per cell."""
    return {
        "kind": "notebook",
        "path": "analysis.ipynb",
        "active_cell_id": f"c{cells // 2}",
        "cells": [
            {
                "id": f"c{i}",
                "cell_type": "code",
                "source": f"df{i} = df.groupby('k{i}').agg({{'x': 'mean', 'y': 'sum'}})\n"
                f"df{i}.plot(kind='bar', title='step {i}')\nprint(df{i}.shape)",
                "outputs": f"({i}, 2)\n<Axes: title={{'center': 'step {i}'}}>",
                "execution_count": i,
            }
            for i in range(1, cells + 1)
        ],
    }


async def main(runs: int, cells: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "pygent.db")
        hub = Hub()
        config = Config()
        config.AgentsService.backend = "local"
        agents = AgentsService(hub, config=config)
        hub.register(agents)
        hub.register(NotebookService(hub, config=config))
        wire(hub.services.values(), db)
        await hub.start()
        model = ScriptedToolModel()
        agents.set_provider(model)  # type: ignore[arg-type]
        transport = _Transport()
        conn = Connection(transport, "bench", client_id="bench")
        hub.open(conn)
        attachment = notebook(cells)
        frame_size = 0
        times: dict[bool, list[float]] = {False: [], True: []}
        for i in range(runs * 2 + 4):
            attach = i % 2 == 1
            model.script(Step("ok"))
            data: dict[str, Any] = {"message": {"content": f"question {i}"}}
            if attach:
                data["attachments"] = [attachment]
            frame = json.dumps({"type": "chat_message", "id": f"b{i}", "data": data})
            frame_size = max(frame_size, len(frame))
            transport.first_delta = asyncio.Event()
            t0 = time.perf_counter()
            hub.handle_frame(conn, frame)
            await asyncio.wait_for(transport.first_delta.wait(), 10)
            if i >= 4:  # warm-up
                times[attach].append((transport.t_first - t0) * 1000)
            while conn.tasks:
                await asyncio.sleep(0)
        prompt = model.calls[-1]["messages"][0]["content"]
        await hub.stop()
        db.close()
    base = statistics.median(times[False])
    with_nb = statistics.median(times[True])
    print(f"{cells}-cell notebook, frame {frame_size / 1024:.1f} KiB, prompt {len(prompt)} chars")
    print(f"time to first token, median of {runs}: without {base:.2f} ms, with {with_nb:.2f} ms")
    print(
        f"added by the attachment: {with_nb - base:+.2f} ms (ratio {with_nb / base:.2f}x); "
        f"p90 with: {statistics.quantiles(times[True], n=10)[-1]:.2f} ms"
    )
    if with_nb - base > 20:
        print("FAIL: the attachment adds more than 20 ms")
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--cells", type=int, default=200)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.cells)))
