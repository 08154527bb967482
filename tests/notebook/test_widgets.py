"""Widgets without a kernel: events in, model and child widgets out (ipywidgets' dummy comm)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from pygent_jupyter.protocol import CATALOG
from pygent_jupyter.widgets import (
    ChatWidget,
    EvolutionWidget,
    MCPPanel,
    MemoryWidget,
    MetricsDashboard,
    ReasoningTreeWidget,
    Throttle,
    TreeLayout,
    WidgetCommandError,
)
from pygent_jupyter.widgets.mcp import form_fields, form_values

from .conftest import FakeClock, Sent

pytestmark = pytest.mark.usefixtures("dummy_comm")


def example(type_: str, **data: Any) -> dict[str, Any]:
    """The catalog's example event of ``type_``, with ``data`` fields overridden."""
    event = copy.deepcopy(CATALOG[type_].example)
    event["data"].update(data)
    return event


def make(cls: type, clock: FakeClock, sent: Sent | None = None, **kw: Any) -> Any:
    return cls(send=sent, clock=clock, scheduler=clock.schedule, **kw)


# -- throttle ----------------------------------------------------------------------------------


def test_throttle_coalesces_to_max_rate_and_draws_the_last_state(clock: FakeClock) -> None:
    drawn: list[int] = []
    state = {"n": 0}
    throttle = Throttle(lambda: drawn.append(state["n"]), 10, clock=clock, scheduler=clock.schedule)
    for i in range(1, 2001):  # 2000 events over 2 seconds
        state["n"] = i
        throttle.request()
        clock.advance(0.001)
    clock.advance(1)
    assert 18 <= len(drawn) <= 22  # ~10/s, never one per event
    assert drawn[-1] == 2000  # the final state is always drawn
    gaps = [b - a for a, b in itertools.pairwise(drawn)]
    assert min(gaps) >= 99  # >= 100 ms apart at 1 event/ms


def test_throttle_draws_at_once_when_idle(clock: FakeClock) -> None:
    drawn: list[float] = []
    throttle = Throttle(lambda: drawn.append(clock()), 10, clock=clock, scheduler=clock.schedule)
    throttle.request()
    assert drawn == [clock.now]  # first change shows immediately, no timer
    assert clock.timers == []


def test_rejects_non_positive_rate() -> None:
    with pytest.raises(ValueError):
        Throttle(lambda: None, 0)


# -- metrics -----------------------------------------------------------------------------------


def sample(t: float, cpu: float, seq: int) -> dict[str, Any]:
    event = example("system_metrics", sampled_at=t, cpu_percent=cpu)
    event["seq"] = seq
    return event


def test_metrics_plots_points_and_keeps_a_time_window(clock: FakeClock) -> None:
    dash = make(MetricsDashboard, clock, window=60)
    for i in range(100):
        dash.feed(sample(1000.0 + i, float(i % 100), seq=i + 1))
    clock.advance(1)
    cpu = next(t for t in dash.figure.data if t.name == "CPU %")
    assert len(cpu.y) == 61  # only the last 60 s of samples
    assert cpu.y[-1] == 99.0
    assert dash.points == 61
    assert "CPU <b>99.0%</b>" in dash.summary.value


def test_metrics_redraws_at_most_ten_times_a_second(clock: FakeClock) -> None:
    dash = make(MetricsDashboard, clock)
    fig_comm = dash.figure.comm
    before = len(fig_comm.messages)
    for i in range(500):  # 500 samples within one second
        dash.feed(sample(1000.0 + i / 500, 10.0, seq=i + 1))
        clock.advance(0.002)
    clock.advance(0.5)
    assert dash.throttle.draws <= 12
    updates = [k["data"]["state"] for _, k in fig_comm.messages[before:]]
    redraws = [u for u in updates if u.get("_py2js_update")]
    assert 5 <= len(redraws) <= 12  # what the browser actually re-renders
    assert len(next(t for t in dash.figure.data if t.name == "CPU %").y) == 500


