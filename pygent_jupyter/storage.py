"""The project's one SQLite database (WAL), accessed off the event loop.

All statements run on one dedicated thread, so services never block the loop and never
share a connection across threads. A commit returns only after SQLite has made it durable
(``synchronous=FULL``): what a service acknowledges after ``await db.run(...)`` survives a
kill -9 of the server.

Each component owns its tables and declares them with :meth:`Database.migrate`, a list of
SQL scripts applied once each, in order.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["Database", "DatabaseUnusable", "transaction"]

T = TypeVar("T")


class DatabaseUnusable(RuntimeError):
    """The database file exists but SQLite cannot use it. The message names the file and
    what an operator can do about it."""


class Database:
    """A SQLite file with a single worker thread. Use :meth:`run` from async code.

    Raises :class:`DatabaseUnusable` when the file is corrupt, not a database, or unreadable.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pygent-sqlite")
        self._conn: sqlite3.Connection | None = None
        try:
            self._executor.submit(self._open).result()
        except sqlite3.Error as exc:
            self._executor.shutdown(wait=False)
            raise DatabaseUnusable(
                f"the pygent database {self.path} cannot be used ({exc}). It is corrupt, not "
                f"a SQLite file, or not readable by this user. Stop the server and move it "
                f"aside (mv '{self.path}' '{self.path}.broken') to start with an empty one, "
                "restore it from a backup, or point c.PygentJupyter.db_path elsewhere."
            ) from None

    def _open(self) -> None:
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=True)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions ("
                " component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error:
            conn.close()
            raise
        self._conn = conn

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._conn is not None, "database is closed"
        return fn(self._conn, *args)

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` on the database thread and wait (for non-async code)."""
        return self._executor.submit(self._call, fn, *args).result()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` on the database thread without blocking the loop.

        Use ``with transaction(conn):`` inside ``fn`` for multi-statement writes.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn, *args)

    def migrate(self, component: str, scripts: Sequence[str]) -> int:
        """Apply ``scripts[i]`` for every version i not yet applied to ``component``.

        Blocking; call at service start. Returns the component's schema version.
        """

        def apply(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT version FROM schema_versions WHERE component=?", (component,)
            ).fetchone()
            version = row[0] if row else 0
            for i in range(version, len(scripts)):
                with transaction(conn):
                    for statement in _split(scripts[i]):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_versions(component, version) VALUES(?, ?)"
                        " ON CONFLICT(component) DO UPDATE SET version=excluded.version",
                        (component, i + 1),
                    )
            return len(scripts)

        return self.run_sync(apply)

    def close(self) -> None:
        """Close the connection and stop the thread. Safe to call twice."""
        if self._conn is None:
            return

        def _close(conn: sqlite3.Connection) -> None:
            conn.close()

        self.run_sync(_close)
        self._conn = None
        self._executor.shutdown(wait=True)


class transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
