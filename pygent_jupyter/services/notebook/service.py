"""`NotebookService`: attachments as bounded context, notebook tools that become proposals,
decisions, the journal and undo. See the package docstring and docs/agents.md."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from traitlets import Float, Int, List, Unicode

from ...protocol import ErrorCode, PygentError
from ...protocol.messages.notebook import ACTION_KINDS
from ..agents.factory import AgentTurn, LLMAgent
from ..agents.scope import ChatScope, current_chat
from ..base import Service
from ..seams import AgentTypes, ChatHooks, Publisher, Seams
from .context import (
    Budgets,
    NotebookView,
    check_cells,
    cut,
    diff,
    render_cell,
    render_notebook,
)
from .journal import Journal, undo_step

if TYPE_CHECKING:
    from ...hub import Request
    from ...protocol.types import (
        AgentActionResultData,
        AgentJournalListData,
        AgentUndoData,
        AgentUndoDoneData,
    )
    from ...storage import Database

__all__ = ["TOOL_SPECS", "ActionError", "NotebookAgent", "NotebookService"]


class ActionError(Exception):
    """A notebook tool call the agent got wrong (unknown cell, missing argument…); its
    message goes back to the model, and the chat goes on."""


def _fn(name: str, description: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "server_id": "notebook",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": props, "required": required},
        },
    }


_STR = {"type": "string"}
TOOL_SPECS: dict[str, dict[str, Any]] = {
    "insert_cell": _fn(
        "notebook_insert_cell",
        "Propose a new cell in the attached notebook, after the cell `after_cell_id` (omit it "
        "to insert after the selected cell). The user accepts or rejects it.",
        {"source": _STR, "after_cell_id": _STR, "cell_type": {"enum": ["code", "markdown"]}},
        ["source"],
    ),
    "replace_cell": _fn(
        "notebook_replace_cell",
        "Propose to replace the source of the cell `cell_id`.",
        {"cell_id": _STR, "source": _STR},
        ["cell_id", "source"],
    ),
    "delete_cell": _fn(
        "notebook_delete_cell",
        "Propose to delete the cell `cell_id`.",
        {"cell_id": _STR},
        ["cell_id"],
    ),
    "run_cell": _fn(
        "notebook_run_cell",
        "Propose to run the cell `cell_id` in the notebook's kernel; returns its output.",
        {"cell_id": _STR},
        ["cell_id"],
    ),
    "create_notebook": _fn(
        "notebook_create",
        "Propose a new notebook at `path` (ending in .ipynb) with the given code cells.",
        {"path": _STR, "cells": {"type": "array", "items": _STR}},
        ["path"],
    ),
}
_BY_TOOL = {spec["function"]["name"]: kind for kind, spec in TOOL_SPECS.items()}


def _iso(ts: float) -> str:
    return (
        datetime.fromtimestamp(ts, timezone.utc)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


@dataclass
class Proposal:
    """A pending action: waits for its client's decision."""

    id: str
    user: str
    client_id: str
    conversation_id: str
    message_id: str
    kind: str
    path: str
    target: dict[str, Any]
    source: str
    before: str | None
    index: int | None
    future: asyncio.Future[dict[str, Any]] = field(repr=False, default=None)  # type: ignore[arg-type]


