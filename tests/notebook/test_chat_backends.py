"""The chat widget's model picker over several backends, the usage gauge, fallback notices, and
``%pygent usage`` rendering (no kernel: ipywidgets' dummy comm)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pygent_jupyter.magics import usage_markdown
from pygent_jupyter.protocol import CATALOG
from pygent_jupyter.widgets import ChatWidget

from .conftest import FakeClock, Sent

pytestmark = pytest.mark.usefixtures("dummy_comm")


def example(type_: str) -> dict[str, Any]:
    return copy.deepcopy(CATALOG[type_].example)


def make(clock: FakeClock, sent: Sent) -> ChatWidget:
    return ChatWidget(send=sent, clock=clock, scheduler=clock.schedule)


def test_the_picker_lists_every_backends_models_and_sends_the_choice(
    clock: FakeClock, sent: Sent
) -> None:
    chat = make(clock, sent)
    chat.feed(example("backend_status"))
    clock.advance(1)
    labels = [o[0] if isinstance(o, tuple) else o for o in chat.model_picker.options]
    assert labels == [
        "(default)",
        "Qwen/Qwen2.5-7B-Instruct · gpu · tools",
        "smollm2-135m-instruct.q4_1 · local",
    ]
    chat.model_picker.value = chat.model_picker.options[1][1]
    chat.submit("hi")
    message = sent.last("chat_message")[0]["message"]
    assert message["backend"] == "gpu" and message["model"] == "Qwen/Qwen2.5-7B-Instruct"
    chat.model_picker.value = "(default)"
    chat.submit("again")
    message = sent.last("chat_message")[0]["message"]
    assert "backend" not in message and "model" not in message


def test_reopening_a_conversation_selects_its_model_again(clock: FakeClock, sent: Sent) -> None:
    chat = make(clock, sent)
    chat.feed(example("backend_status"))
    chat.feed(
        {
            "type": "chat_history",
            "seq": 500,  # after the example backend_status (older seqs are replays)
            "data": {
                "conversations": [
                    {
                        "id": "cv-9",
                        "title": "t",
                        "backend": "local",
                        "model": "smollm2-135m-instruct.q4_1",
                    }
                ],
                "has_more": False,
            },
        }
    )
    clock.advance(1)
    chat.load_conversation("cv-9")
    assert chat.model_picker.value == "local\x1fsmollm2-135m-instruct.q4_1"
    assert sent.last("get_usage")[0] == {"conversation_id": "cv-9"}


def test_the_usage_gauge_and_a_fallback_notice_are_shown(clock: FakeClock, sent: Sent) -> None:
    chat = make(clock, sent)
    chat.submit("hi")
    _data, msg_id = sent.last("chat_message")
    usage = example("usage")
    usage["data"]["conversation"]["conversation_id"] = "cv-1"
    chat.conversation_id = "cv-1"
    chat.feed(usage)
    chat.feed(
        {
            "type": "typing_indicator",
            "reply_to": msg_id,
            "seq": 61,
            "data": {
                "active": True,
                "conversation_id": "cv-1",
                "backend": "local",
                "fallback": [{"from": "gpu", "to": "local", "reason": "unreachable"}],
            },
        }
    )
    clock.advance(1)
    assert "this chat: 380 tok" in chat.usage_gauge.value
    assert "today: 1,140 tok" in chat.usage_gauge.value
    assert "left today: 198,860 tok" in chat.usage_gauge.value
    assert "gpu is down (unreachable), local answers" in chat.indicator.value


def test_usage_markdown_prints_models_totals_and_budget() -> None:
    data = example("usage")["data"]
    data["budget"]["exceeded"] = True
    text = usage_markdown(data)
    assert "| gpu | qwen2.5-7b | 3 | 900 | 240 | 0.0003 USD |" in text
    assert "1,140 tokens in 3 answers" in text
    assert "198,860 of 200,000 tokens left" in text
    assert "budget is spent" in text


def test_pygent_usage_and_backends_magics(capsys: pytest.CaptureFixture[str]) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from pygent_jupyter.magics import PygentMagics

    from .test_magics import FakeLink

    def script(type_: str, data: dict[str, Any], msg_id: str) -> list[dict[str, Any]]:
        if type_ == "get_usage":
            assert data == {"conversation_id": "cv-1"}
            return [{"type": "usage", "data": example("usage")["data"]}]
        if type_ == "list_backends":
            return [{"type": "backend_status", "data": example("backend_status")["data"]}]
        if type_ == "get_history":
            return []
        return []

    shell = InteractiveShell.instance()
    shell.register_magics(PygentMagics(shell, link_factory=lambda: FakeLink(script)))
    with capture_output() as out:
        assert shell.run_line_magic("pygent", "usage --conversation cv-1") is None
    text = "".join(o.data.get("text/markdown", "") for o in out.outputs)
    assert "*this conversation*: 380 tokens in 1 answers" in text
    assert "| gpu | qwen2.5-7b | 3 | 900 | 240 | 0.0003 USD |" in text
    with capture_output() as out:
        shell.run_line_magic("pygent", "backends")
    text = "".join(o.data.get("text/markdown", "") for o in out.outputs)
    assert "| gpu (default) | openai | up | Qwen/Qwen2.5-7B-Instruct |" in text
    assert "| local | local | up | smollm2-135m-instruct.q4_1 |" in text
