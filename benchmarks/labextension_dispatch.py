"""Incoming-event throughput of the lab extension's PygentConnection, against a bare baseline.

    python benchmarks/labextension_dispatch.py            # 10 000 chat_stream frames per round
    python benchmarks/labextension_dispatch.py --runs 3   # repeat and report each run

Runs ``labextension/test/dispatch.bench.ts`` with Vitest's bench mode (tinybench under Node):
the same 10 000 ``chat_stream`` frames (one per generated token, the hottest path) go through

- the baseline: ``JSON.parse`` + ``switch`` on the type, what a minimal client does;
- ``PygentConnection``: seq tracking, the duplicate check used by ``resume``, typed handlers,
  reply-id handlers and catch-all handlers.

It prints frames per second for both and the ratio. Needs Node.js and ``npm ci`` in
``labextension/``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

LABEXT = Path(__file__).resolve().parent.parent / "labextension"
FRAMES = 10_000


def run_once() -> dict[str, float]:
    """One Vitest bench run; returns frames/s by benchmark name."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        subprocess.run(
            ["npx", "--no-install", "vitest", "bench", "--run", "--outputJson", str(out)],
            cwd=LABEXT,
            check=True,
            capture_output=True,
            timeout=300,
        )
        report = json.loads(out.read_text())
    rates: dict[str, float] = {}
    for group in report["files"][0]["groups"]:
        for bench in group["benchmarks"]:
            if not bench.get("hz"):
                raise RuntimeError(f"benchmark {bench['name']!r} failed (no samples)")
            rates[bench["name"]] = bench["hz"] * FRAMES
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    base_key = "baseline: JSON.parse + switch"
    ours_key = "PygentConnection"
    for i in range(args.runs):
        rates = run_once()
        base, ours = rates[base_key], rates[ours_key]
        print(
            f"run {i + 1}: baseline {base:,.0f} frames/s, PygentConnection {ours:,.0f} "
            f"frames/s, ratio {ours / base:.2f}x (overhead {base / ours:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
