"""Fixtures of the engine contract suites: ``backend`` runs a test on memory:// and on redis://.

The redis parameter carries the ``redis`` marker and skips when Redis is unreachable, unless
CI=true (then it fails: the suite must run).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.engine.helpers import Backend, open_backend


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    made = await open_backend(request.param)
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
