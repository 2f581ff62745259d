"""The package installed the ordinary way — a wheel in a fresh venv outside the checkout — runs.

Builds the wheel, installs it (dependencies from the package index, as a user's ``pip install`` or a
PaaS build would), then from directories that hold nothing of the project: ``rooms-server migrate``
against PostgreSQL, and ``rooms-server`` on SQLite in an empty folder, whose pages and assets load.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import plain_dsn
from tests.servers import _NO_PROXY, free_port
from tests.test_cli import wait_for

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (outside the checkout) with the wheel installed; returns its bin directory."""
    work = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--wheel-dir", str(work / "dist"), str(ROOT)], check=True, timeout=300)
    (wheel,) = (work / "dist").glob("rooms_server-*.whl")
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", str(work / "venv")], check=True, timeout=120)
    bin_dir = work / "venv" / "bin"
    install = [str(bin_dir / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet", "install", str(wheel)]
    subprocess.run(install, check=True, timeout=600, cwd=work)
    return bin_dir


def _clean_env(**extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(extra)
    return env


async def _schema_version(url: str) -> tuple[str, int]:
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        version = await conn.fetchval("SELECT version_num FROM alembic_version")
        tables = await conn.fetchval("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        return str(version), int(tables)
    finally:
        await conn.close()


def _head_revision() -> str:
    versions = ROOT / "rooms_server" / "migrations" / "versions"
    return max(path.name.split("_", 1)[0] for path in versions.glob("[0-9]*_*.py"))


def test_wheel_migrates_postgresql_from_any_directory(installed: Path, fresh_postgres_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(installed / "rooms-server"), "migrate"],
        cwd=tmp_path,  # empty: no alembic.ini, no migrations folder
        env=_clean_env(DATABASE_URL=fresh_postgres_url.replace("postgresql+asyncpg://", "postgres://")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "database migrated to head" in result.stderr
    version, tables = asyncio.run(_schema_version(fresh_postgres_url))
    assert version == _head_revision() and tables >= 8


def test_wheel_serves_on_sqlite_in_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(installed / "rooms-server")],
        cwd=tmp_path,
        env=_clean_env(PORT=str(port), HOST="127.0.0.1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for(f"{base}/healthz", process, timeout=60) == b'{"status":"ok"}'
        assert b'"database":"ok"' in wait_for(f"{base}/readyz", process)
        page = wait_for(f"{base}/join/0123456789abcdef0123456789abcdef", process).decode()
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
        assert assets, page
        for asset in assets:
            with _NO_PROXY.open(base + asset, timeout=5) as response:
                assert response.status == 200 and response.read()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert "Traceback" not in output, output
    assert (tmp_path / "rooms.db").exists() and (tmp_path / ".rooms-secrets.json").exists()
