"""The SQLite database: WAL, migrations, off-loop access, durability across kill -9."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap

from pygent_jupyter.storage import Database, transaction


def test_wal_and_migrations(tmp_path):
    db = Database(tmp_path / "p.db")
    scripts = ["CREATE TABLE a (x INTEGER)", "ALTER TABLE a ADD COLUMN y TEXT"]
    assert db.migrate("demo", scripts) == 2
    assert db.migrate("demo", scripts) == 2  # idempotent
    mode = db.run_sync(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
    assert mode == "wal"
    db.run_sync(lambda c: c.execute("INSERT INTO a VALUES (1, 'one')"))
    db.close()
    db = Database(tmp_path / "p.db")
    assert db.run_sync(lambda c: c.execute("SELECT y FROM a").fetchone()[0]) == "one"
    db.close()


async def test_run_is_off_loop_and_transactions_roll_back(tmp_path):
    db = Database(tmp_path / "p.db")
    db.migrate("t", ["CREATE TABLE t (v INTEGER)"])

    def fail(conn):
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES (1)")
            raise ValueError("boom")

    with contextlib.suppress(ValueError):
        await db.run(fail)
    assert await db.run(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 0
    db.close()


def test_acknowledged_writes_survive_kill_9(tmp_path):
    path = tmp_path / "crash.db"
    child = textwrap.dedent(
        f"""
        import sys, time
        from pygent_jupyter.storage import Database
        db = Database({str(path)!r})
        db.migrate("t", ["CREATE TABLE t (v INTEGER)"])
        for i in range(1000000):
            db.run_sync(lambda c, i=i: c.execute("INSERT INTO t VALUES (?)", (i,)))
            print(i, flush=True)  # acknowledged only after the commit returned
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    acked = -1
    assert proc.stdout is not None
    for line in proc.stdout:
        acked = int(line)
        if acked >= 200:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    db = Database(path)
    count = db.run_sync(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0])
    db.close()
    assert count >= acked + 1
