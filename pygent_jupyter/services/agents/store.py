"""Conversations and their messages, per user, in the project's SQLite database.

Every row is scoped by ``user``: a conversation id names a conversation *of that user*, so one
user can never read, extend or even detect another user's conversation (both get
``not_found``). Writes commit before the coroutine returns (``synchronous=FULL``), so whatever
the service acknowledges after awaiting them survives a kill -9.

Messages are numbered ``n = 1, 2, …`` within their conversation; ``before`` in
:meth:`ConversationStore.messages` is such a number.

A conversation remembers the ``backend`` and ``model`` last picked for it (the picker's choice
sticks per conversation). ``agent_usage`` holds one row per model answer (chat, a reasoning
run's calls, an evolution run's calls): tokens, the backend and model, and the cost when the
price table knows the model; per-conversation and per-user-per-day totals are sums over it
(``day`` is the UTC date).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any

from ...protocol import ErrorCode, PygentError
from ...storage import Database, transaction

__all__ = ["ConversationStore", "utc_day"]

MIGRATIONS = [
    """
    CREATE TABLE agent_conversations (
        user TEXT NOT NULL,
        id TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        agent_id TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        updated REAL NOT NULL,
        message_count INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (user, id)
    );
    CREATE INDEX agent_conversations_updated ON agent_conversations (user, updated);
    CREATE TABLE agent_messages (
        user TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        n INTEGER NOT NULL,
        id TEXT NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        agent_id TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'complete',
        metadata TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL,
        PRIMARY KEY (user, conversation_id, n),
        FOREIGN KEY (user, conversation_id) REFERENCES agent_conversations (user, id)
            ON DELETE CASCADE
    );
    CREATE UNIQUE INDEX agent_messages_id ON agent_messages (user, id)
    """,
    """
    ALTER TABLE agent_conversations ADD COLUMN backend TEXT NOT NULL DEFAULT '';
    ALTER TABLE agent_conversations ADD COLUMN model TEXT NOT NULL DEFAULT '';
    CREATE TABLE agent_usage (
        user TEXT NOT NULL,
        day TEXT NOT NULL,
        created REAL NOT NULL,
        source TEXT NOT NULL DEFAULT 'chat',
        conversation_id TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL DEFAULT '',
        backend TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        cost REAL
    );
    CREATE INDEX agent_usage_day ON agent_usage (user, day);
    CREATE INDEX agent_usage_conversation ON agent_usage (user, conversation_id)
    """,
]


def utc_day(ts: float | None = None) -> str:
    """The UTC date of ``ts`` (now by default) as ``YYYY-MM-DD``: the budget's day."""
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if ts is None else ts))


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


