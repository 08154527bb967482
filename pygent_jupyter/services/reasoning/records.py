"""Experiment records: every batch (config, model, backend, per-item results, calls, tokens,
wall time) in a SQLite file, loadable as a pandas DataFrame and exportable as JSON lines.

>>> from pygent_jupyter.services.reasoning import runs      # doctest: +SKIP
>>> runs.to_frame()                   # one row per item, with its batch's columns
>>> runs.to_frame("batches")          # one row per batch
>>> runs.export_jsonl("runs.jsonl")   # one JSON document per batch, items included

The default file is ``$PYGENT_EXPERIMENTS_DB`` or ``<jupyter data dir>/pygent/experiments.db``.
Writes are short transactions, so several notebooks may record into one file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["ExperimentStore", "default_path", "runs"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    name TEXT,
    task TEXT NOT NULL,
    method TEXT NOT NULL,
    prompts TEXT,
    model TEXT,
    backend TEXT,
    config TEXT NOT NULL,
    items INTEGER NOT NULL,
    score REAL,
    calls INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    cost REAL,
    wall_time REAL NOT NULL,
    summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_items (
    batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    idx INTEGER,
    input TEXT NOT NULL,
    score REAL,
    solved INTEGER,
    answer TEXT,
    calls INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    wall_time REAL NOT NULL,
    stop_reason TEXT,
    error TEXT,
    result TEXT NOT NULL,
    PRIMARY KEY (batch_id, position)
);
CREATE INDEX IF NOT EXISTS batches_created ON batches(created);
"""

_BATCH_COLUMNS = (
    "id",
    "created",
    "name",
    "task",
    "method",
    "prompts",
    "model",
    "backend",
    "items",
    "score",
    "calls",
    "tokens",
    "cost",
    "wall_time",
)


def default_path() -> Path:
    """``$PYGENT_EXPERIMENTS_DB`` or ``<jupyter data dir>/pygent/experiments.db``."""
    env = os.environ.get("PYGENT_EXPERIMENTS_DB")
    if env:
        return Path(env).expanduser()
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "pygent" / "experiments.db"