class NotebookAgent(LLMAgent):
    """The ``notebook`` agent type: works on the attached notebook through the notebook
    tools, within a step budget."""

    description = Unicode("Works in your notebook: proposes cells, runs them with approval.")
    system_prompt = Unicode(
        "You are an assistant working inside the user's Jupyter notebook. You see the "
        "notebook the user attached (cells are named by id). To change it, call the notebook "
        "tools: notebook_insert_cell, notebook_replace_cell, notebook_delete_cell, "
        "notebook_run_cell, notebook_create. Every call is a proposal the user accepts or "
        "rejects; you are told the decision and, for a run, the output. Work in small steps, "
        "read outputs before going on, and answer briefly when done.",
        help="The notebook agent's system prompt.",
    ).tag(config=True)
    temperature = Float(0.2, help="Sampling temperature (0: greedy).").tag(config=True)
    max_steps = Int(
        12, help="Most model -> tools -> model rounds of one answer (the agent's step budget)."
    ).tag(config=True)

    def system_message(self, turn: AgentTurn) -> str:
        attached = [i for i in turn.context if i.get("kind") == "attachments"]
        others = [i for i in turn.context if i.get("kind") != "attachments"]
        text = self.system_prompt
        for item in attached:
            text += "\n\nThe user attached:\n" + str(item.get("content", ""))
        if others:
            lines = [f"- {item.get('content', '')}".strip() for item in others]
            text += "\n\nRelevant context (from memory):\n" + "\n".join(lines)
        return text

    def respond(self, turn: AgentTurn) -> Any:
        turn.max_tool_rounds = max(turn.max_tool_rounds, self.max_steps)
        return super().respond(turn)