class ConversationStore:
    """Async access to the agent tables (all statements on the database thread)."""

    component = "agents"

    def __init__(self, db: Database) -> None:
        self.db = db

    def migrate(self) -> None:
        """Create or upgrade the tables (blocking; call at service start)."""
        self.db.migrate(self.component, MIGRATIONS)

    async def add_user_message(
        self,
        user: str,
        conversation_id: str | None,
        content: str,
        agent_id: str,
        *,
        message_id: str | None = None,
        history: int = 0,
        history_chars: int = 0,
        preferences: tuple[str, str] | None = None,
    ) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        """Commit the user's turn (creating the conversation when ``conversation_id`` is None
        or new to this user). Returns the conversation id, the stored message and, in the
        same trip to the database thread, up to ``history`` earlier messages (see
        :meth:`window`). ``preferences`` (backend, model) are remembered for the conversation
        in the same transaction; the stored message's ``preferences`` is what the
        conversation holds afterwards."""
        conv_id = conversation_id or new_id("cv")
        msg_id = message_id or new_id("msg")

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            now = time.time()
            with transaction(conn):
                conn.execute(
                    "INSERT INTO agent_conversations (user, id, title, agent_id, created, "
                    "updated) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user, id) DO NOTHING",
                    (user, conv_id, _title(content), agent_id, now, now),
                )
                stored = _insert(
                    conn, user, conv_id, msg_id, "user", content, agent_id, "complete", {}, now
                )
                if preferences is not None:
                    conn.execute(
                        "UPDATE agent_conversations SET backend=?, model=? WHERE user=? AND id=?",
                        (*preferences, user, conv_id),
                    )
            row = conn.execute(
                "SELECT backend, model FROM agent_conversations WHERE user=? AND id=?",
                (user, conv_id),
            ).fetchone()
            stored["preferences"] = (row["backend"], row["model"])
            earlier = (
                _window(conn, user, conv_id, stored["n"], history, history_chars)
                if history > 0
                else []
            )
            return stored, earlier

        stored, earlier = await self.db.run(write)
        return conv_id, stored, earlier

    async def add_answer(
        self,
        user: str,
        conversation_id: str,
        message_id: str,
        content: str,
        agent_id: str,
        *,
        status: str = "complete",
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Commit the agent's answer (``status``: ``complete`` or ``incomplete``)."""

        def write(conn: sqlite3.Connection) -> dict[str, Any]:
            with transaction(conn):
                return _insert(
                    conn,
                    user,
                    conversation_id,
                    message_id,
                    "assistant",
                    content,
                    agent_id,
                    status,
                    metadata or {},
                    time.time(),
                )

        return await self.db.run(write)

    async def exists(self, user: str, conversation_id: str) -> bool:
        def read(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT 1 FROM agent_conversations WHERE user=? AND id=?", (user, conversation_id)
            ).fetchone()
            return row is not None

        return await self.db.run(read)

    async def window(
        self, user: str, conversation_id: str, *, before: int, limit: int, max_chars: int
    ) -> list[dict[str, Any]]:
        """The newest messages before number ``before``, at most ``limit`` and ``max_chars``
        characters in all, oldest first: the history a prompt carries."""

        return await self.db.run(_window, user, conversation_id, before, limit, max_chars)

    async def messages(
        self, user: str, conversation_id: str, *, before: int | None = None, limit: int = 50
    ) -> tuple[list[dict[str, Any]], bool]:
        """The newest ``limit`` messages before number ``before`` (oldest first) and whether
        older ones exist. Raises ``not_found`` for a conversation this user does not have."""

        def read(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], bool]:
            if (
                conn.execute(
                    "SELECT 1 FROM agent_conversations WHERE user=? AND id=?",
                    (user, conversation_id),
                ).fetchone()
                is None
            ):
                raise PygentError(ErrorCode.NOT_FOUND, f"no conversation {conversation_id!r}")
            bound = before if before is not None else 2**62
            rows = conn.execute(
                "SELECT * FROM agent_messages WHERE user=? AND conversation_id=? AND n<? "
                "ORDER BY n DESC LIMIT ?",
                (user, conversation_id, bound, limit + 1),
            ).fetchall()
            has_more = len(rows) > limit
            return [_message(r) for r in reversed(rows[:limit])], has_more

        return await self.db.run(read)

    async def conversations(
        self, user: str, *, limit: int = 50, query: str = ""
    ) -> tuple[list[dict[str, Any]], bool]:
        """The user's conversations, most recently updated first.

        ``query`` keeps those whose title or any message contains it (case-insensitive,
        literal: ``%`` and ``_`` match themselves).
        """

        def read(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], bool]:
            if query:
                pattern = "%" + _like_escape(query) + "%"
                rows = conn.execute(
                    "SELECT * FROM agent_conversations c WHERE c.user=? AND (c.title LIKE ? "
                    "ESCAPE '\\' OR EXISTS (SELECT 1 FROM agent_messages m WHERE "
                    "m.user=c.user AND m.conversation_id=c.id AND m.content LIKE ? "
                    "ESCAPE '\\')) ORDER BY c.updated DESC LIMIT ?",
                    (user, pattern, pattern, limit + 1),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM agent_conversations WHERE user=? ORDER BY updated DESC LIMIT ?",
                    (user, limit + 1),
                ).fetchall()
            return [_conversation(r) for r in rows[:limit]], len(rows) > limit

        return await self.db.run(read)

    async def rename(self, user: str, conversation_id: str, title: str) -> dict[str, Any]:
        """Set a conversation's title; returns the conversation. ``not_found`` if not the user's."""
        title = " ".join(title.split())[:200]
        if not title:
            raise PygentError(ErrorCode.INVALID, "the title is empty")

        def write(conn: sqlite3.Connection) -> dict[str, Any]:
            with transaction(conn):
                cur = conn.execute(
                    "UPDATE agent_conversations SET title=? WHERE user=? AND id=?",
                    (title, user, conversation_id),
                )
                if cur.rowcount == 0:
                    raise PygentError(ErrorCode.NOT_FOUND, f"no conversation {conversation_id!r}")
                row = conn.execute(
                    "SELECT * FROM agent_conversations WHERE user=? AND id=?",
                    (user, conversation_id),
                ).fetchone()
            return _conversation(row)

        return await self.db.run(write)

    async def delete(self, user: str, conversation_id: str) -> None:
        """Delete a conversation and its messages. ``not_found`` if it is not the user's."""

        def write(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "DELETE FROM agent_messages WHERE user=? AND conversation_id=?",
                    (user, conversation_id),
                )
                cur = conn.execute(
                    "DELETE FROM agent_conversations WHERE user=? AND id=?",
                    (user, conversation_id),
                )
                if cur.rowcount == 0:
                    raise PygentError(ErrorCode.NOT_FOUND, f"no conversation {conversation_id!r}")

        await self.db.run(write)

    async def add_usage(
        self,
        user: str,
        *,
        backend: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost: float | None = None,
        source: str = "chat",
        conversation_id: str = "",
        message_id: str = "",
    ) -> None:
        """Record one answer's tokens (and cost) for ``user`` today."""

        def write(conn: sqlite3.Connection) -> None:
            now = time.time()
            with transaction(conn):
                conn.execute(
                    "INSERT INTO agent_usage (user, day, created, source, conversation_id, "
                    "message_id, backend, model, prompt_tokens, completion_tokens, cost) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        user,
                        utc_day(now),
                        now,
                        source,
                        conversation_id,
                        message_id,
                        backend,
                        model,
                        int(prompt_tokens),
                        int(completion_tokens),
                        cost,
                    ),
                )

        await self.db.run(write)

    async def usage(
        self, user: str, *, day: str | None = None, conversation_id: str | None = None
    ) -> dict[str, Any]:
        """Totals for ``user``: ``today`` (or ``day``), and ``conversation`` when given; each
        ``{answers, prompt_tokens, completion_tokens, total_tokens, cost, by_model}``."""
        day = day or utc_day()

        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            out: dict[str, Any] = {
                "day": day,
                "today": _totals(conn, "user=? AND day=?", (user, day)),
            }
            if conversation_id:
                out["conversation"] = _totals(
                    conn, "user=? AND conversation_id=?", (user, conversation_id)
                )
                out["conversation"]["conversation_id"] = conversation_id
            return out

        return await self.db.run(read)


