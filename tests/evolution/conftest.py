"""One real Dask ``LocalCluster`` (2 worker processes, 1 thread each) for the evolution tests
that need a cluster, started on first use and shared by the session."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

#: the credential the cluster's workers (only they) hold in their environment
WORKER_KEY_ENV = "PYGENT_DASK_TEST_KEY"
WORKER_KEY = "sk-worker-only-5f1c0de"


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    import distributed

    with distributed.LocalCluster(
        processes=True,
        n_workers=2,
        threads_per_worker=1,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        env={WORKER_KEY_ENV: WORKER_KEY},
    ) as cluster:
        yield cluster