class ExperimentStore:
    """Batches and their items in one SQLite file (created on first use)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._ready: set[Path] = set()  # files whose schema exists (the path may change)

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else default_path()

    def __repr__(self) -> str:
        return f"ExperimentStore({str(self.path)!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            with self._lock:
                if path not in self._ready:
                    conn.executescript(_SCHEMA)
                    self._ready.add(path)
            yield conn
        finally:
            conn.close()

    # -- writing --------------------------------------------------------------------------

    def save(self, batch: Mapping[str, Any]) -> str:
        """Store one batch (``BatchReport.to_record()``); returns its id."""
        batch_id = str(batch.get("id") or uuid.uuid4().hex[:12])
        summary = dict(batch.get("summary", {}))
        results = list(batch.get("results", []))
        with self._connect() as conn, conn:
            conn.execute(
                "INSERT OR REPLACE INTO batches(id, created, name, task, method, prompts, model,"
                " backend, config, items, score, calls, tokens, cost, wall_time, summary)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    batch_id,
                    float(batch.get("created") or time.time()),
                    batch.get("name"),
                    batch["task"],
                    batch["method"],
                    batch.get("prompts"),
                    batch.get("model"),
                    batch.get("backend"),
                    json.dumps(batch.get("config", {}), default=str),
                    len(results),
                    summary.get("score"),
                    int(summary.get("calls", 0)),
                    int(summary.get("tokens", 0)),
                    summary.get("cost"),
                    float(batch.get("wall_time", 0.0)),
                    json.dumps(summary, default=str),
                ),
            )
            conn.execute("DELETE FROM batch_items WHERE batch_id=?", (batch_id,))
            conn.executemany(
                "INSERT INTO batch_items(batch_id, position, idx, input, score, solved, answer,"
                " calls, tokens, wall_time, stop_reason, error, result)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        batch_id,
                        pos,
                        r.get("index"),
                        r.get("input", ""),
                        r.get("score"),
                        None if r.get("solved") is None else int(bool(r["solved"])),
                        r.get("answer"),
                        int(r.get("llm_calls", 0)),
                        int(r.get("tokens", 0)),
                        float(r.get("wall_time", 0.0)),
                        r.get("stop_reason"),
                        r.get("error"),
                        json.dumps(r, default=str),
                    )
                    for pos, r in enumerate(results)
                ],
            )
        return batch_id

    def delete(self, batch_id: str) -> bool:
        with self._connect() as conn, conn:
            conn.execute("DELETE FROM batch_items WHERE batch_id=?", (batch_id,))
            return conn.execute("DELETE FROM batches WHERE id=?", (batch_id,)).rowcount > 0

    # -- reading --------------------------------------------------------------------------

    def batches(self) -> list[dict[str, Any]]:
        """Every batch, oldest first, with its config and summary (no items)."""
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_BATCH_COLUMNS)}, config, summary FROM batches"
                " ORDER BY created, id"
            ).fetchall()
        return [_batch(row) for row in rows]

    def get(self, batch_id: str) -> dict[str, Any] | None:
        """One batch with its ``results`` (the per-item dicts), or None."""
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {', '.join(_BATCH_COLUMNS)}, config, summary FROM batches WHERE id=?",
                (batch_id,),
            ).fetchone()
            if row is None:
                return None
            items = conn.execute(
                "SELECT result FROM batch_items WHERE batch_id=? ORDER BY position", (batch_id,)
            ).fetchall()
        out = _batch(row)
        out["results"] = [json.loads(item["result"]) for item in items]
        return out

    def __len__(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0])

    def to_frame(self, level: str = "items") -> Any:
        """A pandas DataFrame: ``items`` (one row per item, with its batch's task, method,
        model, backend, prompts and config) or ``batches`` (one row per batch)."""
        import pandas as pd  # lazily: pandas is only needed here

        if level not in ("items", "batches"):
            raise ValueError("level is 'items' or 'batches'")
        batches = self.batches()
        if level == "batches":
            return pd.DataFrame(batches, columns=[*_BATCH_COLUMNS, "config", "summary"])
        by_id = {b["id"]: b for b in batches}
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT batch_id, position, idx, input, score, solved, answer, calls, tokens,"
                " wall_time, stop_reason, error FROM batch_items ORDER BY batch_id, position"
            ).fetchall()
        records = []
        for row in rows:
            batch = by_id.get(row["batch_id"], {})
            record = {
                "batch_id": row["batch_id"],
                "created": batch.get("created"),
                "name": batch.get("name"),
                "task": batch.get("task"),
                "method": batch.get("method"),
                "prompts": batch.get("prompts"),
                "model": batch.get("model"),
                "backend": batch.get("backend"),
                **{k: row[k] for k in row.keys() if k != "batch_id"},  # noqa: SIM118 (a Row)
                "config": batch.get("config"),
            }
            record["solved"] = None if row["solved"] is None else bool(row["solved"])
            records.append(record)
        columns = [
            "batch_id", "created", "name", "task", "method", "prompts", "model", "backend",
            "position", "idx", "input", "score", "solved", "answer", "calls", "tokens",
            "wall_time", "stop_reason", "error", "config",
        ]  # fmt: skip
        frame = pd.DataFrame(records, columns=columns)
        return frame.sort_values(["created", "batch_id", "position"], kind="stable").reset_index(
            drop=True
        )

    def export_jsonl(self, path: str | os.PathLike[str]) -> int:
        """Write one JSON document per batch (items included); returns how many."""
        count = 0
        with open(path, "w", encoding="utf-8") as fh:
            for batch in self.batches():
                full = self.get(batch["id"])
                fh.write(json.dumps(full, default=str) + "\n")
                count += 1
        return count


def _batch(row: sqlite3.Row) -> dict[str, Any]:
    out = {k: row[k] for k in _BATCH_COLUMNS}
    out["config"] = json.loads(row["config"])
    out["summary"] = json.loads(row["summary"])
    return out


#: The default store (``$PYGENT_EXPERIMENTS_DB`` or the Jupyter data dir), resolved on use.
runs = ExperimentStore()
