"""Pure helpers: the notebook an agent works on, attachments rendered to bounded text, diffs.

Nothing here does I/O; the service reads files and sends events.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Budgets",
    "NotebookView",
    "check_cells",
    "cut",
    "diff",
    "render_cell",
    "render_notebook",
]


@dataclass(frozen=True)
class Budgets:
    """Character budgets (the service's traits)."""

    attachment: int = 4000
    notebook: int = 12000
    cell: int = 1500
    output: int = 500
    total: int = 24000


def cut(text: str, budget: int) -> tuple[str, bool]:
    """``text`` cut to ``budget`` characters with a marker saying how much was cut."""
    if len(text) <= budget:
        return text, False
    keep = max(0, budget - 24)
    return f"{text[:keep]}\n… [{len(text) - keep} chars cut]", True


_CELL_TYPES = ("code", "markdown", "raw")


def check_cells(cells: Any) -> str | None:
    """Why a notebook attachment's ``cells`` are malformed (the first problem), or None.

    Each cell: ``id`` (1-128 characters), ``source`` (a string), optionally ``cell_type``
    (code, markdown, raw), ``outputs`` (a string) and ``execution_count`` (an integer or
    null); ids are unique. (The protocol schema leaves the items to this check: it is ~50x
    faster than JSON Schema over thousands of cells.)"""
    if not isinstance(cells, list):
        return "cells must be a list"
    seen: set[str] = set()
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict):
            return f"cells[{i}] must be an object"
        cid = cell.get("id")
        if not isinstance(cid, str) or not 0 < len(cid) <= 128:
            return f"cells[{i}].id must be a string of 1 to 128 characters"
        if cid in seen:
            return f"cells[{i}].id {cid!r} is not unique"
        seen.add(cid)
        if not isinstance(cell.get("source"), str):
            return f"cells[{i}].source must be a string"
        if cell.get("cell_type", "code") not in _CELL_TYPES:
            return f"cells[{i}].cell_type must be one of {', '.join(_CELL_TYPES)}"
        if not isinstance(cell.get("outputs", ""), str):
            return f"cells[{i}].outputs must be a string (the outputs as text)"
        count = cell.get("execution_count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            return f"cells[{i}].execution_count must be an integer or null"
    return None


@dataclass
class NotebookView:
    """What the server knows of a notebook a chat acts on: its path and cells (id, type,
    source) as the client sent them, updated as actions are applied."""

    path: str
    cells: list[dict[str, Any]] = field(default_factory=list)
    active_cell_id: str | None = None

    @classmethod
    def from_attachment(cls, attachment: dict[str, Any]) -> NotebookView:
        cells = [
            {
                "id": str(c["id"]),
                "cell_type": c.get("cell_type", "code"),
                "source": c.get("source", ""),
            }
            for c in attachment.get("cells") or []
        ]
        return cls(str(attachment.get("path", "")), cells, attachment.get("active_cell_id"))

    def index(self, cell_id: str) -> int:
        """Position of ``cell_id``; raises ``KeyError`` with a message naming known ids."""
        for i, cell in enumerate(self.cells):
            if cell["id"] == cell_id:
                return i
        known = ", ".join(c["id"] for c in self.cells[:30]) or "none"
        more = f" (and {len(self.cells) - 30} more)" if len(self.cells) > 30 else ""
        raise KeyError(f"no cell with id {cell_id!r} in {self.path}; cell ids: {known}{more}")

    def cell(self, cell_id: str) -> dict[str, Any]:
        return self.cells[self.index(cell_id)]

    def insert(self, after_cell_id: str | None, cell_id: str, source: str, cell_type: str) -> int:
        """Record a new cell after ``after_cell_id`` (None: at the top); returns its index."""
        at = 0 if after_cell_id is None else self.index(after_cell_id) + 1
        self.cells.insert(at, {"id": cell_id, "cell_type": cell_type, "source": source})
        return at

    def delete(self, cell_id: str) -> None:
        del self.cells[self.index(cell_id)]


def render_cell(
    cell: dict[str, Any], budgets: Budgets, *, active: bool = False
) -> tuple[str, bool]:
    """One cell as the model reads it: header, source, outputs (each within its budget)."""
    head = f"[cell {cell['id']}] ({cell.get('cell_type', 'code')}"
    if cell.get("execution_count") is not None:
        head += f", In [{cell['execution_count']}]"
    head += ", selected)" if active else ")"
    source, cut_source = cut(str(cell.get("source", "")), budgets.cell)
    text = f"{head}\n{source}"
    cut_out = False
    outputs = str(cell.get("outputs") or "")
    if outputs:
        outputs, cut_out = cut(outputs, budgets.output)
        text += f"\n--- output ---\n{outputs}"
    return text, cut_source or cut_out


def render_notebook(attachment: dict[str, Any], budgets: Budgets) -> tuple[str, bool]:
    """A notebook attachment as text within ``budgets.notebook``.

    When the cells do not all fit, the ones nearest the selected cell are kept and the ids of
    the others are listed (so the agent can still name them)."""
    cells = list(attachment.get("cells") or [])
    active = attachment.get("active_cell_id")
    rendered: list[str] = []
    truncated = False
    for cell in cells:
        text, cut_cell = render_cell(cell, budgets, active=cell.get("id") == active)
        rendered.append(text)
        truncated = truncated or cut_cell
    header = f"Notebook {attachment.get('path', '')} ({len(cells)} cells"
    header += f", selected cell {active})" if active else ")"
    total = sum(len(t) + 2 for t in rendered) + len(header)
    if total <= budgets.notebook:
        return "\n\n".join([header, *rendered]), truncated
    # keep a window around the selected cell, growing it while it fits
    centre = next((i for i, c in enumerate(cells) if c.get("id") == active), len(cells) - 1)
    keep = {centre}
    size = len(rendered[centre]) + len(header) + 200 if rendered else len(header)
    lo, hi = centre - 1, centre + 1
    while lo >= 0 or hi < len(cells):
        grew = False
        for i in (hi, lo):
            if (
                0 <= i < len(cells)
                and i not in keep
                and size + len(rendered[i]) + 2 < budgets.notebook
            ):
                keep.add(i)
                size += len(rendered[i]) + 2
                grew = True
        lo, hi = lo - 1, hi + 1
        if not grew and (lo < 0 or size > budgets.notebook * 0.9):
            break
    omitted = [str(c.get("id")) for i, c in enumerate(cells) if i not in keep]
    ids, _ = cut(", ".join(omitted), max(200, budgets.notebook // 10))
    parts = [header]
    for i in sorted(keep):
        parts.append(rendered[i])
    parts.append(f"[{len(omitted)} cells not shown, ids: {ids}]")
    text, _ = cut("\n\n".join(parts), budgets.notebook)
    return text, True


def diff(before: str, after: str, *, from_label: str, to_label: str) -> str:
    """A unified diff of two sources, readable as is (``+``/``-`` lines)."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=from_label,
        tofile=to_label,
        lineterm="",
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n")
    return "".join(out) or f"--- {from_label}\n+++ {to_label}\n(no change)\n"
