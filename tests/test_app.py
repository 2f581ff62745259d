from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from openapi_spec_validator import validate
from starlette.routing import Route
from starlette.testclient import TestClient

from rooms_server.app import create_app
from rooms_server.config import Settings


def test_health_liveness_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"


def test_health_readiness_fails_without_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db", migrate_on_start=False)
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["database"] == "unavailable"


def test_app_migrates_sqlite_on_start(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    with TestClient(create_app(Settings(database_url=f"sqlite+aiosqlite:///{path}"))) as client:
        assert client.post("/api/users", json={"name": "Ann"}).status_code == 201
    tables = {row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "groups", "alembic_version"} <= tables


def test_app_sqlite_connections_are_tuned(tmp_path: Path) -> None:
    async def pragmas() -> tuple[object, ...]:
        db = client.app_state["db"]
        async with db.read() as session:
            values = []
            for name in ("foreign_keys", "journal_mode", "synchronous", "busy_timeout"):
                values.append((await session.execute(sa.text(f"PRAGMA {name}"))).scalar_one())
            return tuple(values)

    with TestClient(create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db"))) as client:
        assert client.portal is not None
        assert client.portal.call(pragmas) == (1, "wal", 1, 250)  # a reader holds the loop briefly, if ever
        assert client.app_state["db"].busy_timeout_ms == 5000  # how long a writer waits: the default
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/u.db", sqlite_busy_timeout_ms=120)
    with TestClient(create_app(settings)) as client:
        assert client.portal is not None
        assert client.portal.call(pragmas)[3] == 120
        assert client.app_state["db"].busy_timeout_ms == 120


def test_openapi_document_is_valid_and_covers_every_route(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    validate(document)
    expected = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.include_in_schema:
            for method in route.methods or ():
                if method != "HEAD":
                    expected.add((route.path.replace(":str", ""), method.lower()))
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == expected
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation.get("summary"), (path, method)
            assert operation.get("responses"), (path, method)
