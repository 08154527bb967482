"""Evolution runs in the project's SQLite database: config, logbook, genealogy, checkpoint,
result, and the agent variants registered from them.

All functions take a :class:`sqlite3.Connection` and run on the database thread
(``await db.run(fn, …)``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from ...storage import transaction

__all__ = [
    "MIGRATIONS",
    "finish_run",
    "get_run",
    "insert_run",
    "list_runs",
    "load_evaluations",
    "load_variants",
    "mark_interrupted",
    "reopen_run",
    "run_key",
    "save_evaluation",
    "save_generation",
    "save_variant",
]

MIGRATIONS = [
    """
    CREATE TABLE evolution_runs (
        run_id TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        status TEXT NOT NULL,
        config TEXT NOT NULL,
        created REAL NOT NULL,
        finished REAL,
        result TEXT,
        checkpoint TEXT
    );
    CREATE INDEX evolution_runs_user ON evolution_runs(user, created);
    CREATE TABLE evolution_generations (
        run_id TEXT NOT NULL REFERENCES evolution_runs(run_id) ON DELETE CASCADE,
        generation INTEGER NOT NULL,
        row TEXT NOT NULL,
        PRIMARY KEY (run_id, generation)
    );
    CREATE TABLE evolution_individuals (
        run_id TEXT NOT NULL REFERENCES evolution_runs(run_id) ON DELETE CASCADE,
        id INTEGER NOT NULL,
        generation INTEGER NOT NULL,
        parents TEXT NOT NULL,
        op TEXT NOT NULL,
        genome TEXT NOT NULL,
        fitness REAL,
        PRIMARY KEY (run_id, id)
    );
    CREATE TABLE evolution_variants (
        user TEXT NOT NULL,
        name TEXT NOT NULL,
        run_id TEXT NOT NULL,
        genome TEXT NOT NULL,
        few_shot TEXT NOT NULL,
        fitness REAL,
        created REAL NOT NULL,
        PRIMARY KEY (user, name)
    )
    """,
    # evaluations finished since the run's last checkpoint (a journal for resume_evolution)
    """
    CREATE TABLE evolution_evaluations (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES evolution_runs(run_id) ON DELETE CASCADE,
        generation INTEGER NOT NULL,
        genome TEXT NOT NULL,
        result TEXT NOT NULL
    );
    CREATE INDEX evolution_evaluations_run ON evolution_evaluations(run_id, seq)
    """,
]


def run_key(user: str, run_id: str) -> str:
    """The database key of ``user``'s run ``run_id``.

    Run ids are per user (a client may name its run), so two users' runs of the same name are
    different rows and neither learns of the other's. A run id never holds ``/`` (the
    catalog's pattern), so the key is unambiguous. Runs saved before keys were scoped keep
    their bare id as key (:func:`get_run` finds them).
    """
    return f"{hashlib.sha256(user.encode()).hexdigest()[:16]}/{run_id}"


def _run_id(key: str) -> str:
    return key.rpartition("/")[2]


def insert_run(conn: sqlite3.Connection, run_id: str, user: str, config: dict[str, Any]) -> None:
    """Record a new run as ``running`` under ``run_id`` (a :func:`run_key`). Raises
    ``sqlite3.IntegrityError`` if the key exists."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO evolution_runs(run_id, user, status, config, created)"
            " VALUES(?, ?, 'running', ?, ?)",
            (run_id, user, json.dumps(config), time.time()),
        )


def save_generation(
    conn: sqlite3.Connection,
    run_id: str,
    row: dict[str, Any],
    individuals: Iterable[tuple[int, dict[str, Any]]],
    checkpoint: dict[str, Any] | None,
) -> None:
    """One generation's logbook row, its new individuals and (optionally) the checkpoint."""
    with transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO evolution_generations(run_id, generation, row) VALUES(?, ?, ?)",
            (run_id, int(row["generation"]), json.dumps(row)),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO evolution_individuals"
            "(run_id, id, generation, parents, op, genome, fitness) VALUES(?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    run_id,
                    ind_id,
                    node["generation"],
                    json.dumps(node["parents"]),
                    node["op"],
                    json.dumps(node["genome"]),
                    node["fitness"],
                )
                for ind_id, node in individuals
            ],
        )
        if checkpoint is not None:
            conn.execute(
                "UPDATE evolution_runs SET checkpoint=? WHERE run_id=?",
                (json.dumps(checkpoint, allow_nan=False), run_id),
            )
            # the checkpoint's cache holds them now
            conn.execute("DELETE FROM evolution_evaluations WHERE run_id=?", (run_id,))


