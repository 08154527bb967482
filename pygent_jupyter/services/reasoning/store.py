"""Reasoning runs in the project's SQLite database: the whole tree and its parameters.

A run is written when it starts (``running``) and again, with its full tree, when it ends
(``finished``, ``solved``, ``stopped``, ``budget_*``, ``error`` or ``cancelled``), so a run
interrupted by a server crash is still listed. Every query is scoped to a user.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from ...storage import Database, transaction
from .engine import ReasoningTree

__all__ = ["MIGRATIONS", "RunStore"]

MIGRATIONS = [
    """
    CREATE TABLE reasoning_runs (
        id TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        task TEXT NOT NULL,
        input TEXT NOT NULL,
        params TEXT NOT NULL,
        status TEXT NOT NULL,
        answer TEXT,
        solved INTEGER,
        stats TEXT,
        tree TEXT,
        error TEXT,
        created REAL NOT NULL,
        finished REAL
    );
    CREATE INDEX reasoning_runs_user_created ON reasoning_runs(user, created);
    """
]

_SUMMARY_COLUMNS = (
    "id, task, input, params, status, answer, solved, stats, error, created, finished"
)


class RunStore:
    """Saves, lists and reloads runs; all methods run on the database thread."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def migrate(self) -> None:
        """Create the tables (blocking; call once at service start)."""
        self.db.migrate("reasoning", MIGRATIONS)

    async def create(
        self, run_id: str, user: str, task: str, x: str, params: dict[str, Any]
    ) -> None:
        """Record a run that is starting."""

        def insert(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "INSERT INTO reasoning_runs(id, user, task, input, params, status, created)"
                    " VALUES(?, ?, ?, ?, ?, 'running', ?)",
                    (run_id, user, task, x, json.dumps(params), time.time()),
                )

        await self.db.run(insert)

    async def finish(self, run_id: str, tree: ReasoningTree, status: str) -> None:
        """Store the final tree and outcome of a run."""
        document = tree.to_dict()

        def update(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "UPDATE reasoning_runs SET status=?, answer=?, solved=?, stats=?, tree=?,"
                    " error=?, finished=? WHERE id=?",
                    (
                        status,
                        tree.answer,
                        None if tree.solved is None else int(tree.solved),
                        json.dumps(document["stats"]),
                        json.dumps(document),
                        tree.error,
                        time.time(),
                        run_id,
                    ),
                )

        await self.db.run(update)

    async def list(
        self, user: str, limit: int = 50, before: float | None = None
    ) -> list[dict[str, Any]]:
        """The user's runs, newest first, without their trees."""

        def select(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            sql = f"SELECT {_SUMMARY_COLUMNS} FROM reasoning_runs WHERE user=?"
            args: list[Any] = [user]
            if before is not None:
                sql += " AND created < ?"
                args.append(before)
            sql += " ORDER BY created DESC LIMIT ?"
            args.append(limit)
            return [_summary(row) for row in conn.execute(sql, args)]

        return await self.db.run(select)

    async def get(self, user: str, run_id: str) -> dict[str, Any] | None:
        """One run of ``user`` with its tree (``tree`` is None while it is still running)."""

        def select(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(
                f"SELECT {_SUMMARY_COLUMNS}, tree FROM reasoning_runs WHERE user=? AND id=?",
                (user, run_id),
            ).fetchone()
            if row is None:
                return None
            out = _summary(row)
            out["tree"] = json.loads(row["tree"]) if row["tree"] else None
            return out

        return await self.db.run(select)

    async def load_tree(self, user: str, run_id: str) -> ReasoningTree | None:
        """The stored :class:`ReasoningTree` of a finished run."""
        run = await self.get(user, run_id)
        if run is None or run["tree"] is None:
            return None
        return ReasoningTree.from_dict(run["tree"])

    async def mark_interrupted(self) -> int:
        """Mark runs left ``running`` by a previous server process as ``interrupted``."""

        def update(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                cur = conn.execute(
                    "UPDATE reasoning_runs SET status='interrupted' WHERE status='running'"
                )
                return cur.rowcount

        return await self.db.run(update)


def _summary(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "run_id": row["id"],
        "task": row["task"],
        "input": row["input"],
        "params": json.loads(row["params"]),
        "status": row["status"],
        "answer": row["answer"],
        "solved": None if row["solved"] is None else bool(row["solved"]),
        "stats": json.loads(row["stats"]) if row["stats"] else None,
        "error": row["error"],
        "created": row["created"],
        "finished": row["finished"],
    }