def test_metrics_gpu_series_and_no_gpu_summary(clock: FakeClock) -> None:
    dash = make(MetricsDashboard, clock)
    dash.feed(sample(1000.0, 5.0, 1))
    dash.feed(
        {
            "type": "gpu_metrics",
            "seq": 2,
            "data": {"available": False, "gpus": [], "sampled_at": 1000.0},
        }
    )
    clock.advance(1)
    assert "no GPU" in dash.summary.value
    note = next(a for a in dash.figure.layout.annotations if a.name == "no-gpu")
    assert note.visible
    gpu = example("gpu_metrics")  # the catalog's documented shape
    gpu["seq"] = 3
    dash.feed(gpu)
    g = gpu["data"]["gpus"][0]
    label = f"GPU{g['index']} {g['name']}"
    clock.advance(1)
    names = [t.name for t in dash.figure.data]
    assert f"{label} util %" in names
    assert not next(a for a in dash.figure.layout.annotations if a.name == "no-gpu").visible
    vram = next(t for t in dash.figure.data if t.name == f"{label} VRAM %")
    assert vram.y[-1] == pytest.approx(100 * g["memory_used"] / g["memory_total"])
    temp = next(t for t in dash.figure.data if t.name == f"{label} temp °C")
    assert temp.y[-1] == g["temperature"]


def test_metrics_alert_banner_fires_and_resolves(clock: FakeClock) -> None:
    dash = make(MetricsDashboard, clock)
    alert = example("system_alert", message="memory at 91.2% (threshold 90%)")
    alert["seq"] = 5
    dash.feed(alert)
    clock.advance(1)
    assert "memory at 91.2%" in dash.banner.value
    resolved = example("system_alert", state="resolved", message="memory back to 70%")
    resolved["seq"] = 6
    dash.feed(resolved)
    clock.advance(1)
    assert dash.banner.value == ""


def test_metrics_shows_backend_and_tokens_per_second(clock: FakeClock) -> None:
    dash = make(MetricsDashboard, clock)
    dash.feed(example("ollama_status", reachable=False, backend="local"))
    dash.feed(example("ollama_metrics", tokens_per_s=50.0))
    clock.advance(1)
    assert "not reachable" in dash.backend.value and "local" in dash.backend.value
    assert "50.0 tokens/s" in dash.backend.value


def test_replayed_events_are_skipped_and_reconnect_is_shown(clock: FakeClock) -> None:
    dash = make(MetricsDashboard, clock)
    assert dash.feed(sample(1000.0, 1.0, seq=10))
    dash.feed({"type": "connection_status", "data": {"state": "reconnecting"}})
    clock.advance(1)
    assert "reconnecting" in dash.status.value
    # after the reconnect the server replays from last_seq: seq 10 again, then 11
    dash.feed({"type": "connection_status", "data": {"state": "connected", "last_seq": 11}})
    assert not dash.feed(sample(1000.0, 1.0, seq=10))
    assert dash.feed(sample(1001.0, 2.0, seq=11))
    clock.advance(1)
    assert dash.points == 2
    assert dash.status.value == ""
    assert dash.last_seq == 11


def test_widget_without_client_says_so(clock: FakeClock) -> None:
    dash = make(MetricsDashboard, clock)
    with pytest.raises(RuntimeError, match="attach"):
        dash.command("request_system_metrics", {})


# -- chat --------------------------------------------------------------------------------------


def test_chat_streams_deltas_then_final_markdown(clock: FakeClock, sent: Sent) -> None:
    chat = make(ChatWidget, clock, sent, agent="coding", model="smollm2")
    future = chat.submit("write a function")
    data, mid = sent.last("chat_message")
    assert data == {
        "message": {"content": "write a function", "agentId": "coding", "model": "smollm2"}
    }
    chat.feed(
        {
            "type": "typing_indicator",
            "reply_to": mid,
            "seq": 1,
            "data": {"active": True, "agentId": "coding", "conversation_id": "cv-9"},
        }
    )
    clock.advance(1)
    assert "coding is typing" in chat.history.value  # inside the log, at its end
    assert not chat.cancel_button.disabled
    for i, delta in enumerate(["Here:\n\n```python\n", "def f():\n", "    return 1\n```\n"]):
        chat.feed(
            {
                "type": "chat_stream",
                "reply_to": mid,
                "seq": 2 + i,
                "data": {
                    "message_id": "msg-1",
                    "delta": delta,
                    "conversation_id": "cv-9",
                    "index": i,
                },
            }
        )
    clock.advance(1)
    assert "&#9612;" in chat.history.value  # streaming cursor
    final = "Here:\n\n```python\ndef f():\n    return 1\n```\n<script>alert(1)</script>"
    chat.feed(
        {
            "type": "chat_response",
            "reply_to": mid,
            "seq": 9,
            "data": {
                "conversation_id": "cv-9",
                "message": {
                    "id": "msg-1",
                    "type": "agent",
                    "content": final,
                    "agentId": "coding",
                    "metadata": {"model": "smollm2", "tokens_per_s": 42.0},
                },
            },
        }
    )
    clock.advance(1)
    assert future.result(0)["content"] == final
    html = chat.history.value
    assert "<pre" in html and "return" in html and 'class="k"' in html  # highlighted
    assert "<script>" not in html and "&lt;script&gt;" in html  # raw HTML never runs
    assert "42.0 tok/s" in html
    assert "&#9612;" not in html and chat.indicator.value == ""
    assert chat.conversation_id == "cv-9"
    assert chat.last_answer == final
    assert chat.cancel_button.disabled
    # the next turn continues the same conversation
    chat.submit("again")
    assert sent.last("chat_message")[0]["conversation_id"] == "cv-9"


