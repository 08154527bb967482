"""Widget event intake: coalesced redraws (<= 10/s) against redrawing on every event.

    python benchmarks/widget_redraws.py                  # 2000 events per widget, 1 ms apart
    python benchmarks/widget_redraws.py --events 20000 --gap 0

Each widget is fed the same stream of realistic events (catalog shapes: metrics samples,
chat deltas, ToT nodes) on its own thread, as the Link delivers them, without a kernel
(ipywidgets' dummy comm records what would go to the browser). The baseline is the same
widget with the throttle disabled (``max_rate`` huge: one redraw per event), which is what a
widget that redraws in its event handler does. Reported: events/s the widget absorbs, redraws,
and comm messages (what the browser would have to apply) - per run and as ratios.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from typing import Any

import comm

from pygent_jupyter.widgets import ChatWidget, MetricsDashboard, ReasoningTreeWidget


class _Comm:
    comm_id = "bench"
    kernel = "Truthy"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent = 0

    def open(self, *args: Any, **kwargs: Any) -> None: ...

    def on_msg(self, *args: Any, **kwargs: Any) -> None: ...

    def close(self, *args: Any, **kwargs: Any) -> None: ...

    def send(self, *args: Any, **kwargs: Any) -> None:
        self.sent += 1


COMMS: list[_Comm] = []


def _create_comm(**kwargs: Any) -> _Comm:
    c = _Comm()
    COMMS.append(c)
    return c


def metrics_events(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {
            "type": "system_metrics",
            "seq": i + 1,
            "data": {
                "cpu_percent": float(i % 100),
                "sampled_at": 1000.0 + i * 0.01,
                "memory": {"percent": 40.0, "used": 1, "total": 2},
            },
        }


def chat_events(n: int, reply_to: str) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {
            "type": "chat_stream",
            "seq": i + 1,
            "reply_to": reply_to,
            "data": {"message_id": "m", "delta": f"tok{i} ", "index": i},
        }


def tot_events(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {
            "type": "reasoning_update",
            "seq": i + 1,
            "data": {
                "run_id": "tot-1",
                "event": "node",
                "step": 1 + i // 50,
                "node": {
                    "id": f"n{i}",
                    "parent_id": f"n{(i - 1) // 5}" if i else None,
                    "depth": 0 if i == 0 else 1 + (i - 1) // 50,
                    "thought": f"thought {i}",
                    "value": float(i % 20),
                    "status": "pruned" if i % 7 == 0 else "evaluated",
                },
            },
        }


def run(
    make: Callable[[float], Any],
    events: Callable[[Any], Iterator[dict[str, Any]]],
    gap: float,
    rate: float,
) -> dict[str, float]:
    COMMS.clear()
    widget = make(rate)
    stamps: list[float] = []
    draw = widget.throttle.draw

    def timed() -> None:
        stamps.append(time.perf_counter())
        draw()

    widget.throttle.draw = timed
    before = sum(c.sent for c in COMMS)
    started = time.perf_counter()
    n = 0
    for event in events(widget):
        widget.feed(event)
        n += 1
        if gap:
            time.sleep(gap)
    fed = time.perf_counter() - started
    time.sleep(0.25)  # the last coalesced draw
    widget.flush()
    busiest = max((sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps), default=0)
    return {
        "max_per_s": busiest,
        "events": n,
        "seconds": fed,
        "events_per_s": n / fed,
        "redraws": widget.throttle.draws,
        "messages": sum(c.sent for c in COMMS) - before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--gap", type=float, default=0.001, help="seconds between events")
    args = parser.parse_args()
    comm.create_comm = _create_comm
    comm.get_comm_manager = lambda **kw: {}

    def chat(rate: float) -> ChatWidget:
        w = ChatWidget(send=lambda *a: None, max_rate=rate)
        w._sent_ids.append("m1")
        return w

    cases: list[tuple[str, Callable[[float], Any], Callable[[Any], Iterator[dict[str, Any]]]]] = [
        (
            "MetricsDashboard",
            lambda r: MetricsDashboard(max_rate=r, window=1e9),
            lambda w: metrics_events(args.events),
        ),
        ("ChatWidget", chat, lambda w: chat_events(args.events, "m1")),
        (
            "ReasoningTreeWidget",
            lambda r: ReasoningTreeWidget(max_rate=r),
            lambda w: tot_events(min(args.events, 1000)),
        ),
    ]
    print(f"{args.events} events per widget, {args.gap * 1000:g} ms apart")
    print(f"{'widget':<20} {'mode':<10} {'events/s':>10} {'redraws':>8} {'comm msgs':>10}")
    for name, make, events in cases:
        base = run(make, events, args.gap, 1e9)
        ours = run(make, events, args.gap, 10.0)
        for mode, r in (("per-event", base), ("coalesced", ours)):
            print(
                f"{name:<20} {mode:<10} {r['events_per_s']:>10.0f} {r['redraws']:>8.0f} "
                f"{r['messages']:>10.0f}"
            )
        print(
            f"{'':<20} {'ratio':<10} {ours['events_per_s'] / base['events_per_s']:>9.1f}x "
            f"{base['redraws'] / max(ours['redraws'], 1):>7.0f}x "
            f"{base['messages'] / max(ours['messages'], 1):>9.0f}x fewer; "
            f"at most {ours['max_per_s']:.0f} redraws in any 1 s"
        )


if __name__ == "__main__":
    main()
