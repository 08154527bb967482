"""Fixtures for the memory tests: a real SQLite file, a store, clustered vectors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pygent_jupyter.services.memory.index import IndexConfig
from pygent_jupyter.services.memory.store import MemoryStore
from pygent_jupyter.storage import Database


def clustered(n: int, dim: int = 384, clusters: int = 64, seed: int = 0) -> np.ndarray:
    """Unit vectors around ``clusters`` random centres: shaped like sentence embeddings
    (neighbours exist), unlike uniform noise on which approximate indexes recall nothing."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, clusters, n)
    x = centres[labels] + rng.standard_normal((n, dim)).astype(np.float32) * (0.9 / np.sqrt(dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "hub.db")
    yield database
    database.close()


@pytest.fixture
def store(db: Database, tmp_path: Path) -> Iterator[MemoryStore]:
    s = MemoryStore(db, tmp_path / "memory", IndexConfig(approx_threshold=10**9))
    yield s
    s.close()