def save_evaluation(conn: sqlite3.Connection, run_id: str, entry: dict[str, Any]) -> None:
    """One finished evaluation ``{generation, genome, result}``, saved as it arrives."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO evolution_evaluations(run_id, generation, genome, result)"
            " VALUES(?, ?, ?, ?)",
            (
                run_id,
                int(entry["generation"]),
                json.dumps(entry["genome"]),
                json.dumps(entry["result"], allow_nan=False),
            ),
        )


def load_evaluations(conn: sqlite3.Connection, run_id: str) -> list[dict[str, Any]]:
    """The evaluations saved since the run's last checkpoint, oldest first."""
    return [
        {
            "generation": r["generation"],
            "genome": json.loads(r["genome"]),
            "result": json.loads(r["result"]),
        }
        for r in conn.execute(
            "SELECT generation, genome, result FROM evolution_evaluations WHERE run_id=?"
            " ORDER BY seq",
            (run_id,),
        )
    ]


def reopen_run(conn: sqlite3.Connection, run_id: str) -> None:
    """A resumed run is ``running`` again (its result is replaced when it ends)."""
    with transaction(conn):
        conn.execute(
            "UPDATE evolution_runs SET status='running', finished=NULL WHERE run_id=?",
            (run_id,),
        )


def finish_run(conn: sqlite3.Connection, run_id: str, status: str, result: dict[str, Any]) -> None:
    with transaction(conn):
        conn.execute(
            "UPDATE evolution_runs SET status=?, finished=?, result=? WHERE run_id=?",
            (status, time.time(), json.dumps(result), run_id),
        )


def mark_interrupted(conn: sqlite3.Connection) -> int:
    """Runs left ``running`` by a previous server process become ``interrupted``."""
    with transaction(conn):
        cursor = conn.execute(
            "UPDATE evolution_runs SET status='interrupted', finished=? WHERE status='running'",
            (time.time(),),
        )
    return cursor.rowcount


def get_run(conn: sqlite3.Connection, user: str, run_id: str) -> dict[str, Any] | None:
    """``user``'s run ``run_id`` with its logbook and genealogy (``key``: its database key),
    or None."""
    row = conn.execute(
        "SELECT * FROM evolution_runs WHERE run_id=?", (run_key(user, run_id),)
    ).fetchone()
    if row is None:  # saved before run keys were scoped per user
        row = conn.execute(
            "SELECT * FROM evolution_runs WHERE run_id=? AND user=?", (run_id, user)
        ).fetchone()
    if row is None:
        return None
    run_id = row["run_id"]
    logbook = [
        json.loads(r[0])
        for r in conn.execute(
            "SELECT row FROM evolution_generations WHERE run_id=? ORDER BY generation", (run_id,)
        )
    ]
    genealogy = {
        r["id"]: {
            "generation": r["generation"],
            "parents": json.loads(r["parents"]),
            "op": r["op"],
            "genome": json.loads(r["genome"]),
            "fitness": r["fitness"],
        }
        for r in conn.execute(
            "SELECT * FROM evolution_individuals WHERE run_id=? ORDER BY id", (run_id,)
        )
    }
    return {
        "run_id": _run_id(row["run_id"]),
        "key": row["run_id"],
        "user": row["user"],
        "status": row["status"],
        "config": json.loads(row["config"]),
        "created": row["created"],
        "finished": row["finished"],
        "result": json.loads(row["result"]) if row["result"] else None,
        "checkpoint": json.loads(row["checkpoint"]) if row["checkpoint"] else None,
        "logbook": logbook,
        "genealogy": genealogy,
    }


def list_runs(conn: sqlite3.Connection, user: str, limit: int = 50) -> list[dict[str, Any]]:
    """``user``'s runs, newest first, without logbooks."""
    out = []
    for r in conn.execute(
        "SELECT run_id, status, created, finished, result FROM evolution_runs WHERE user=?"
        " ORDER BY created DESC LIMIT ?",
        (user, limit),
    ):
        result = json.loads(r["result"]) if r["result"] else {}
        best = result.get("best") or {}
        out.append(
            {
                "run_id": _run_id(r["run_id"]),
                "status": r["status"],
                "created": r["created"],
                "finished": r["finished"],
                "best_fitness": best.get("fitness"),
                "generations": result.get("generations"),
            }
        )
    return out


def save_variant(
    conn: sqlite3.Connection,
    user: str,
    name: str,
    run_id: str,
    genome: dict[str, Any],
    few_shot: list[tuple[str, str]],
    fitness: float | None,
) -> None:
    with transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO evolution_variants"
            "(user, name, run_id, genome, few_shot, fitness, created) VALUES(?, ?, ?, ?, ?, ?, ?)",
            (user, name, run_id, json.dumps(genome), json.dumps(few_shot), fitness, time.time()),
        )


def load_variants(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [
        {
            "user": r["user"],
            "name": r["name"],
            "run_id": r["run_id"],
            "genome": json.loads(r["genome"]),
            "few_shot": [tuple(x) for x in json.loads(r["few_shot"])],
            "fitness": r["fitness"],
        }
        for r in conn.execute("SELECT * FROM evolution_variants ORDER BY created")
    ]
