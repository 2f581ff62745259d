from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import hypothesis  # noqa: F401 - imported up front: its plugin would import it lazily at session end
import pytest
import redis
from starlette.testclient import TestClient

from rooms_server.app import create_app
from rooms_server.config import Settings
from rooms_server.db import migrate
from tests.helpers import FakeClock, Guest, make_group
from tests.servers import Cluster, PrivateRedisCluster, StartServers
from tests.services import POSTGRES_URL, REDIS_URL, require, require_present
from tests.ws_client import close_all

TABLES = "auth_sessions, groupqr, user_credentials, connections, tracks, playlists, groups, users"


def plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def _create_database(name: str) -> None:
    conn = await asyncpg.connect(plain_dsn(POSTGRES_URL))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(name: str) -> None:
    conn = await asyncpg.connect(plain_dsn(POSTGRES_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _truncate(url: str) -> None:
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        await conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """An empty PostgreSQL database of this test's own."""
    require("PostgreSQL", POSTGRES_URL)
    name = f"rooms_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_database(name))
    try:
        yield with_database(POSTGRES_URL, name)
    finally:
        asyncio.run(_drop_database(name))


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The engine URL of a three-primary Redis Cluster on free ports, started once per session."""
    missing = [tool for tool in ("redis-server", "redis-cli") if shutil.which(tool) is None]
    require_present(f"{' and '.join(missing)} not installed (apt-get install redis-server)" if missing else None)
    cluster = PrivateRedisCluster(tmp_path_factory.mktemp("redis-cluster")).start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def migrated_postgres_url() -> Iterator[str]:
    require("PostgreSQL", POSTGRES_URL)
    name = f"rooms_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_database(name))
    url = with_database(POSTGRES_URL, name)
    asyncio.run(migrate.upgrade(url))
    try:
        yield url
    finally:
        asyncio.run(_drop_database(name))


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "rooms.db"
    asyncio.run(migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite_template: Path) -> str:
    """A migrated, empty database: a copied SQLite file, or the session's PostgreSQL database truncated."""
    if request.param == "sqlite":
        target = tmp_path / "rooms.db"
        shutil.copy(migrated_sqlite_template, target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("migrated_postgres_url")
    asyncio.run(_truncate(url))
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret",
        public_base_url="http://testserver",
        allowed_origins=("http://testserver",),
        migrate_on_start=False,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def start_local(tmp_path: Path, migrated_sqlite_template: Path) -> Iterator[Callable[..., Cluster]]:
    """``start_local(**env)``: one real server process on a SQLite file of its own and the in-process
    engine (no PostgreSQL or Redis needed); stopped at teardown. Its log: ``cluster[0].log()``."""
    clusters: list[Cluster] = []

    def start(**env: str) -> Cluster:
        workdir = tmp_path / f"local-{len(clusters)}"
        workdir.mkdir()
        shutil.copy(migrated_sqlite_template, workdir / "rooms.db")
        cluster = Cluster(f"sqlite+aiosqlite:///{workdir / 'rooms.db'}", "", workdir, env=env)
        clusters.append(cluster)
        return cluster.start(1)

    try:
        yield start
    finally:
        for cluster in clusters:
            cluster.stop()


@pytest.fixture
async def start_servers(tmp_path: Path, fresh_postgres_url: str) -> AsyncIterator[StartServers]:
    """``await start_servers(count, database_url=None, redis_url=None, **env)``: processes on a
    migrated database (this test's own PostgreSQL database unless a URL is given) and this test's
    Redis prefix (on the shared Redis unless a URL is given)."""
    require("Redis", REDIS_URL)
    clusters: list[Cluster] = []

    async def start(
        count: int = 2, database_url: str | None = None, redis_url: str | None = None, **env: str
    ) -> Cluster:
        url = database_url or fresh_postgres_url
        await migrate.upgrade(url)
        cluster = Cluster(url, redis_url or REDIS_URL, tmp_path / f"cluster-{len(clusters)}", env=env)
        clusters.append(cluster)
        await asyncio.to_thread(cluster.start, count)
        return cluster

    try:
        yield start
    finally:
        for cluster in clusters:
            await cluster.close_clients()
            await asyncio.to_thread(cluster.stop)
            for server in cluster.servers:  # shown by pytest when the test failed
                print(f"--- {server.log_path} (last lines)", *server.log().splitlines()[-40:], sep="\n")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def ws_client(request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite_template: Path) -> Iterator[TestClient]:
    """The app on SQLite and each engine, on a FakeClock (``tests.helpers.clock(client)``)."""
    db = tmp_path / "rooms.db"
    shutil.copy(migrated_sqlite_template, db)
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    engine_url = "memory://"
    if request.param == "redis":
        require("Redis", REDIS_URL)
        engine_url = REDIS_URL
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db}",
        engine_url=engine_url,
        redis_prefix=prefix,
        secret_key="k",
        public_base_url="http://testserver",
        allowed_origins=("http://testserver",),
        migrate_on_start=False,
        playback_lead_ms=0,
    )
    with TestClient(create_app(settings, rate_clock=FakeClock())) as client:
        try:
            yield client
        finally:
            close_all()
    if request.param == "redis":
        r = redis.Redis.from_url(REDIS_URL)
        keys = list(r.scan_iter(f"{prefix}*"))
        if keys:
            r.delete(*keys)
        r.close()


@pytest.fixture
def room(ws_client: TestClient) -> tuple[TestClient, Guest, Guest, str]:
    """Ann's public group, which Bob joined."""
    ann, bob = Guest(ws_client, "Ann"), Guest(ws_client, "Bob")
    group_id = make_group(ws_client, ann, "Room")["id"]
    assert ws_client.post(f"/api/groups/{group_id}/join", headers=bob.headers).status_code == 200
    return ws_client, ann, bob, group_id