def test_chat_cancel_and_error(clock: FakeClock, sent: Sent) -> None:
    chat = make(ChatWidget, clock, sent)
    future = chat.submit("long answer please")
    _, mid = sent.last("chat_message")
    chat.feed(
        {
            "type": "chat_stream",
            "reply_to": mid,
            "seq": 1,
            "data": {"message_id": "m", "delta": "Once upon"},
        }
    )
    chat.cancel_button.click()
    assert sent.last("cancel")[0] == {"request_id": mid}
    chat.feed(
        {
            "type": "error",
            "reply_to": mid,
            "seq": 2,
            "data": {"code": "cancelled", "message": "cancelled by the client"},
        }
    )
    clock.advance(1)
    with pytest.raises(WidgetCommandError) as info:
        future.result(0)
    assert info.value.code == "cancelled"
    assert "Once upon *(cancelled)*" in chat.messages[-1]["content"]
    assert "cancelled by the client" in chat.status.value
    assert chat.active_request is None


def test_chat_ignores_other_conversations_and_switches(clock: FakeClock, sent: Sent) -> None:
    chat = make(ChatWidget, clock, sent, conversation_id="cv-1")
    assert not chat._mine({"conversation_id": "cv-2"}, {"reply_to": "someone-else"})
    chat.feed(
        {
            "type": "chat_response",
            "seq": 1,
            "data": {
                "conversation_id": "cv-2",
                "message": {
                    "id": "x",
                    "type": "agent",
                    "content": "not mine",
                    "agentId": "general",
                    "metadata": {},
                },
            },
        }
    )
    assert chat.messages == []
    chat.feed(
        {
            "type": "chat_history",
            "seq": 2,
            "data": {
                "conversations": [
                    {"id": "cv-1", "title": "first"},
                    {"id": "cv-3", "title": "third"},
                ]
            },
        }
    )
    clock.advance(1)
    assert ("third", "cv-3") in chat.conversation_picker.options
    chat.conversation_picker.value = "cv-3"
    assert sent.last("get_history")[0] == {"conversation_id": "cv-3", "limit": 200}
    chat.feed(
        {
            "type": "chat_history",
            "seq": 3,
            "data": {
                "conversation_id": "cv-3",
                "has_more": False,
                "messages": [
                    {"id": "1", "role": "user", "content": "hello"},
                    {"id": "2", "role": "assistant", "content": "**hi**"},
                ],
            },
        }
    )
    clock.advance(1)
    assert "<strong>hi</strong>" in chat.history.value
    assert [m["role"] for m in chat.messages] == ["user", "agent"]


def test_chat_model_picker_fills_from_backend(clock: FakeClock, sent: Sent) -> None:
    chat = make(ChatWidget, clock, sent)
    chat.feed(
        {
            "type": "ollama_model_update",
            "seq": 1,
            "data": {
                "backend": "ollama",
                "models": [{"name": "qwen2.5:0.5b"}, {"name": "llama3.2:1b"}],
            },
        }
    )
    clock.advance(1)
    assert chat.model_picker.options == ("(default)", "qwen2.5:0.5b", "llama3.2:1b")
    chat.model_picker.value = "llama3.2:1b"
    chat.submit("hi")
    assert sent.last("chat_message")[0]["message"]["model"] == "llama3.2:1b"
    with pytest.raises(ValueError):
        chat.submit("   ")


# -- reasoning ---------------------------------------------------------------------------------


def node(
    nid: str,
    parent: str | None,
    depth: int,
    value: float,
    status: str = "evaluated",
    thought: str = "",
) -> dict[str, Any]:
    return {
        "id": nid,
        "parent_id": parent,
        "depth": depth,
        "value": value,
        "status": status,
        "thought": thought or f"thought {nid}",
    }


