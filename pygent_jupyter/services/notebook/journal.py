"""The journal of applied agent actions, in the project's SQLite database.

One row per applied action: who (user, client), when, which conversation and notebook, the
kind, the target, the cell source before and after and the ids of cells it created. Undo
reads the newest rows of a conversation and marks them undone once the client reverted them.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import Any

from ...storage import Database

__all__ = ["Journal", "undo_step"]

MIGRATIONS = [
    """
    CREATE TABLE notebook_journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        proposal_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        path TEXT NOT NULL,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        before TEXT,
        after TEXT,
        cell_ids TEXT NOT NULL,
        cell_index INTEGER,
        created TEXT NOT NULL,
        undone_at TEXT
    );
    CREATE INDEX notebook_journal_conv ON notebook_journal(user, conversation_id, id)
    """
]

_COLUMNS = (
    "id, user, conversation_id, message_id, proposal_id, client_id, path, kind, target, "
    "before, after, cell_ids, cell_index, created, undone_at"
)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user": row["user"],
        "conversation_id": row["conversation_id"],
        "message_id": row["message_id"],
        "proposal_id": row["proposal_id"],
        "client_id": row["client_id"],
        "path": row["path"],
        "kind": row["kind"],
        "target": json.loads(row["target"]),
        "before": row["before"],
        "after": row["after"],
        "cell_ids": json.loads(row["cell_ids"]),
        "index": row["cell_index"],
        "created": row["created"],
        "undone": row["undone_at"] is not None,
    }


class Journal:
    """Applied actions per user; every method runs on the database thread."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def migrate(self) -> None:
        """Create the tables (blocking; call at start)."""
        self.db.migrate("notebook", MIGRATIONS)

    async def record(
        self,
        *,
        user: str,
        conversation_id: str,
        message_id: str,
        proposal_id: str,
        client_id: str,
        path: str,
        kind: str,
        target: dict[str, Any],
        before: str | None,
        after: str | None,
        cell_ids: list[str],
        index: int | None,
    ) -> int:
        """Store one applied action (durable when this returns); returns its id."""

        def insert(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO notebook_journal (user, conversation_id, message_id, proposal_id,"
                " client_id, path, kind, target, before, after, cell_ids, cell_index, created)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    user,
                    conversation_id,
                    message_id,
                    proposal_id,
                    client_id,
                    path,
                    kind,
                    json.dumps(target),
                    before,
                    after,
                    json.dumps(cell_ids),
                    index,
                    _now(),
                ),
            )
            return int(cur.lastrowid or 0)

        return await self.db.run(insert)

    async def entries(
        self,
        user: str,
        *,
        conversation_id: str | None = None,
        path: str | None = None,
        limit: int = 100,
        applied_only: bool = False,
    ) -> list[dict[str, Any]]:
        """``user``'s entries, newest first."""
        where = ["user=?"]
        args: list[Any] = [user]
        if conversation_id is not None:
            where.append("conversation_id=?")
            args.append(conversation_id)
        if path is not None:
            where.append("path=?")
            args.append(path)
        if applied_only:
            where.append("undone_at IS NULL")
        sql = (
            f"SELECT {_COLUMNS} FROM notebook_journal WHERE {' AND '.join(where)}"
            " ORDER BY id DESC LIMIT ?"
        )
        args.append(limit)

        def select(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            return [_row(r) for r in conn.execute(sql, args).fetchall()]

        return await self.db.run(select)

    async def mark_undone(self, user: str, ids: list[int]) -> int:
        """Mark ``user``'s entries ``ids`` undone; returns how many changed."""
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))

        def update(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                f"UPDATE notebook_journal SET undone_at=? WHERE user=? AND id IN ({marks})"
                " AND undone_at IS NULL",
                (_now(), user, *ids),
            )
            return cur.rowcount

        return await self.db.run(update)


def undo_step(entry: dict[str, Any]) -> dict[str, Any]:
    """The inverse of one journal entry, as an ``agent_undo_plan`` step."""
    step: dict[str, Any] = {"journal_id": entry["id"], "path": entry["path"]}
    kind = entry["kind"]
    target = entry["target"]
    if kind == "insert_cell":
        step.update(op="delete_cells", cell_ids=list(entry["cell_ids"]))
    elif kind == "replace_cell":
        step.update(
            op="set_source", cell_id=target.get("cell_id", ""), source=entry["before"] or ""
        )
    elif kind == "delete_cell":
        step.update(
            op="insert_cell",
            source=entry["before"] or "",
            index=entry["index"],
            after_cell_id=target.get("after_cell_id"),
            cell_type=target.get("cell_type", "code"),
            cell_id=target.get("cell_id", ""),
        )
    else:  # run_cell, create_notebook: nothing to revert in the notebook model
        step.update(op="none")
    return step
