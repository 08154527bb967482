"""Notebook agents over the Hub: proposals, decisions, expiry, stop, journal, undo, authz."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pygent_jupyter.testing.scripted_tools import ScriptedToolModel, Step, tool_call

from .harness import Client, environment, notebook


def _chat(client: Client, content: str, attachments: list, **extra: object) -> str:
    return client.send(
        "chat_message",
        {
            "message": {"content": content, "agentId": "notebook"},
            "attachments": attachments,
            **extra,
        },
    )


async def test_insert_run_and_undo_with_approval(tmp_path: Path) -> None:
    model = ScriptedToolModel(
        Step(
            tool_calls=[tool_call("notebook_insert_cell", source="y = x1 + 1", after_cell_id="c1")]
        ),
        Step(tool_calls=[tool_call("notebook_run_cell", cell_id="c9")]),
        Step(tool_calls=[tool_call("notebook_replace_cell", cell_id="nope", source="z")]),
        Step("y is 2."),
    )
    async with environment(tmp_path, model) as (hub, _):
        lab = Client(hub)
        mid = _chat(lab, "add y and run it", [notebook(3, active="c2")])
        first = await lab.wait("agent_action_request", reply_to=mid)
        data = first["data"]
        assert data["kind"] == "insert_cell" and data["target"]["after_cell_id"] == "c1"
        assert "+y = x1 + 1" in data["diff"] and data["auto_approved"] is False
        assert data["expires_at"].endswith("Z")
        # nothing happens without the decision: the model waits
        await asyncio.sleep(0.05)
        assert len(model.calls) == 1
        rec = await lab.request(
            "agent_action_result",
            {
                "proposal_id": data["proposal_id"],
                "decision": "applied",
                "result": {"cell_ids": ["c9"], "index": 1},
            },
            "agent_action_recorded",
        )
        assert rec["data"]["status"] == "applied" and rec["data"]["journal_id"]
        run = (await lab.wait("agent_action_request", reply_to=mid, after=1))["data"]
        assert run["kind"] == "run_cell" and run["target"]["cell_id"] == "c9"
        assert "y = x1 + 1" in run["diff"]  # the view knows the inserted cell's source
        await lab.request(
            "agent_action_result",
            {
                "proposal_id": run["proposal_id"],
                "decision": "applied",
                "result": {"outputs": "2\n"},
            },
            "agent_action_recorded",
        )
        answer = await lab.wait("chat_response", reply_to=mid)
        assert answer["data"]["message"]["content"] == "y is 2."
        tools = model.tool_messages()
        assert tools[0] == "Applied: inserted cell c9."
        assert "Ran cell c9." in tools[1] and "Output:\n2" in tools[1]
        assert "no cell with id 'nope'" in tools[2] and "c9" in tools[2]  # chat went on
        errors = [e["data"] for e in lab.events("tool_call_result")]
        assert [e["is_error"] for e in errors] == [False, False, True]
        progress = [e["data"] for e in lab.events("agent_progress")]
        assert progress[0]["state"] == "calling" and progress[0]["step"] == 1
        assert {"waiting", "done"} <= {p["state"] for p in progress}
        # journal
        conv = answer["data"]["conversation_id"]
        journal = await lab.request(
            "agent_journal_list", {"conversation_id": conv}, "agent_journal"
        )
        entries = journal["data"]["entries"]
        assert [e["kind"] for e in entries] == ["run_cell", "insert_cell"]
        assert entries[1]["cell_ids"] == ["c9"] and entries[1]["after"] == "y = x1 + 1"
        assert entries[1]["client_id"] == "lab-1" and entries[1]["user"] == "ada"
        # undo the last two: the insert becomes a delete, the run has nothing to revert
        plan = await lab.request(
            "agent_undo", {"conversation_id": conv, "count": 2}, "agent_undo_plan"
        )
        steps = plan["data"]["steps"]
        assert [s["op"] for s in steps] == ["none", "delete_cells"]
        assert steps[1]["cell_ids"] == ["c9"]
        done = await lab.request(
            "agent_undo_done",
            {"undo_id": plan["data"]["undo_id"], "journal_ids": [s["journal_id"] for s in steps]},
            "agent_journal",
        )
        assert all(e["undone"] for e in done["data"]["entries"])
        again = await lab.request("agent_undo", {"conversation_id": conv}, "agent_undo_plan")
        assert again["type"] == "error" and again["data"]["code"] == "not_found"


async def test_rejection_reaches_the_model(tmp_path: Path) -> None:
    model = ScriptedToolModel(
        Step(tool_calls=[tool_call("notebook_delete_cell", cell_id="c2")]),
        Step("OK, I left it."),
    )
    async with environment(tmp_path, model) as (hub, _):
        lab = Client(hub)
        mid = _chat(lab, "clean up", [notebook(3)])
        req = (await lab.wait("agent_action_request", reply_to=mid))["data"]
        assert "-x2 = 2" in req["diff"]
        rec = await lab.request(
            "agent_action_result",
            {"proposal_id": req["proposal_id"], "decision": "rejected", "reason": "keep it"},
            "agent_action_recorded",
        )
        assert rec["data"] == {
            "proposal_id": req["proposal_id"],
            "status": "rejected",
            "journal_id": None,
        }
        await lab.wait("chat_response", reply_to=mid)
        assert model.tool_messages()[0].startswith("The user rejected this delete_cell: keep it")
        journal = await lab.request("agent_journal_list", {}, "agent_journal")
        assert journal["data"]["entries"] == []


async def test_unanswered_proposal_expires_and_model_is_told(tmp_path: Path) -> None:
    model = ScriptedToolModel(
        Step(tool_calls=[tool_call("notebook_insert_cell", source="1")]), Step("Never mind.")
    )
    async with environment(tmp_path, model, proposal_timeout=0.2) as (hub, service):
        lab = Client(hub)
        mid = _chat(lab, "go", [notebook(1)])
        req = (await lab.wait("agent_action_request", reply_to=mid))["data"]
        expired = await lab.wait("agent_action_expired", reply_to=mid)
        assert expired["data"] == {"proposal_id": req["proposal_id"], "reason": "timeout"}
        await lab.wait("chat_response", reply_to=mid)
        assert "expired" in model.tool_messages()[0]
        assert service.proposals == {}
        late = await lab.request(
            "agent_action_result",
            {
                "proposal_id": req["proposal_id"],
                "decision": "applied",
                "result": {"cell_ids": ["c2"]},
            },
            "agent_action_recorded",
        )
        assert late["type"] == "error" and late["data"]["code"] == "not_found"


async def test_stop_ends_the_loop_at_once_and_withdraws_the_proposal(tmp_path: Path) -> None:
    model = ScriptedToolModel(Step(tool_calls=[tool_call("notebook_run_cell", cell_id="c1")]))
    async with environment(tmp_path, model) as (hub, service):
        lab = Client(hub)
        mid = _chat(lab, "run it", [notebook(1)])
        req = (await lab.wait("agent_action_request", reply_to=mid))["data"]
        lab.send("cancel", {"request_id": mid})
        expired = await lab.wait("agent_action_expired", reply_to=mid, timeout=1.0)
        assert expired["data"] == {"proposal_id": req["proposal_id"], "reason": "cancelled"}
        response = await lab.wait("chat_response", reply_to=mid, timeout=1.0)
        assert response["data"]["message"]["metadata"]["incomplete"] is True
        assert service.proposals == {}


async def test_only_the_requesting_client_answers(tmp_path: Path) -> None:
    model = ScriptedToolModel(
        Step(tool_calls=[tool_call("notebook_insert_cell", source="1")]), Step("done")
    )
    async with environment(tmp_path, model) as (hub, _):
        lab = Client(hub, client_id="lab-1")
        other_tab = Client(hub, client_id="lab-2")
        mallory = Client(hub, user="mallory", client_id="lab-1")
        mid = _chat(lab, "go", [notebook(2)])
        req = (await lab.wait("agent_action_request", reply_to=mid))["data"]
        assert other_tab.events("agent_action_request") == []
        assert mallory.events("agent_action_request") == []
        answer = {
            "proposal_id": req["proposal_id"],
            "decision": "applied",
            "result": {"cell_ids": ["n"]},
        }
        stolen = await mallory.request("agent_action_result", answer, "agent_action_recorded")
        assert stolen["data"]["code"] == "not_found"
        wrong_tab = await other_tab.request("agent_action_result", answer, "agent_action_recorded")
        assert wrong_tab["data"]["code"] == "forbidden"
        bad = await lab.request(
            "agent_action_result",
            {"proposal_id": req["proposal_id"], "decision": "applied"},
            "agent_action_recorded",
        )
        assert bad["data"]["code"] == "invalid" and "cell_ids" in bad["data"]["message"]
        ok = await lab.request("agent_action_result", answer, "agent_action_recorded")
        assert ok["data"]["status"] == "applied"
        await lab.wait("chat_response", reply_to=mid)


async def test_forbidden_writes_are_not_proposed(tmp_path: Path) -> None:
    model = ScriptedToolModel(
        Step(tool_calls=[tool_call("notebook_insert_cell", source="1")]),
        Step(tool_calls=[tool_call("notebook_run_cell", cell_id="c1")]),
        Step("I cannot."),
    )
    async with environment(tmp_path, model) as (hub, _):
        reader = Client(hub, allow={("pygent", "execute"), ("contents", "read")})
        mid = _chat(reader, "go", [notebook(1)])
        await reader.wait("chat_response", reply_to=mid)
        assert reader.events("agent_action_request") == []
        tools = model.tool_messages()
        assert "not allowed to write 'contents'" in tools[0]
        assert "not allowed to write 'contents'" in tools[1]


async def test_step_budget_and_auto_approve(tmp_path: Path) -> None:
    calls = [Step(tool_calls=[tool_call("notebook_insert_cell", source=f"s{i}")]) for i in range(3)]
    model = ScriptedToolModel(*calls, Step("stopped"))
    async with environment(tmp_path, model, max_steps=2, auto_approve=["insert_cell"]) as (hub, _):
        lab = Client(hub)
        mid = _chat(lab, "go", [notebook(1)])
        for n in range(2):
            req = (await lab.wait("agent_action_request", reply_to=mid, after=n))["data"]
            assert req["auto_approved"] is True and req["max_steps"] == 2
            lab.send(
                "agent_action_result",
                {
                    "proposal_id": req["proposal_id"],
                    "decision": "applied",
                    "result": {"cell_ids": [f"n{n}"]},
                },
            )
        await lab.wait("chat_response", reply_to=mid)
        assert "step budget (2 actions) is spent" in model.tool_messages()[2]
        assert len(lab.events("agent_action_request")) == 2
        assert lab.events("agent_progress")[-1]["data"]["state"] == "budget_spent"


async def test_no_notebook_no_tools_and_attachments_are_bounded(tmp_path: Path) -> None:
    model = ScriptedToolModel(Step("plain"), Step("with notebook"))
    async with environment(tmp_path, model, notebook_budget=3000, attachment_budget=100) as (
        hub,
        _,
    ):
        lab = Client(hub)
        mid = lab.send("chat_message", {"message": {"content": "hi"}})
        await lab.wait("chat_response", reply_to=mid)
        assert model.calls[0]["tools"] == []
        big = notebook(200, active="c150")
        variable = {"kind": "variable", "name": "df", "summary": "df: DataFrame\n" + "row\n" * 100}
        missing = {"kind": "file", "path": "data.csv"}
        mid = _chat(lab, "look", [big, variable, missing])
        response = await lab.wait("chat_response", reply_to=mid)
        names = {t["function"]["name"] for t in model.calls[1]["tools"]}
        assert {"notebook_insert_cell", "notebook_run_cell", "notebook_create"} <= names
        assert all("server_id" not in t for t in model.calls[1]["tools"])
        system = model.calls[1]["messages"][0]["content"]
        assert "Notebook analysis.ipynb (200 cells, selected cell c150)" in system
        assert "[cell c150] (code, selected)" in system and "cells not shown, ids: c1," in system
        assert "Variable df (kernel summary)" in system and "chars cut]" in system
        assert "file data.csv: not attached" in system
        memories = response["data"]["message"]["metadata"]["memories"]
        assert memories[0]["kind"] == "attachments"
        assert set(memories[0]["truncated"]) == {"notebook:analysis.ipynb", "variable:df"}
        assert len(system) < 3000 + 100 + 2000


async def test_malformed_cells_are_named_and_the_chat_goes_on(tmp_path: Path) -> None:
    model = ScriptedToolModel(Step("fine"))
    async with environment(tmp_path, model) as (hub, _):
        lab = Client(hub)
        att = notebook(3)
        att["cells"][1]["source"] = 5
        mid = _chat(lab, "look", [att])
        response = await lab.wait("chat_response", reply_to=mid)
        assert response["data"]["message"]["content"] == "fine"
        system = model.calls[0]["messages"][0]["content"]
        assert "cells[1].source must be a string" in system
        assert model.calls[0]["tools"] == []  # no tools on a notebook it cannot trust
        bad = await lab.request(
            "chat_message",
            {"message": {"content": "x"}, "attachments": [{"kind": "telepathy"}]},
            "chat_response",
        )
        assert bad["type"] == "error" and bad["data"]["code"] == "invalid"


async def test_a_closed_notebook_or_dead_kernel_is_a_clear_failure(tmp_path: Path) -> None:
    model = ScriptedToolModel(
        Step(tool_calls=[tool_call("notebook_run_cell", cell_id="c1")]), Step("The kernel died.")
    )
    async with environment(tmp_path, model) as (hub, _):
        lab = Client(hub)
        mid = _chat(lab, "run", [notebook(1)])
        req = (await lab.wait("agent_action_request", reply_to=mid))["data"]
        rec = await lab.request(
            "agent_action_result",
            {
                "proposal_id": req["proposal_id"],
                "decision": "failed",
                "result": {"error": "the kernel died while the cell ran"},
            },
            "agent_action_recorded",
        )
        assert rec["data"]["status"] == "failed" and rec["data"]["journal_id"] is None
        await lab.wait("chat_response", reply_to=mid)
        assert model.tool_messages()[0] == (
            "Applying the run_cell failed: the kernel died while the cell ran. Nothing was changed."
        )
        bad = await lab.request(
            "agent_action_result", {"proposal_id": "prop-x", "decision": "maybe"}, "x"
        )
        assert bad["data"]["code"] == "invalid"