def test_tree_layout_is_incremental_and_stable() -> None:
    layout = TreeLayout()
    a = layout.place("root", None, 0)
    b = layout.place("a", "root", 1)
    c = layout.place("b", "root", 1)
    d = layout.place("a1", "a", 2)
    e = layout.place("b1", "b", 2)
    assert layout.place("a", "root", 1) == b  # placed once, never moves
    assert a[1] == 0 and b[1] == c[1] == 1 and d[1] == 2  # y is the depth
    assert b[0] != c[0]  # siblings never overlap
    assert e[0] >= c[0]  # a child is not left of its parent
    assert d[0] != e[0]


def test_reasoning_tree_grows_dims_pruned_and_highlights_best(clock: FakeClock, sent: Sent) -> None:
    tree = make(ReasoningTreeWidget, clock, sent)
    future = tree.start(task="game24", puzzle="4 5 6 10")
    data, mid = sent.last("start_reasoning")
    assert data == {"task": "game24", "puzzle": "4 5 6 10"}
    events = [
        ("n0", None, 0, 0.0, "selected", "4 5 6 10"),
        ("n1", "n0", 1, 20.0, "selected", "10 - 4 = 6 (left: 5 6 6)"),
        ("n2", "n0", 1, 0.1, "pruned", "4 + 5 = 9 (left: 6 9 10)"),
        ("n3", "n1", 2, 21.0, "selected", "5 * 6 = 30 (left: 6 30)"),
    ]
    for seq, (nid, parent, depth, value, status, thought) in enumerate(events, 1):
        tree.feed(
            {
                "type": "reasoning_update",
                "reply_to": mid,
                "seq": seq,
                "data": {
                    "run_id": "tot-7",
                    "event": "node",
                    "step": depth,
                    "node": node(nid, parent, depth, value, status, thought),
                },
            }
        )
    # another run's events (e.g. from another notebook) are not drawn here
    tree.feed(
        {
            "type": "reasoning_update",
            "seq": 50,
            "data": {"run_id": "tot-other", "node": node("z", None, 0, 1.0)},
        }
    )
    clock.advance(1)
    _edges, nodes, best, _unscored = tree.figure.data
    assert len(nodes.x) == 4
    assert list(nodes.marker.color) == [0.0, 20.0, 0.1, 21.0]
    assert list(nodes.marker.opacity) == [1.0, 1.0, 0.25, 1.0]
    assert "10 - 4 = 6" in nodes.text[1]
    assert "4 nodes (1 pruned)" in tree.header.value
    assert best.x is None or len(best.x) == 0
    tree.feed(
        {
            "type": "reasoning_complete",
            "reply_to": mid,
            "seq": 60,
            "data": {
                "run_id": "tot-7",
                "answer": "(6 - 30) ...",
                "solved": False,
                "best_path": ["10 - 4 = 6 (left: 5 6 6)", "5 * 6 = 30 (left: 6 30)"],
                "stats": {"llm_calls": 3},
            },
        }
    )
    clock.advance(1)
    assert tree.best_path == ["n0", "n1", "n3"]  # completed up to the root
    assert len(tree.figure.data[2].x) == 3
    assert "not solved" in tree.answer.value and "llm calls: 3" in tree.answer.value
    assert future.result(0)["run_id"] == "tot-7"
    assert tree.stop_button.disabled


def test_reasoning_stop_sends_run_id(clock: FakeClock, sent: Sent) -> None:
    tree = make(ReasoningTreeWidget, clock, sent, run_id="tot-3")
    tree.feed(example("reasoning_update", run_id="tot-3"))
    tree.stop_button.click()
    assert sent.last("stop_reasoning")[0] == {"run_id": "tot-3"}


# -- evolution ---------------------------------------------------------------------------------


