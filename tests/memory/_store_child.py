"""Child process for the crash tests: drives a MemoryStore and reports progress on stdout.

Usage: python _store_child.py MODE DIR [pause]
  crash     add batches forever, saving after each; print "acked <first> <last>" after every
            add. With "pause", each fsync of an index temp file first prints "in-fsync" and
            sleeps, so the parent can kill the process in the middle of a save.
  diskfull  add, save, add more, lower RLIMIT_FSIZE, save again; print the outcome as JSON
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

import numpy as np

from pygent_jupyter.services.memory.index import IndexConfig
from pygent_jupyter.services.memory.store import MemoryStore, StoreError
from pygent_jupyter.storage import Database


def vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 384)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main() -> None:
    mode, directory = sys.argv[1], Path(sys.argv[2])
    db = Database(directory / "hub.db")
    store = MemoryStore(db, directory / "memory", IndexConfig(approx_threshold=10**9))
    if mode == "crash":
        if sys.argv[3:] == ["pause"]:
            real_fsync = os.fsync

            def slow_fsync(fd: int) -> None:
                print("in-fsync", flush=True)
                time.sleep(0.5)
                real_fsync(fd)

            os.fsync = slow_fsync
        batch = 0
        while True:
            batch += 1
            n = 2000
            ids = store.add(
                "user:alice",
                "test",
                [f"b{batch}-{i}" for i in range(n)],
                [{"batch": batch}] * n,
                vectors(n, batch),
            )
            print("acked", ids[0], ids[-1], flush=True)
            print("saving", flush=True)
            store.save("user:alice")
            print("saved", flush=True)
    elif mode == "diskfull":
        store.add("user:alice", "test", ["first"] * 100, [{}] * 100, vectors(100, 1))
        path = store.save("user:alice")
        size = path.stat().st_size
        store.add("user:alice", "test", ["second"] * 5000, [{}] * 5000, vectors(5000, 2))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size * 3, size * 3))
        try:
            store.save("user:alice")
            outcome = {"error": None}
        except StoreError as exc:
            outcome = {"error": str(exc), "reason": exc.reason}
        outcome["count"] = store.count("user:alice")
        print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main()
