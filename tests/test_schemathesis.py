"""Schemathesis against a running server's own /openapi.json: every operation, generated requests
(valid and invalid), with a real bearer token; no 5xx and every response conforms to the document.

Bounded: EXAMPLES per operation, no Hypothesis database, one server process (PostgreSQL + Redis).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from rooms_server.db import migrate
from tests.servers import Cluster
from tests.services import REDIS_URL, require

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
EXAMPLES = 25
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]


@pytest.fixture
async def server(fresh_postgres_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    require("Redis", REDIS_URL)
    await migrate.upgrade(fresh_postgres_url)
    cluster = Cluster(fresh_postgres_url, REDIS_URL, tmp_path / "cluster")
    try:
        await asyncio.to_thread(cluster.start, 1)
        yield cluster
    finally:
        await asyncio.to_thread(cluster.stop)


def _fuzz(base_url: str, token: str, fresh_token: object) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    calls: list[int] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            label = f"{case.operation.method.upper()} {case.operation.path}"
            bearer = fresh_token() if label == "DELETE /api/session" else token  # type: ignore[operator]
            response = case.call(base_url=base_url, headers={"Authorization": f"Bearer {bearer}"})
            calls.append(response.status_code)
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:  # collected, so one run reports every operation's failures
                failures.append(f"{label}: {type(exc).__name__}: {str(exc)[:600]}")

        run()
    assert operations >= 25, operations
    assert len(calls) >= 5 * operations, len(calls)
    print(f"schemathesis: {operations} operations, {len(calls)} requests, statuses {sorted(set(calls))}")
    return failures


async def test_schemathesis_every_operation_answers_without_5xx_and_conforms(server: Cluster) -> None:
    api = server.api(0)
    user = await api.guest("Fuzzer")
    gid = await api.create_group(user, "Fuzzed")
    await api.add_track(user, gid, "song")

    def fresh_token() -> str:
        return str(api.call("POST", "/api/users", {"name": "Throwaway"})["token"])

    failures = await asyncio.to_thread(_fuzz, server[0].base_url, user.token, fresh_token)
    assert failures == [], "\n".join(failures[:20])
    assert "Traceback" not in server[0].log()