def test_evolution_plots_generations_and_shows_winner(clock: FakeClock, sent: Sent) -> None:
    evo = make(EvolutionWidget, clock, sent)
    future = evo.start(population_size=4, generations=3)
    _, mid = sent.last("start_evolution")
    for g in range(3):
        evo.feed(
            {
                "type": "evolution_progress",
                "reply_to": mid,
                "seq": g + 1,
                "data": {
                    "run_id": "evo-2",
                    "generation": g,
                    "best": 0.5 + g / 10,
                    "mean": 0.3,
                    "worst": 0.1,
                    "diversity": 0.9 - g / 10,
                    "evaluations": 4 * (g + 1),
                },
            }
        )
    clock.advance(1)
    best = next(t for t in evo.figure.data if t.name == "best")
    div = next(t for t in evo.figure.data if t.name == "diversity")
    assert list(best.y) == pytest.approx([0.5, 0.6, 0.7])
    assert list(div.y) == pytest.approx([0.9, 0.8, 0.7])
    assert "generation 2" in evo.header.value
    evo.feed(
        {
            "type": "evolution_complete",
            "reply_to": mid,
            "seq": 9,
            "data": {
                "run_id": "evo-2",
                "improvement": 0.2,
                "best": {"fitness": 0.7, "genome": {"temperature": 0.3}},
                "genealogy": [
                    {"id": "g0-1", "generation": 0, "op": "init"},
                    {
                        "id": "g2-3",
                        "generation": 2,
                        "op": "crossover",
                        "parents": ["g0-1", "g1-2"],
                        "fitness": 0.7,
                    },
                ],
            },
        }
    )
    clock.advance(1)
    assert "temperature" in evo.best.value and "improvement <b>+0.2</b>" in evo.best.value
    assert "crossover" in evo.genealogy.value and "g0-1, g1-2" in evo.genealogy.value
    assert future.result(0)["improvement"] == 0.2


# -- MCP ---------------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "timezone": {"type": "string", "description": "IANA name"},
        "count": {"type": "integer"},
        "ratio": {"type": "number"},
        "verbose": {"type": "boolean"},
        "unit": {"enum": ["s", "ms"]},
        "extra": {"type": "object"},
    },
    "required": ["timezone"],
}


def test_mcp_form_from_schema_and_values() -> None:
    fields = form_fields(SCHEMA)
    assert type(fields["count"]).__name__ == "IntText"
    assert type(fields["unit"]).__name__ == "Dropdown"
    assert fields["timezone"].description == "timezone *"
    with pytest.raises(ValueError, match="timezone is required"):
        form_values(SCHEMA, fields)
    fields["timezone"].value = "UTC"
    fields["extra"].value = '{"a": [1, 2]}'
    assert form_values(SCHEMA, fields) == {
        "timezone": "UTC",
        "count": 0,
        "ratio": 0.0,
        "verbose": False,
        "unit": "s",
        "extra": {"a": [1, 2]},
    }
    fields["extra"].value = "{nope"
    with pytest.raises(ValueError, match="extra: not valid JSON"):
        form_values(SCHEMA, fields)


def test_mcp_panel_servers_tools_and_call(clock: FakeClock, sent: Sent) -> None:
    panel = make(MCPPanel, clock, sent)
    panel.feed(
        {
            "type": "mcp_server_status",
            "seq": 1,
            "data": {"server_id": "time", "state": "running", "pid": 42},
        }
    )
    panel.feed(
        {
            "type": "mcp_server_health",
            "seq": 2,
            "data": {"server_id": "time", "ping_ms": 0.8, "tool_count": 1, "last_error": None},
        }
    )
    panel.feed(
        {
            "type": "tool_discovered",
            "seq": 3,
            "data": {
                "server_id": "time",
                "tools": [
                    {
                        "name": "get_current_time",
                        "description": "Current time",
                        "input_schema": SCHEMA,
                    }
                ],
            },
        }
    )
    clock.advance(1)
    assert "running" in panel.table.value and "0.8 ms" in panel.table.value
    assert panel.server_picker.value == "time"
    assert panel.tool_picker.value == "get_current_time"
    assert len(panel.form.children) == 1 + len(SCHEMA["properties"])
    panel.call_button.click()  # timezone is required and empty
    clock.advance(1)
    assert "timezone is required" in panel.status.value
    assert not any(c[0] == "mcp_call_tool" for c in sent.commands)
    panel._fields["timezone"].value = "UTC"
    panel.call_button.click()
    data, mid = sent.last("mcp_call_tool")
    assert data["server_id"] == "time" and data["arguments"]["timezone"] == "UTC"
    panel.feed(
        {
            "type": "tool_call_result",
            "reply_to": mid,
            "seq": 4,
            "data": {
                "server_id": "time",
                "tool": "get_current_time",
                "is_error": False,
                "content": [{"type": "text", "text": "2026-11-27T15:04:01Z"}],
                "duration_ms": 2.4,
            },
        }
    )
    clock.advance(1)
    assert "2026-11-27T15:04:01Z" in panel.output.value
    panel.buttons["restart"].click()
    assert sent.last("mcp_server_action")[0] == {"server_id": "time", "action": "restart"}


