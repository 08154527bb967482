"""Shared vector memory: embedders, FAISS indexes (CPU/GPU), SQLite rows, persistence."""

from __future__ import annotations

from .embedders import Embedder, MiniLMEmbedder, OllamaEmbedder
from .index import IndexConfig, VectorIndex, gpu_count
from .store import MemoryStore, SearchHit, StoreError

__all__ = [
    "Embedder",
    "IndexConfig",
    "MemoryStore",
    "MiniLMEmbedder",
    "OllamaEmbedder",
    "SearchHit",
    "StoreError",
    "VectorIndex",
    "gpu_count",
]
