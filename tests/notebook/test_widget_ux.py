"""Widgets without a kernel (dummy comm, fake clock): evolved agents in the chat picker, the
retry countdown while offline, approval cards and code-block actions in the chat widget."""

from __future__ import annotations

from typing import Any

import pytest

from pygent_jupyter.widgets import ChatWidget

from .conftest import FakeClock, Sent

pytestmark = pytest.mark.usefixtures("dummy_comm")


def make(cls: type, clock: FakeClock, sent: Sent | None = None, **kw: Any) -> Any:
    return cls(send=sent, clock=clock, scheduler=clock.schedule, **kw)


def test_evolved_agents_join_the_chat_picker(clock: FakeClock, sent: Sent) -> None:
    chat = make(ChatWidget, clock, sent)
    assert chat.agent_picker.options == ("general", "coding", "reasoning")
    chat.feed(
        {
            "type": "evolution_complete",
            "seq": 3,
            "data": {"run_id": "evo-1", "agent_types": ["evolved-evo-1", "evolved-evo-1-2"]},
        }
    )
    clock.advance(1)
    assert chat.agent_picker.options[-2:] == ("evolved-evo-1", "evolved-evo-1-2")
    assert chat.agent_picker.value == "general"
    chat.agent_picker.value = "evolved-evo-1"
    chat.submit("hello")
    assert sent.last("chat_message")[0]["message"]["agentId"] == "evolved-evo-1"


def test_offline_status_counts_down_to_the_next_try(clock: FakeClock, sent: Sent) -> None:
    chat = make(ChatWidget, clock, sent)
    chat.feed({"type": "connection_status", "data": {"state": "reconnecting", "close_code": 1006}})
    clock.advance(0.2)
    assert "pygent is reconnecting" in chat.status.value
    assert "next try" not in chat.status.value  # no try scheduled yet: nothing to count
    # the client failed a try and waits 3 s (local connection_error with retry_in)
    chat.feed(
        {"type": "connection_error", "data": {"error": "refused", "attempt": 1, "retry_in": 3}}
    )
    clock.advance(0.1)
    assert "next try in 3 s" in chat.status.value
    clock.advance(1.0)
    assert "next try in 2 s" in chat.status.value  # it ticks by itself, no event needed
    clock.advance(1.0)
    assert "next try in 1 s" in chat.status.value
    clock.advance(1.5)
    assert "trying again now" in chat.status.value
    chat.feed({"type": "connection_status", "data": {"state": "connected", "epoch": "e1"}})
    clock.advance(1.0)
    assert "pygent is" not in chat.status.value


def test_a_model_written_title_relabels_the_conversation(clock: FakeClock, sent: Sent) -> None:
    chat = make(ChatWidget, clock, sent)
    rows = [
        {"id": "cv-1", "title": "How do I reverse a string?", "updated": ""},
        {"id": "cv-2", "title": "Other", "updated": ""},
    ]
    chat.feed({"type": "chat_history", "seq": 1, "data": {"conversations": rows}})
    titled = {**rows[0], "title": "Reversing strings"}
    chat.feed(
        {
            "type": "chat_history",
            "seq": 2,
            "data": {"conversations": [titled], "has_more": False, "titled": "cv-1"},
        }
    )
    clock.advance(1)
    labels = [label for label, _ in chat.conversation_picker.options]
    assert labels == ["new conversation", "Reversing strings", "Other"]


class _Shell:
    """What KernelActions uses of an IPython shell: the next input and the namespace."""

    def __init__(self) -> None:
        self.user_ns = {"x": 21}
        self.next_inputs: list[tuple[str, bool]] = []

    def set_next_input(self, text: str, replace: bool = False) -> None:
        self.next_inputs.append((text, replace))


def _proposal(pid: str, kind: str, reply_to: str, seq: int, **data: Any) -> dict[str, Any]:
    return {
        "type": "agent_action_request",
        "reply_to": reply_to,
        "seq": seq,
        "data": {
            "proposal_id": pid,
            "conversation_id": "cv-1",
            "kind": kind,
            "target": {"path": "(this kernel)", "after_cell_id": "calling"},
            "source": "y = x * 2",
            "diff": "--- a\n+++ new cell\n@@ -0,0 +1 @@\n+y = x * 2\n",
            "step": 1,
            "max_steps": 8,
            "expires_at": "2026-12-02T13:00:55Z",
            **data,
        },
    }