# -- memory ------------------------------------------------------------------------------------


def test_memory_search_add_and_bad_metadata(clock: FakeClock, sent: Sent) -> None:
    mem = make(MemoryWidget, clock, sent, namespace="notes", k=3)
    mem.query.value = "gpu search"
    mem.search_button.click()
    data, mid = sent.last("memory_search")
    assert data == {"query": "gpu search", "k": 3, "namespace": "notes"}
    results = example(
        "memory_update",
        kind="results",
        results=[
            {"id": 12, "score": 0.83, "text": "FAISS runs on GPUs", "metadata": {"source": "notes"}}
        ],
    )
    results["reply_to"] = mid
    mem.feed(results)
    clock.advance(1)
    assert "0.830" in mem.table.value and "FAISS runs on GPUs" in mem.table.value
    assert "notes" in mem.table.value  # metadata shown
    mem.new_text.value = "remember this"
    mem.new_meta.value = "{not json"
    mem.add_button.click()
    clock.advance(1)
    assert "metadata is not valid JSON" in mem.status.value
    mem.new_meta.value = '{"source": "test"}'
    mem.add_button.click()
    data, _ = sent.last("memory_add")
    assert data == {
        "items": [{"text": "remember this", "metadata": {"source": "test"}}],
        "namespace": "notes",
    }
    assert mem.new_text.value == ""


def test_command_error_fails_future_and_shows_one_line(clock: FakeClock, sent: Sent) -> None:
    mem = make(MemoryWidget, clock, sent)
    future = mem.search("x")
    _, mid = sent.last("memory_search")
    # an error for someone else's command is not this widget's business
    assert not mem.feed(
        {"type": "error", "reply_to": "other", "data": {"code": "invalid", "message": "nope"}}
    )
    assert mem.feed(
        {
            "type": "error",
            "reply_to": mid,
            "data": {"code": "unavailable", "message": "memory service is down"},
        }
    )
    clock.advance(1)
    with pytest.raises(WidgetCommandError, match="unavailable"):
        future.result(0)
    assert "memory service is down" in mem.status.value


def test_commands_lost_with_the_socket_fail_after_the_replay(clock: FakeClock, sent: Sent) -> None:
    chat = make(ChatWidget, clock, sent)
    answered = chat.submit("first")
    _, first = sent.last("chat_message")
    lost = chat.submit("second")
    _, second = sent.last("chat_message")
    chat.feed({"type": "connection_status", "data": {"state": "reconnecting"}})
    # the replay brings the answer that was complete before the drop ...
    chat.feed(
        {
            "type": "chat_response",
            "reply_to": first,
            "seq": 5,
            "data": {
                "message": {
                    "id": "a1",
                    "type": "agent",
                    "content": "one",
                    "agentId": "general",
                    "metadata": {},
                }
            },
        }
    )
    chat.feed({"type": "connection_status", "data": {"state": "connected"}})
    assert not lost.done()  # not yet: the replay may still bring it
    chat.feed(
        {"type": "resumed", "reply_to": "r1", "seq": 6, "data": {"replayed": 1, "last_seq": 6}}
    )
    assert answered.result(0)["content"] == "one"
    with pytest.raises(WidgetCommandError) as info:
        lost.result(0)
    assert info.value.code == "interrupted"
    assert second not in chat._pending


def test_evolution_runs_outlive_a_reconnect(clock: FakeClock, sent: Sent) -> None:
    evo = make(EvolutionWidget, clock, sent)
    future = evo.start(population_size=2)
    evo.feed({"type": "connection_status", "data": {"state": "reconnecting"}})
    evo.feed({"type": "resumed", "data": {"replayed": 0, "last_seq": 0}})
    assert not future.done()  # the run goes on server-side; its events keep coming


def test_dashboard_resubscribes_after_a_reconnect(clock: FakeClock, sent: Sent) -> None:
    dash = make(MetricsDashboard, clock, sent)
    dash.feed({"type": "connection_status", "data": {"state": "reconnecting"}})
    assert not any(c[0] == "subscribe" for c in sent.commands)
    dash.feed({"type": "connection_status", "data": {"state": "connected"}})
    assert sent.last("subscribe")[0] == {"topics": ["metrics", "ollama"]}
