"""Fixtures of the engine contract suites: ``backend`` runs a test on memory://, on redis:// and on a
three-primary Redis Cluster (redis+cluster://, started once per session on free ports).

The Redis parameters carry the ``redis`` marker and skip when Redis (or redis-server, for the
cluster) is missing, unless CI=true (then they fail: the suite must run).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.engine.helpers import Backend, open_backend


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-cluster", marks=pytest.mark.redis),
    ]
)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    url = request.getfixturevalue("redis_cluster_url") if request.param == "redis-cluster" else None
    made = await open_backend(request.param, url)
    try:
        yield made
    finally:
        await made.aclose()


@pytest.fixture
async def redis_backend() -> AsyncIterator[Backend]:
    made = await open_backend("redis")
    try:
        yield made
    finally:
        await made.aclose()