def test_chat_widget_shows_proposals_and_applies_accepted_ones(
    clock: FakeClock, sent: Sent
) -> None:
    from pygent_jupyter.widgets.actions import KernelActions

    shell = _Shell()
    chat = make(
        ChatWidget,
        clock,
        sent,
        act=True,
        variables=["x"],
        actions=KernelActions(shell, "", decide=lambda _d: True),
    )
    chat.submit("double x in a new cell")
    data, msg_id = sent.last("chat_message")
    kinds = [a["kind"] for a in data["attachments"]]
    assert kinds == ["notebook", "variable"] and data["attachments"][0]["actions"] is True
    assert "21" in data["attachments"][1]["summary"]
    # a proposal for this chat: a card with its diff and Accept / Reject
    chat.feed(_proposal("p1", "insert_cell", msg_id, 5))
    chat.feed(_proposal("p-other", "insert_cell", "someone-else", 6, conversation_id="cv-9"))
    clock.advance(1)
    assert list(chat.proposals) == ["p1"]
    card = chat.cards.children[-1]
    assert "pygent-proposal" in card._dom_classes
    html = card.children[0].value
    assert "Insert a cell" in html and "<span class='pygent-add'>+y = x * 2</span>" in html
    accept, reject = card.children[1].children
    assert (accept.description, reject.description) == ("Accept", "Reject")
    accept.click()
    result, _ = sent.last("agent_action_result")
    assert result["proposal_id"] == "p1" and result["decision"] == "applied"
    assert shell.next_inputs == [("y = x * 2", False)]  # the kernel's next input: a new cell
    clock.advance(1)
    assert chat.proposals == {} and not [c for c in chat.cards.children if c is card]
    assert chat.action_log == ["applied: Insert a cell in (this kernel)"]
    # a rejected one goes back as rejected, and nothing changes in the notebook
    chat.feed(_proposal("p2", "insert_cell", msg_id, 7))
    clock.advance(1)
    chat.cards.children[-1].children[1].children[1].click()
    assert sent.last("agent_action_result")[0] == {"proposal_id": "p2", "decision": "rejected"}
    assert len(shell.next_inputs) == 1
    # an expired one disappears with a note
    chat.feed(_proposal("p3", "delete_cell", msg_id, 8, target={"cell_id": "c1"}))
    chat.feed(
        {
            "type": "agent_action_expired",
            "seq": 9,
            "data": {"proposal_id": "p3", "reason": "timeout"},
        }
    )
    clock.advance(1)
    assert chat.proposals == {} and chat.action_log[-1] == "expired: Delete a cell (cell c1)"


def test_chat_widget_code_blocks_go_into_cells(clock: FakeClock, sent: Sent) -> None:
    from pygent_jupyter.widgets.actions import KernelActions

    shell = _Shell()
    chat = make(ChatWidget, clock, sent, actions=KernelActions(shell, ""))
    chat.submit("sort a list")
    _, msg_id = sent.last("chat_message")
    answer = "Use:\n\n```python\nsorted([3, 1, 2])\n```\n\nor\n\n```python\nxs.sort()\n```\n"
    chat.feed(
        {
            "type": "chat_response",
            "reply_to": msg_id,
            "seq": 2,
            "data": {
                "conversation_id": "cv-1",
                "message": {"id": "a1", "content": answer, "agentId": "general"},
            },
        }
    )
    clock.advance(1)
    rows = chat.code_actions.children
    assert len(rows) == 2 and "sorted([3, 1, 2])" in rows[0].children[0].value
    rows[1].children[1].click()  # Insert below
    rows[0].children[2].click()  # Replace
    assert shell.next_inputs == [("xs.sort()", False), ("sorted([3, 1, 2])", True)]
    assert [row.children[3].text for row in rows] == ["sorted([3, 1, 2])", "xs.sort()"]  # Copy
    assert "replaces the next cell you run" in (chat.notice or "")
