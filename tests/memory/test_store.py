"""MemoryStore on a real SQLite file and real FAISS: CRUD, filters, persistence, crashes."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pygent_jupyter.services.memory.index import IndexConfig, VectorIndex
from pygent_jupyter.services.memory.store import MemoryStore, StoreError, atomic_write, build_filter
from pygent_jupyter.storage import Database

from .conftest import clustered

CHILD = Path(__file__).with_name("_store_child.py")
CONFIG = IndexConfig(approx_threshold=10**9)


def fill(
    store: MemoryStore, n: int = 300, ns: str = "user:alice", seed: int = 0
) -> tuple[list[int], np.ndarray]:
    x = clustered(n, seed=seed)
    metas = [
        {"i": i, "even": i % 2 == 0, "tag": ["a", "b", "c"][i % 3], "src": {"kind": "doc"}}
        for i in range(n)
    ]
    ids = store.add(ns, "test", [f"text {i}" for i in range(n)], metas, x)
    return ids, x


def test_add_search_returns_text_metadata_and_scores(store: MemoryStore) -> None:
    ids, x = fill(store)
    assert ids == sorted(ids) and len(set(ids)) == 300
    hits, timings = store.search(["user:alice"], x[7], 3)
    assert hits[0].id == ids[7] and hits[0].text == "text 7"
    assert hits[0].metadata["i"] == 7 and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert timings["method"] == "exact-numpy" and timings["search_ms"] >= 0
    assert store.count("user:alice") == 300


def test_metadata_filter_restricts_results(store: MemoryStore) -> None:
    _, x = fill(store)
    hits, timings = store.search(["user:alice"], x[7], 20, {"even": True, "tag": ["a", "b"]})
    assert timings["method"] == "exact-subset"
    assert len(hits) == 20
    assert all(h.metadata["even"] and h.metadata["tag"] in ("a", "b") for h in hits)
    nested, _ = store.search(["user:alice"], x[7], 5, {"src.kind": "doc", "i": 8})
    assert [h.metadata["i"] for h in nested] == [8]
    none, _ = store.search(["user:alice"], x[7], 5, {"tag": "zzz"})
    assert none == []


def test_build_filter_rejects_injection_and_nested_values() -> None:
    with pytest.raises(ValueError, match="dotted path"):
        build_filter({"a') OR 1=1 --": 1})
    with pytest.raises(ValueError, match="scalars"):
        build_filter({"a": {"$gt": 1}})


def test_namespaces_are_separate(store: MemoryStore) -> None:
    fill(store, 50, "user:alice")
    _, xb = fill(store, 50, "user:bob", seed=1)
    hits, _ = store.search(["user:alice"], xb[3], 50)
    assert all(h.namespace == "user:alice" for h in hits)
    assert (
        store.delete(["user:alice"], [h.id for h in store.search(["user:bob"], xb[3], 5)[0]]) == {}
    )
    assert store.count("user:bob") == 50


def test_add_with_other_dimension_or_embedder_is_refused(store: MemoryStore) -> None:
    fill(store, 10)
    with pytest.raises(ValueError, match="384-dim"):
        store.add("user:alice", "test", ["x"], [{}], np.ones((1, 768), dtype=np.float32))
    with pytest.raises(ValueError, match="from test"):
        store.add("user:alice", "other", ["x"], [{}], clustered(1))


def test_delete_removes_rows_and_vectors(store: MemoryStore) -> None:
    ids, x = fill(store, 100)
    assert store.delete(["user:alice"], [ids[5], ids[6], 10**9]) == {"user:alice": [ids[5], ids[6]]}
    assert store.count("user:alice") == 98
    hits, _ = store.search(["user:alice"], x[5], 5)
    assert ids[5] not in [h.id for h in hits]
    assert store.get([ids[5], ids[7]]).keys() == {ids[7]}


def test_saved_index_is_loaded_on_restart(db: Database, tmp_path: Path) -> None:
    store = MemoryStore(db, tmp_path / "memory", CONFIG)
    ids, x = fill(store)
    assert store.flush() == ["user:alice"]
    reopened = MemoryStore(db, tmp_path / "memory", CONFIG)
    assert reopened.open_all() == {"user:alice": "file"}
    assert reopened.search(["user:alice"], x[1], 1)[0][0].id == ids[1]


def test_unsaved_changes_are_rebuilt_from_sqlite(db: Database, tmp_path: Path) -> None:
    store = MemoryStore(db, tmp_path / "memory", CONFIG)
    ids, x = fill(store)
    store.flush()
    more = store.add("user:alice", "test", ["late"], [{"late": True}], clustered(1, seed=99))
    store.delete(["user:alice"], [ids[0]])
    # no save: the file on disk is one generation behind SQLite ("crash" here)
    reopened = MemoryStore(db, tmp_path / "memory", CONFIG)
    assert reopened.open_all() == {"user:alice": "rebuilt"}
    assert reopened.count("user:alice") == 300
    hits, _ = reopened.search(["user:alice"], clustered(1, seed=99)[0], 1)
    assert hits[0].id == more[0]
    assert ids[0] not in [h.id for h in reopened.search(["user:alice"], x[0], 3)[0]]


def test_corrupt_index_file_is_rebuilt(db: Database, tmp_path: Path) -> None:
    store = MemoryStore(db, tmp_path / "memory", CONFIG)
    fill(store)
    path = store.save("user:alice")
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 2]))
    reopened = MemoryStore(db, tmp_path / "memory", CONFIG)
    assert reopened.open_all() == {"user:alice": "rebuilt"}
    assert reopened.count("user:alice") == 300


def test_failed_write_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "x.index"
    atomic_write(path, [b"old"])

    def chunks_then_enospc() -> Iterator[bytes]:
        yield b"new"
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(StoreError) as info:
        atomic_write(path, chunks_then_enospc())
    assert info.value.reason == "disk_full"
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.index"]


def test_disk_full_during_save_raises_and_keeps_previous_index(tmp_path: Path) -> None:
    """A real write failure (RLIMIT_FSIZE -> EFBIG, like ENOSPC) in a child process."""
    out = subprocess.run(
        [sys.executable, str(CHILD), "diskfull", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    outcome = json.loads(out.stdout.strip().splitlines()[-1])
    assert outcome["reason"] == "disk_full" and "previous index file is intact" in outcome["error"]
    assert outcome["count"] == 5100
    files = list((tmp_path / "memory").iterdir())
    assert [f.name for f in files] == ["user%3aalice.index"]  # temp file cleaned up
    meta, _ = VectorIndex.read_header(files[0].read_bytes())
    assert meta["count"] == 100  # the previous, complete file
    with _open_db(tmp_path) as db:
        store = MemoryStore(db, tmp_path / "memory", CONFIG)
        assert store.open_all() == {"user:alice": "rebuilt"}
        assert store.count("user:alice") == 5100


class _open_db:
    def __init__(self, tmp_path: Path) -> None:
        self.db = Database(tmp_path / "hub.db")

    def __enter__(self) -> Database:
        return self.db

    def __exit__(self, *exc: object) -> None:
        self.db.close()


def _run_and_kill(
    directory: Path, *, pause: bool, kill_on: str, count: int, delay: float = 0.0
) -> list[tuple[int, int]]:
    """Start the crash child, SIGKILL it at the ``count``-th ``kill_on`` line; return acks."""
    args = [sys.executable, "-u", str(CHILD), "crash", str(directory)] + (
        ["pause"] if pause else []
    )
    child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    acked: list[tuple[int, int]] = []
    seen = 0
    for line in child.stdout:
        if line.startswith("acked"):
            _, first, last = line.split()
            acked.append((int(first), int(last)))
        elif line.startswith(kill_on):
            seen += 1
            if seen == count:
                time.sleep(delay)
                os.kill(child.pid, signal.SIGKILL)
                break
    child.wait(timeout=30)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return acked


def _check_store(directory: Path, acked: list[tuple[int, int]]) -> str:
    with _open_db(directory) as db:
        store = MemoryStore(db, directory / "memory", CONFIG)
        how = store.open_all()["user:alice"]
        assert not list((directory / "memory").glob(".*.tmp"))  # leftovers removed
        expected = sum(last - first + 1 for first, last in acked)
        assert store.count("user:alice") >= expected
        present = store.get([first for first, _ in acked] + [last for _, last in acked])
        assert len(present) == 2 * len(acked)
        for f in (directory / "memory").glob("*.index"):
            VectorIndex.read_header(f.read_bytes())  # a complete file, never a torn one
        return how


def test_kill_9_in_the_middle_of_a_save_leaves_a_loadable_store(tmp_path: Path) -> None:
    """Killed while the temp file is written but not yet renamed (deterministic)."""
    # two fsyncs per save (temp file, then directory): the 5th is the 3rd save's temp file
    acked = _run_and_kill(tmp_path, pause=True, kill_on="in-fsync", count=5)
    assert len(list((tmp_path / "memory").glob(".*.tmp"))) == 1  # really mid-save
    meta, _ = VectorIndex.read_header((tmp_path / "memory" / "user%3aalice.index").read_bytes())
    assert meta["count"] == 4000  # the previous save survived intact
    assert _check_store(tmp_path, acked) == "rebuilt"


@pytest.mark.parametrize("delay", [0.0, 0.003, 0.01])
def test_kill_9_at_random_points_loses_nothing_acknowledged(tmp_path: Path, delay: float) -> None:
    acked = _run_and_kill(tmp_path, pause=False, kill_on="saving", count=3, delay=delay)
    assert _check_store(tmp_path, acked) in ("file", "rebuilt")