def _totals(conn: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT backend, model, COUNT(*) AS answers, SUM(prompt_tokens) AS p, "
        "SUM(completion_tokens) AS c, SUM(cost) AS cost, COUNT(cost) AS priced "
        f"FROM agent_usage WHERE {where} GROUP BY backend, model ORDER BY backend, model",
        args,
    ).fetchall()
    by_model = []
    total = {"answers": 0, "prompt_tokens": 0, "completion_tokens": 0}
    cost: float | None = None
    for r in rows:
        entry = {
            "backend": r["backend"],
            "model": r["model"],
            "answers": r["answers"],
            "prompt_tokens": r["p"] or 0,
            "completion_tokens": r["c"] or 0,
            "cost": round(r["cost"], 6) if r["priced"] else None,
        }
        by_model.append(entry)
        total["answers"] += entry["answers"]
        total["prompt_tokens"] += entry["prompt_tokens"]
        total["completion_tokens"] += entry["completion_tokens"]
        if r["priced"]:
            cost = (cost or 0.0) + float(r["cost"])
    return {
        **total,
        "total_tokens": total["prompt_tokens"] + total["completion_tokens"],
        "cost": round(cost, 6) if cost is not None else None,
        "by_model": by_model,
    }


def _window(
    conn: sqlite3.Connection,
    user: str,
    conversation_id: str,
    before: int,
    limit: int,
    max_chars: int,
) -> list[dict[str, Any]]:
    """The newest non-empty messages before number ``before`` within the limits, oldest
    first."""
    rows = conn.execute(
        "SELECT role, content FROM agent_messages WHERE user=? AND conversation_id=? AND n<? "
        "AND content != '' ORDER BY n DESC LIMIT ?",
        (user, conversation_id, before, limit),
    ).fetchall()
    out: list[dict[str, Any]] = []
    used = 0
    for row in rows:
        used += len(row["content"])
        if used > max_chars and out:
            break
        out.append({"role": row["role"], "content": row["content"]})
    out.reverse()
    return out


def _conversation(r: sqlite3.Row) -> dict[str, Any]:
    keys = r.keys()
    return {
        "id": r["id"],
        "title": r["title"],
        "agentId": r["agent_id"],
        "created": _iso(r["created"]),
        "updated": _iso(r["updated"]),
        "message_count": r["message_count"],
        "backend": (r["backend"] or None) if "backend" in keys else None,
        "model": (r["model"] or None) if "model" in keys else None,
    }


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _title(content: str) -> str:
    line = content.strip().splitlines()[0] if content.strip() else ""
    return line[:80]


def _insert(
    conn: sqlite3.Connection,
    user: str,
    conv_id: str,
    msg_id: str,
    role: str,
    content: str,
    agent_id: str,
    status: str,
    metadata: dict[str, Any],
    now: float,
) -> dict[str, Any]:
    row = conn.execute(
        "SELECT message_count FROM agent_conversations WHERE user=? AND id=?", (user, conv_id)
    ).fetchone()
    if row is None:
        raise PygentError(ErrorCode.NOT_FOUND, f"no conversation {conv_id!r}")
    n = row[0] + 1
    conn.execute(
        "INSERT INTO agent_messages (user, conversation_id, n, id, role, content, agent_id, "
        "status, metadata, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            user,
            conv_id,
            n,
            msg_id,
            role,
            content,
            agent_id,
            status,
            json.dumps(metadata, default=str),
            now,
        ),
    )
    conn.execute(
        "UPDATE agent_conversations SET message_count=?, updated=? WHERE user=? AND id=?",
        (n, now, user, conv_id),
    )
    return {
        "id": msg_id,
        "n": n,
        "role": role,
        "content": content,
        "agentId": agent_id,
        "status": status,
        "metadata": metadata,
        "created": _iso(now),
    }


def _message(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "n": row["n"],
        "role": row["role"],
        "content": row["content"],
        "agentId": row["agent_id"],
        "status": row["status"],
        "metadata": json.loads(row["metadata"]),
        "created": _iso(row["created"]),
    }
