"""Notebook agents from inside the kernel: attachments and approvals for ``%%pygent``.

The kernel has no live notebook model, so a chat sent from a cell attaches what the kernel
knows: the calling cell (id ``calling``) and summaries of named variables
(:mod:`pygent_jupyter.inspect_vars`). With ``--act`` the agent may propose actions; each is
shown as a diff and applied only after the user answers the prompt (``y``):

- ``insert_cell``: the source becomes the next input, a new cell below the calling cell when
  it finishes (several inserts of one run share that one new cell, in order);
- ``replace_cell`` / ``delete_cell`` of an inserted (not yet shown) cell edit that pending input;
- ``run_cell`` of an inserted cell runs it here, in this kernel, and its output goes back to
  the agent;
- ``create_notebook`` is written by the server (``approved``).

Anything else (editing or running other cells, which only the JupyterLab panel can do on the
live notebook) is answered ``failed`` with the reason, and the chat goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from ..inspect_vars import summarize_many

__all__ = ["KernelActions"]

Decide = Callable[[dict[str, Any]], bool]


def _ask(data: dict[str, Any]) -> bool:
    """Show the proposal and ask on stdin (Jupyter shows a text box under the cell)."""
    from IPython.display import Markdown, display

    display(
        Markdown(
            f"**The agent proposes `{data['kind']}`** (step {data.get('step', '?')}):\n\n"
            f"```diff\n{data['diff']}\n```"
        )
    )
    answer = input(f"Apply this {data['kind']}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


class KernelActions:
    """Attachments for one ``%%pygent`` run and the handling of its proposals."""

    def __init__(self, shell: Any, cell: str, *, decide: Decide | None = None) -> None:
        self.shell = shell
        self.cell = cell
        self.decide = decide or _ask
        self.pending: dict[str, str] = {}  # inserted cells, in order, until the run ends
        self._n = 0

    @property
    def path(self) -> str:
        """The notebook the kernel runs for (JupyterLab tells kernels), else a label."""
        return os.environ.get("JPY_SESSION_NAME") or "(this kernel)"

    def attachments(
        self, names: Iterable[str], *, act: bool, budget: int = 2000
    ) -> list[dict[str, Any]]:
        """The calling cell (as a one-cell notebook the agent may act on with ``act``) and
        kernel-side summaries of the variables ``names``."""
        out: list[dict[str, Any]] = [
            {
                "kind": "notebook",
                "path": self.path,
                "cells": [{"id": "calling", "cell_type": "code", "source": self.cell}],
                "active_cell_id": "calling",
                "actions": act,
            }
        ]
        namespace = getattr(self.shell, "user_ns", {}) or {}
        for summary in summarize_many(namespace, [n for n in names if n], budget):
            out.append(
                {
                    "kind": "variable",
                    "name": summary["name"],
                    "summary": summary["text"],
                    "truncated": bool(summary.get("truncated")),
                }
            )
        return out

    def handle(self, data: dict[str, Any]) -> dict[str, Any]:
        """The ``agent_action_result`` for one ``agent_action_request``."""
        pid = data["proposal_id"]
        if not data.get("auto_approved") and not self.decide(data):
            return {"proposal_id": pid, "decision": "rejected"}
        try:
            return {"proposal_id": pid, **self._apply(data)}
        except Exception as exc:  # report, never raise into the chat loop
            return {"proposal_id": pid, "decision": "failed", "result": {"error": str(exc)}}

    def _apply(self, data: dict[str, Any]) -> dict[str, Any]:
        kind = data["kind"]
        target = data.get("target") or {}
        cell_id = str(target.get("cell_id") or "")
        if kind == "create_notebook":
            return {"decision": "approved"}
        if kind == "insert_cell":
            self._n += 1
            new_id = f"new-{self._n}"
            self.pending[new_id] = str(data.get("source", ""))
            self._flush()
            return {
                "decision": "applied",
                "result": {"cell_ids": [new_id], "after": self.pending[new_id]},
            }
        if cell_id not in self.pending:
            raise ValueError(
                f"from the kernel only cells inserted in this run can be changed or run "
                f"({', '.join(self.pending) or 'none yet'}); use the JupyterLab panel "
                f"for {cell_id!r}"
            )
        before = self.pending[cell_id]
        if kind == "replace_cell":
            self.pending[cell_id] = str(data.get("source", ""))
            self._flush()
            return {
                "decision": "applied",
                "result": {"before": before, "after": self.pending[cell_id]},
            }
        if kind == "delete_cell":
            del self.pending[cell_id]
            self._flush()
            return {"decision": "applied", "result": {"before": before, "after": None}}
        if kind == "run_cell":
            return {"decision": "applied", "result": self._run(before)}
        raise ValueError(f"unknown action {kind!r}")

    def _run(self, source: str) -> dict[str, Any]:
        from IPython.utils.capture import capture_output

        with capture_output() as captured:
            result = self.shell.run_cell(source, store_history=False)
        parts = [captured.stdout, captured.stderr]
        for output in captured.outputs:
            parts.append(str(output.data.get("text/plain", "")))
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        out: dict[str, Any] = {"outputs": "\n".join(p for p in parts if p).strip()}
        if error is not None:
            out["error"] = f"{type(error).__name__}: {error}"
        return out

    def _flush(self) -> None:
        """The pending cells become the next input (one new cell under the calling one)."""
        if self.pending and hasattr(self.shell, "set_next_input"):
            self.shell.set_next_input("\n\n".join(self.pending.values()), replace=False)
