"""Every batch a reasoning test runs is recorded into a throwaway experiments file."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _experiments_db(tmp_path, monkeypatch):
    monkeypatch.setenv("PYGENT_EXPERIMENTS_DB", str(tmp_path / "experiments.db"))
