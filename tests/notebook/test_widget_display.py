"""What a widget shows and saves: themed HTML, the static fallback, charts, titles."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from pygent_jupyter.protocol import CATALOG
from pygent_jupyter.widgets import (
    ChatWidget,
    EvolutionWidget,
    MemoryWidget,
    MetricsDashboard,
    ReasoningTreeWidget,
)
from pygent_jupyter.widgets._base import FALLBACK_MIME
from pygent_jupyter.widgets.chat import conversation_label
from pygent_jupyter.widgets.evolution import _improvement_html
from pygent_jupyter.widgets.render import (
    figure_svg,
    markdown_html,
    markdown_stream_html,
    nice_ticks,
    split_blocks,
)

from .conftest import FakeClock, Sent

pytestmark = pytest.mark.usefixtures("dummy_comm")

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def example(type_: str, **data: Any) -> dict[str, Any]:
    event = copy.deepcopy(CATALOG[type_].example)
    event["data"].update(data)
    event.pop("seq", None)
    return event


def make(cls: type, clock: FakeClock, sent: Sent | None = None, **kw: Any) -> Any:
    return cls(send=sent, clock=clock, scheduler=clock.schedule, **kw)


def test_markdown_blocks_render_once_while_streaming() -> None:
    text = "# Title\n\nSome *text*.\n\n```py\nx = 1\n\ny = 2\n```\n\nstill typ"
    blocks, tail = split_blocks(text)
    assert "".join(blocks) + tail == text
    assert blocks[-1].startswith("```py") and tail == "still typ"  # never split inside a fence
    markdown_html.cache_clear()
    markdown_stream_html(text)
    markdown_stream_html(text + "ing")
    info = markdown_html.cache_info()
    assert info.hits == len(blocks)  # the finished blocks came from the cache
    # highlighting uses classes (coloured from JupyterLab variables), never inline colours
    assert 'class="pygent-code"' in markdown_html("```py\nimport os\n```")
    assert 'style="color' not in markdown_html("```py\nimport os\n```")


def test_chat_log_scrolls_itself_and_has_no_hardcoded_colours(clock: FakeClock, sent: Sent) -> None:
    chat = make(ChatWidget, clock, sent)
    for i in range(30):
        chat.submit(f"question {i}")
        _, msg_id = sent.last("chat_message")
        chat.feed(
            example("chat_response", message={"id": f"a{i}", "content": f"answer {i}"})
            | {"reply_to": msg_id}
        )
    clock.advance(1)
    html = chat.history.value
    assert html.startswith("<div class='pygent-chat-log'>")  # the scroll box (column-reverse)
    assert "answer 29" in html
    assert not re.search(r"#[0-9a-fA-F]{6}", html)  # theme variables only
    assert "overflow-y: auto" in chat.snapshot.value and "column-reverse" in chat.snapshot.value
    assert chat.indicator.value == ""  # "is typing" lives inside the log, never overlapping


def test_display_bundle_carries_a_static_fallback(clock: FakeClock, sent: Sent) -> None:
    chat = make(ChatWidget, clock, sent)
    chat.submit("hello")
    _, msg_id = sent.last("chat_message")
    chat.feed(
        example("chat_response", message={"id": "a1", "content": "**hi there**"})
        | {"reply_to": msg_id}
    )
    bundle = chat._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and bundle[FALLBACK_MIME]["widget"] == "ChatWidget"
    assert "<strong>hi there</strong>" in bundle["text/html"]
    assert "<script" not in bundle["text/html"]
    # the hidden snapshot the lab extension saves follows later events too
    chat.submit("again")
    _, msg_id = sent.last("chat_message")
    chat.feed(
        example("chat_response", message={"id": "a2", "content": "second answer"})
        | {"reply_to": msg_id}
    )
    clock.advance(5)
    assert "second answer" in chat.snapshot.value
    assert chat.snapshot in chat.children and chat.snapshot.layout.display == "none"


def test_offline_status_and_epoch_reset(clock: FakeClock, sent: Sent) -> None:
    chat = make(ChatWidget, clock, sent)
    chat.feed({"type": "connection_status", "data": {"state": "connected", "epoch": "e1"}})
    chat.feed(example("chat_history", conversations=[]) | {"seq": 50})
    assert chat.last_seq == 50
    chat.feed({"type": "connection_status", "data": {"state": "reconnecting", "retry_in": 4}})
    clock.advance(1)
    assert "reconnecting" in chat.status.value and "next try in 4 s" in chat.status.value
    chat.submit("while offline")
    clock.advance(1)
    assert "offline" in chat.status.value or "offline" in chat._error
    # the server restarted: its seqs start again, and the widget must not skip them
    chat.feed({"type": "connection_status", "data": {"state": "connected", "epoch": "e2"}})
    assert chat.last_seq == 0
    assert chat.feed(example("chat_history", conversations=[]) | {"seq": 3})


def test_metrics_figure_follows_theme_and_width(clock: FakeClock) -> None:
    dash = make(MetricsDashboard, clock)
    for i in range(5):
        dash.feed(
            example("system_metrics", sampled_at=1_700_000_000 + i, cpu_percent=10.0 * i)
            | {"seq": i + 1}
        )
    clock.advance(3)
    layout = dash.figure.layout
    assert layout.width is None and layout.autosize  # no fixed width
    assert layout.paper_bgcolor == "rgba(0,0,0,0)"
    assert "pygent-plot" in dash.figure._dom_classes
    svg = figure_svg(dash.figure)
    assert "<svg" in svg and re.search(r">\d\d:\d\d:\d\d<", svg)  # time ticks
    assert ">100<" in svg or ">80<" in svg  # y tick labels
    assert "<svg" in dash._repr_mimebundle_()["text/html"]


def test_nice_ticks() -> None:
    assert nice_ticks(0, 100, 4) == [0, 25, 50, 75, 100]
    assert nice_ticks(0.0, 0.8, 4) == [0, 0.2, 0.4, 0.6, 0.8]


def test_reasoning_tree_unscored_nodes_depth_axis_and_stop(clock: FakeClock, sent: Sent) -> None:
    tree = make(ReasoningTreeWidget, clock, sent)
    tree.start(problem="x")
    _, msg_id = sent.last("start_reasoning")
    nodes = [
        {"id": "n0", "parent_id": None, "depth": 0, "thought": "root", "status": "proposed"},
        {
            "id": "n0.0",
            "parent_id": "n0",
            "depth": 1,
            "thought": "a",
            "status": "evaluated",
            "value": 0.7,
        },
        {"id": "n0.1", "parent_id": "n0", "depth": 1, "thought": "b", "status": "proposed"},
    ]
    for n in nodes:
        tree.feed(
            example("reasoning_update", run_id="tot-1", node=n, event="node") | {"reply_to": msg_id}
        )
    clock.advance(1)
    _edges, scored, _best, unscored = tree.figure.data
    assert list(scored.marker.color) == [0.7]  # nodes without a value are not "0"
    assert len(unscored.x) == 2
    assert min(scored.y + unscored.y) == 0 and tree.figure.layout.yaxis.dtick == 1
    tree.feed(
        example("reasoning_complete", run_id="tot-1", answer=None, solved=None, status="stopped")
        | {"reply_to": msg_id}
    )
    clock.advance(1)
    assert "stopped" in tree.answer.value and "no answer" in tree.answer.value
    assert "None" not in tree.answer.value


def test_evolution_improvement_is_readable() -> None:
    text = _improvement_html(
        {"generation0_best": 0.25, "final_best": 0.75, "absolute": 0.5, "relative": 2.0}
    )
    assert "0.25 &rarr; <b>0.75</b>" in text and "+0.5" in text and "+200.0%" in text
    assert "{" not in text


def test_evolution_genealogy_scrolls(clock: FakeClock, sent: Sent) -> None:
    evo = make(EvolutionWidget, clock, sent)
    lineage = [
        {
            "generation": g,
            "id": f"ind-{g}",
            "op": "mutate",
            "parents": [f"ind-{g - 1}"],
            "fitness": g / 10,
        }
        for g in range(60)
    ]
    evo.feed(
        example(
            "evolution_progress",
            run_id="evo-1",
            generation=1,
            best=0.5,
            mean=0.5,
            worst=0.5,
            phase="generation",
        )
    )
    evo.feed(example("evolution_complete", run_id="evo-1", lineage=lineage))
    clock.advance(1)
    assert "pygent-table-wrap" in evo.genealogy.value  # a bounded, scrolling box


def test_memory_enter_searches_and_add_refreshes_counts(clock: FakeClock, sent: Sent) -> None:
    mem = make(MemoryWidget, clock, sent)
    mem.query.value = "tea"  # what pressing Enter syncs (continuous_update=False)
    data, _ = sent.last("memory_search")
    assert data["query"] == "tea"
    mem.add("note")
    _, add_id = sent.last("memory_add")
    before = len([c for c in sent.commands if c[0] == "memory_stats"])
    mem.feed(example("memory_update", kind="added", ids=["m1"]) | {"reply_to": add_id})
    assert len([c for c in sent.commands if c[0] == "memory_stats"]) == before + 1


def test_conversation_commands_and_labels(clock: FakeClock, sent: Sent) -> None:
    chat = make(ChatWidget, clock, sent, conversation_id="cv-1")
    rows = [
        {"id": "cv-1", "title": "same", "updated": "2026-12-02T10:00:00Z"},
        {"id": "cv-2", "title": "same", "updated": "2026-12-01T09:00:00Z"},
    ]
    chat.feed(example("chat_history", conversations=rows, conversation_id=None, messages=None))
    clock.advance(1)
    labels = [label for label, _ in chat.conversation_picker.options]
    assert len(set(labels)) == len(labels) and not any("cv-" in label for label in labels)
    fut = chat.rename_conversation("Better title")
    data, msg_id = sent.last("rename_conversation")
    assert data == {"conversation_id": "cv-1", "title": "Better title"}
    chat.feed(
        {
            "type": "chat_history",
            "reply_to": msg_id,
            "data": {"conversations": [{**rows[0], "title": "Better title"}]},
        }
    )
    assert fut.result(1)["conversations"][0]["title"] == "Better title"
    assert chat.conversations[0]["title"] == "Better title" and len(chat.conversations) == 2
    fut = chat.delete_conversation()
    _, msg_id = sent.last("delete_conversation")
    chat.feed(
        {
            "type": "chat_history",
            "reply_to": msg_id,
            "data": {"conversations": [], "deleted": "cv-1", "has_more": False},
        }
    )
    assert chat.conversation_id is None and [c["id"] for c in chat.conversations] == ["cv-2"]
    chat.search_conversations("same")
    assert sent.last("get_history")[0] == {"query": "same", "limit": 50}
    assert conversation_label({"title": "x" * 80}).endswith("…")