class NotebookService(Service):
    """Handles ``agent_action_result``, ``agent_journal_list``, ``agent_undo`` and
    ``agent_undo_done``; hooks attachments and notebook tools into the agents service."""

    name = "notebook"

    attachment_budget = Int(
        4000, help="Most characters one attachment (file, cell, variable) adds to the prompt."
    ).tag(config=True)
    notebook_budget = Int(
        12000,
        help="Most characters an attached notebook adds to the prompt; past it, the cells "
        "nearest the selected one are kept and the others listed by id.",
    ).tag(config=True)
    cell_budget = Int(1500, help="Most characters of one cell's source in the prompt.").tag(
        config=True
    )
    output_budget = Int(
        500, help="Most characters of one cell's outputs in the prompt and in run results."
    ).tag(config=True)
    context_budget = Int(
        24000, help="Most characters all attachments of one message add to the prompt."
    ).tag(config=True)
    proposal_timeout = Float(
        300.0,
        help="Seconds a proposal waits for the user's decision before it expires (bounded by "
        "c.AgentsService.tool_timeout, which limits any tool call).",
    ).tag(config=True)
    max_steps = Int(
        12,
        help="Most notebook tool calls in one answer (the step budget); past it the agent is "
        "told to stop and answer.",
    ).tag(config=True)
    auto_approve = List(
        Unicode(),
        default_value=[],
        help="Action kinds applied without asking (the client still applies them and they are "
        "journaled): any of insert_cell, replace_cell, delete_cell, run_cell, create_notebook. "
        "Default: none, every action waits for the user.",
    ).tag(config=True)

    def __init__(self, hub: Publisher, **kwargs: Any) -> None:
        super().__init__(hub, **kwargs)
        self._hooks: ChatHooks | None = None
        self._agent_types: AgentTypes | None = None
        self.journal: Journal | None = None
        self.proposals: dict[str, Proposal] = {}
        self._undo_plans: dict[str, tuple[str, set[int], str]] = {}
        self._removers: list[Any] = []

    # -- lifecycle -------------------------------------------------------------------------

    def bind(self, db: Database | None, seams: Seams) -> None:
        super().bind(db, seams)
        self._hooks = seams.chat_hooks
        self._agent_types = seams.agent_types

    def commands(self) -> dict[str, Any]:
        return {
            "agent_action_result": self._action_result,
            "agent_journal_list": self._journal_list,
            "agent_undo": self._undo,
            "agent_undo_done": self._undo_done,
        }

    async def start(self) -> None:
        bad = [k for k in self.auto_approve if k not in ACTION_KINDS]
        if bad:
            raise RuntimeError(f"c.NotebookService.auto_approve: unknown kinds {bad}")
        if self.db is None:
            raise RuntimeError("the notebook service needs the project database")
        self.journal = Journal(self.db)
        await asyncio.get_running_loop().run_in_executor(None, self.journal.migrate)
        if self._hooks is not None:
            self._removers.append(self._hooks.add_context_provider(self.context_items))
            self._removers.append(
                self._hooks.add_tool_provider(self.list_tools, self.call_tool, name="notebook")
            )
        if self._agent_types is not None:
            self._agent_types.register_agent_type("notebook", NotebookAgent)

    async def stop(self) -> None:
        for remove in self._removers:
            with contextlib.suppress(ValueError):
                remove()
        self._removers.clear()
        for proposal in list(self.proposals.values()):
            if not proposal.future.done():
                proposal.future.cancel()
        self.proposals.clear()

    def health(self) -> dict[str, Any]:
        if self.start_error:
            return {"state": "down", "error": self.start_error}
        return {"state": "up", "pending_proposals": len(self.proposals)}

    # -- context -------------------------------------------------------------------------

    @property
    def budgets(self) -> Budgets:
        return Budgets(
            attachment=self.attachment_budget,
            notebook=self.notebook_budget,
            cell=self.cell_budget,
            output=self.output_budget,
            total=self.context_budget,
        )

    def _contents_manager(self) -> Any:
        serverapp = getattr(self.parent, "serverapp", None)
        return getattr(serverapp, "contents_manager", None)

    async def _read_file(self, request: Request, path: str) -> str:
        """A file's text through the server's ContentsManager, if the user may read it."""
        await request.authorize("contents", "read")
        cm = self._contents_manager()
        if cm is None:
            raise ActionError("this server has no contents manager")
        try:
            model = cm.get(path, content=True, type="file", format="text")
            if asyncio.iscoroutine(model):
                model = await model
        except Exception as exc:  # tornado HTTPError 404/400 from the manager
            reason = getattr(exc, "log_message", None) or str(exc) or type(exc).__name__
            raise ActionError(f"cannot read {path!r}: {reason}") from None
        return str(model.get("content") or "")

    async def context_items(self, user: str, query: str) -> list[dict[str, Any]]:
        """The attachments of the current chat message as one bounded context item."""
        scope = current_chat.get()
        if scope is None:
            return []
        attachments = scope.request.data.get("attachments") or []
        if not attachments:
            return []
        self._view(scope)
        budgets = self.budgets
        parts: list[str] = []
        truncated: list[str] = []
        described: list[dict[str, Any]] = []
        for att in attachments:
            kind = att["kind"]
            label = att.get("path") or att.get("name") or (att.get("cell") or {}).get("id", "")
            was_cut = False
            try:
                if kind == "notebook":
                    await scope.request.authorize("contents", "read")
                    problem = check_cells(att.get("cells") or [])
                    if problem:
                        raise ActionError(problem)
                    text, was_cut = render_notebook(att, budgets)
                elif kind == "cell":
                    cell = att.get("cell") or {}
                    text, was_cut = render_cell(cell, budgets)
                    text, more = cut(text, budgets.attachment)
                    was_cut = was_cut or more
                elif kind == "file":
                    if not att.get("path"):
                        raise ActionError("a file attachment needs a path")
                    body, was_cut = cut(
                        await self._read_file(scope.request, att["path"]), budgets.attachment
                    )
                    text = f"File {att['path']}:\n{body}"
                else:  # variable: summarized by the kernel, we only bound it
                    body, was_cut = cut(str(att.get("summary") or ""), budgets.attachment)
                    was_cut = was_cut or bool(att.get("truncated"))
                    text = f"Variable {att.get('name', '?')} (kernel summary):\n{body}"
            except (ActionError, PygentError) as exc:
                text = f"[{kind} {label}: not attached: {exc}]"
                described.append({"kind": kind, "label": label, "error": str(exc)})
                parts.append(text)
                continue
            if was_cut:
                text += "\n[truncated]"
                truncated.append(f"{kind}:{label}")
            described.append({"kind": kind, "label": label, "truncated": was_cut})
            parts.append(text)
        content, all_cut = cut("\n\n".join(parts), budgets.total)
        return [
            {
                "content": content,
                "kind": "attachments",
                "id": f"attachments:{scope.message_id}",
                "attachments": described,
                "truncated": truncated or all_cut,
            }
        ]

    def _view(self, scope: ChatScope) -> NotebookView | None:
        """The notebook this chat may act on (the first notebook attachment with actions)."""
        if "notebook" not in scope.state:
            view = None
            for att in scope.request.data.get("attachments") or []:
                if (
                    att["kind"] == "notebook"
                    and att.get("actions", True)
                    and att.get("path")
                    and check_cells(att.get("cells") or []) is None
                ):
                    view = NotebookView.from_attachment(att)
                    break
            scope.state["notebook"] = view
            scope.state["steps"] = 0
        view = scope.state["notebook"]
        return view if isinstance(view, NotebookView) else None

    # -- tools ---------------------------------------------------------------------------

    async def list_tools(self, user: str) -> list[dict[str, Any]]:
        """The notebook tools, offered only to a chat whose client attached a notebook it
        acts on."""
        scope = current_chat.get()
        if scope is None or self._view(scope) is None:
            return []
        return [dict(spec) for spec in TOOL_SPECS.values()]

    def _progress(self, scope: ChatScope, tool: str, state: str) -> None:
        scope.request.reply(
            "agent_progress",
            {
                "conversation_id": scope.conversation_id,
                "message_id": scope.message_id,
                "step": int(scope.state.get("steps", 0)),
                "max_steps": self.max_steps,
                "tool": tool,
                "state": state,
            },
        )

    async def call_tool(self, user: str, name: str, arguments: dict[str, Any]) -> str:
        """Turn a notebook tool call into a proposal, wait for the decision, and tell the
        model what happened. Errors the model made are raised as :class:`ActionError`."""
        scope = current_chat.get()
        kind = _BY_TOOL.get(name)
        if scope is None or kind is None:
            raise ActionError(f"{name} is only available in a chat with an attached notebook")
        view = self._view(scope)
        if view is None:
            raise ActionError("no notebook is attached to this chat")
        steps = int(scope.state.get("steps", 0)) + 1
        scope.state["steps"] = steps
        if steps > self.max_steps:
            self._progress(scope, name, "budget_spent")
            raise ActionError(
                f"the step budget ({self.max_steps} actions) is spent: stop calling tools and "
                "tell the user what is left to do"
            )
        self._progress(scope, name, "calling")
        proposal = self._build(scope, view, kind, arguments)
        await scope.request.authorize("contents", "write")
        if kind == "run_cell":
            await scope.request.authorize("kernels", "execute")
        return await self._propose(scope, view, proposal, name)

    def _build(
        self, scope: ChatScope, view: NotebookView, kind: str, args: dict[str, Any]
    ) -> Proposal:
        source = args.get("source")
        path = view.path
        target: dict[str, Any] = {"path": path}
        before: str | None = None
        index: int | None = None
        if kind in ("insert_cell", "replace_cell") and not isinstance(source, str):
            raise ActionError(f"{kind} needs `source` (a string)")
        try:
            if kind == "insert_cell":
                after = args.get("after_cell_id") or view.active_cell_id
                if after is None and view.cells:
                    after = view.cells[-1]["id"]
                if after is not None:
                    view.index(str(after))
                target["after_cell_id"] = after
                target["cell_type"] = args.get("cell_type") or "code"
                if target["cell_type"] not in ("code", "markdown"):
                    raise ActionError("cell_type is 'code' or 'markdown'")
            elif kind == "create_notebook":
                path = str(args.get("path") or "")
                if not path.endswith(".ipynb") or path.startswith("/") or ".." in path.split("/"):
                    raise ActionError("notebook_create needs a relative `path` ending in .ipynb")
                cells = args.get("cells") or []
                if not isinstance(cells, list) or not all(isinstance(c, str) for c in cells):
                    raise ActionError("`cells` is a list of code strings")
                target = {"path": path}
                source = json.dumps(cells)
            else:
                cell_id = args.get("cell_id")
                if not isinstance(cell_id, str) or not cell_id:
                    raise ActionError(f"{kind} needs `cell_id`")
                i = view.index(cell_id)
                cell = view.cells[i]
                target["cell_id"] = cell_id
                before = cell["source"]
                index = i
                if kind == "delete_cell":
                    target["after_cell_id"] = view.cells[i - 1]["id"] if i > 0 else None
                    target["cell_type"] = cell.get("cell_type", "code")
        except KeyError as exc:
            raise ActionError(exc.args[0]) from None
        return Proposal(
            id=f"prop-{uuid.uuid4().hex[:12]}",
            user=scope.request.user,
            client_id=scope.request.client_id,
            conversation_id=scope.conversation_id,
            message_id=scope.message_id,
            kind=kind,
            path=path,
            target=target,
            source=source if isinstance(source, str) else "",
            before=before,
            index=index,
        )

    def _diff(self, p: Proposal) -> str:
        path = p.path
        if p.kind == "insert_cell":
            where = p.target.get("after_cell_id")
            label = (
                f"{path} (new {p.target.get('cell_type', 'code')} cell after {where or 'the top'})"
            )
            return diff("", p.source, from_label=label, to_label="new cell")
        if p.kind == "replace_cell":
            cid = p.target["cell_id"]
            return diff(
                p.before or "",
                p.source,
                from_label=f"{path} cell {cid}",
                to_label=f"{path} cell {cid} (proposed)",
            )
        if p.kind == "delete_cell":
            cid = p.target["cell_id"]
            return diff(p.before or "", "", from_label=f"{path} cell {cid}", to_label="(deleted)")
        if p.kind == "run_cell":
            return f"run cell {p.target['cell_id']} of {path}:\n" + "".join(
                f"  {line}\n" for line in (p.before or "").splitlines()
            )
        cells = json.loads(p.source or "[]")
        body = "\n".join(f"# cell {i + 1}\n{c}" for i, c in enumerate(cells))
        return diff("", body, from_label="/dev/null", to_label=f"{path} (new notebook)")

    def _timeout(self) -> float:
        hooks = self._hooks
        tool_timeout = hooks.tool_call_timeout if hooks else self.proposal_timeout + 1
        return max(0.05, min(self.proposal_timeout, tool_timeout - 1.0))

    async def _propose(self, scope: ChatScope, view: NotebookView, p: Proposal, tool: str) -> str:
        loop = asyncio.get_running_loop()
        p.future = loop.create_future()
        timeout = self._timeout()
        self.proposals[p.id] = p
        request = scope.request
        data: dict[str, Any] = {
            "proposal_id": p.id,
            "conversation_id": p.conversation_id,
            "message_id": p.message_id,
            "kind": p.kind,
            "target": p.target,
            "diff": self._diff(p),
            "step": int(scope.state.get("steps", 1)),
            "max_steps": self.max_steps,
            "expires_at": _iso(time.time() + timeout),
            "auto_approved": p.kind in self.auto_approve,
        }
        if p.kind in ("insert_cell", "replace_cell", "create_notebook"):
            data["source"] = p.source
        if p.kind == "insert_cell":
            data["cell_type"] = p.target.get("cell_type", "code")
        self._progress(scope, tool, "waiting")
        request.reply("agent_action_request", data)
        try:
            decision = await asyncio.wait_for(asyncio.shield(p.future), timeout)
        except asyncio.TimeoutError:
            self.proposals.pop(p.id, None)
            request.reply("agent_action_expired", {"proposal_id": p.id, "reason": "timeout"})
            return (
                f"The proposal ({p.kind}) expired: the user did not answer within "
                f"{timeout:.0f} s. Nothing was changed. Do not repeat it unless the user asks."
            )
        except asyncio.CancelledError:
            self.proposals.pop(p.id, None)
            if not request.closed:
                request.reply("agent_action_expired", {"proposal_id": p.id, "reason": "cancelled"})
            raise
        finally:
            self._progress_done(scope, tool)
        return self._outcome(view, p, decision)

    def _progress_done(self, scope: ChatScope, tool: str) -> None:
        if not scope.request.closed:
            self._progress(scope, tool, "done")

    def _outcome(self, view: NotebookView, p: Proposal, decision: dict[str, Any]) -> str:
        """Update the view and say to the model what happened."""
        status = decision["decision"]
        result = decision.get("result") or {}
        if status == "rejected":
            reason = decision.get("reason")
            return (
                f"The user rejected this {p.kind}"
                + (f": {reason}" if reason else ".")
                + (" Nothing was changed. Do not apply it; go on or ask the user.")
            )
        if status == "failed":
            why = result.get("error") or decision.get("reason") or "unknown error"
            return f"Applying the {p.kind} failed: {why}. Nothing was changed."
        ids = [str(i) for i in result.get("cell_ids") or []]
        if p.kind == "insert_cell":
            new_id = ids[0] if ids else f"new-{p.id}"
            try:
                view.insert(
                    p.target.get("after_cell_id"),
                    new_id,
                    p.source,
                    p.target.get("cell_type", "code"),
                )
            except KeyError:
                view.cells.append({"id": new_id, "cell_type": "code", "source": p.source})
            return f"Applied: inserted cell {new_id}."
        if p.kind == "replace_cell":
            with contextlib.suppress(KeyError):
                view.cell(p.target["cell_id"])["source"] = p.source
            return f"Applied: cell {p.target['cell_id']} now has the new source."
        if p.kind == "delete_cell":
            with contextlib.suppress(KeyError):
                view.delete(p.target["cell_id"])
            return f"Applied: cell {p.target['cell_id']} deleted."
        if p.kind == "run_cell":
            outputs, was_cut = cut(str(result.get("outputs") or ""), self.output_budget)
            error = result.get("error")
            text = f"Ran cell {p.target['cell_id']}."
            text += f" It raised: {error}." if error else ""
            text += f"\nOutput:\n{outputs}" if outputs else "\n(no output)"
            return text + ("\n[output truncated]" if was_cut else "")
        return f"Created notebook {p.path}."

    # -- decisions -----------------------------------------------------------------------

    async def _action_result(self, request: Request[AgentActionResultData]) -> None:
        data = request.data
        pid = data["proposal_id"]
        p = self.proposals.get(pid)
        if p is None or p.user != request.user or p.future.done():
            raise PygentError(
                ErrorCode.NOT_FOUND,
                f"no pending proposal {pid!r} (it expired, was answered, or the chat stopped)",
                field="data.proposal_id",
            )
        if p.client_id != request.client_id:
            raise PygentError(
                ErrorCode.FORBIDDEN,
                "only the client that sent the chat may answer its proposals",
                field="data.proposal_id",
            )
        decision = data["decision"]
        result = dict(data.get("result") or {})
        if decision == "approved" and p.kind != "create_notebook":
            raise PygentError(
                ErrorCode.INVALID,
                f"'approved' is for create_notebook; a {p.kind} is applied by the client "
                "('applied' with its result)",
                field="data.decision",
            )
        if decision == "applied" and p.kind == "insert_cell" and not result.get("cell_ids"):
            raise PygentError(
                ErrorCode.INVALID,
                "an applied insert_cell needs result.cell_ids (the new cell's id)",
                field="data.result.cell_ids",
            )
        journal_id: int | None = None
        if decision == "approved":
            try:
                await self._create_notebook(request, p)
            except (ActionError, PygentError) as exc:
                decision, result = "failed", {"error": str(exc)}
            else:
                decision = "applied"
        if decision == "applied":
            journal_id = await self._record(p, result)
        self.proposals.pop(pid, None)
        if not p.future.done():
            p.future.set_result(
                {"decision": decision, "result": result, "reason": data.get("reason")}
            )
        request.reply(
            "agent_action_recorded",
            {"proposal_id": pid, "status": decision, "journal_id": journal_id},
        )

    async def _record(self, p: Proposal, result: dict[str, Any]) -> int:
        assert self.journal is not None
        kind = p.kind
        before = result.get("before", p.before) if kind != "insert_cell" else None
        after: str | None
        if kind in ("insert_cell", "replace_cell", "create_notebook"):
            after = result.get("after", p.source)
        elif kind == "run_cell":
            after, _ = cut(str(result.get("outputs") or ""), self.output_budget)
        else:
            after = None
        index = result.get("index", p.index)
        return await self.journal.record(
            user=p.user,
            conversation_id=p.conversation_id,
            message_id=p.message_id,
            proposal_id=p.id,
            client_id=p.client_id,
            path=p.path,
            kind=kind,
            target=p.target,
            before=before,
            after=after,
            cell_ids=[str(i) for i in result.get("cell_ids") or []],
            index=index if isinstance(index, int) else None,
        )

    async def _create_notebook(self, request: Request, p: Proposal) -> None:
        """Write a new notebook through the ContentsManager (nothing can have it open)."""
        await request.authorize("contents", "write")
        cm = self._contents_manager()
        if cm is None:
            raise ActionError("this server has no contents manager")
        import nbformat

        exists = cm.file_exists(p.path)
        if asyncio.iscoroutine(exists):
            exists = await exists
        if exists:
            raise ActionError(f"{p.path} already exists")
        nb = nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell(src) for src in json.loads(p.source or "[]")]
        )
        saved = cm.save({"type": "notebook", "format": "json", "content": nb}, p.path)
        if asyncio.iscoroutine(saved):
            await saved

    # -- journal and undo -----------------------------------------------------------------

    def _journal(self) -> Journal:
        if self.journal is None:
            raise PygentError(ErrorCode.UNAVAILABLE, "the notebook service has not started")
        return self.journal

    async def _journal_list(self, request: Request[AgentJournalListData]) -> None:
        data = request.data
        entries = await self._journal().entries(
            request.user,
            conversation_id=data.get("conversation_id"),
            path=data.get("path"),
            limit=int(data.get("limit", 100)),
        )
        request.reply("agent_journal", {"entries": entries})

    async def _undo(self, request: Request[AgentUndoData]) -> None:
        data = request.data
        conv = data["conversation_id"]
        entries = await self._journal().entries(
            request.user,
            conversation_id=conv,
            path=data.get("path"),
            limit=int(data.get("count", 1)),
            applied_only=True,
        )
        if not entries:
            raise PygentError(
                ErrorCode.NOT_FOUND,
                f"nothing to undo in conversation {conv!r}",
                field="data.conversation_id",
            )
        undo_id = f"undo-{uuid.uuid4().hex[:12]}"
        self._undo_plans[undo_id] = (request.user, {e["id"] for e in entries}, conv)
        while len(self._undo_plans) > 1000:
            self._undo_plans.pop(next(iter(self._undo_plans)))
        request.reply(
            "agent_undo_plan", {"undo_id": undo_id, "steps": [undo_step(e) for e in entries]}
        )

    async def _undo_done(self, request: Request[AgentUndoDoneData]) -> None:
        data = request.data
        plan = self._undo_plans.get(data["undo_id"])
        if plan is None or plan[0] != request.user:
            raise PygentError(
                ErrorCode.NOT_FOUND, f"no undo plan {data['undo_id']!r}", field="data.undo_id"
            )
        _, allowed, conv = plan
        ids = [int(i) for i in data["journal_ids"]]
        stray = [i for i in ids if i not in allowed]
        if stray:
            raise PygentError(
                ErrorCode.INVALID,
                f"journal entries {stray} are not in this undo plan",
                field="data.journal_ids",
            )
        await self._journal().mark_undone(request.user, ids)
        self._undo_plans.pop(data["undo_id"], None)
        entries = await self._journal().entries(request.user, conversation_id=conv, limit=100)
        request.reply("agent_journal", {"entries": entries})
