"""The one-command start on a bare machine: migrations, a secret file, the URL in the log."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[str], timeout: float = 20) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early: {process.stdout.read() if process.stdout else ''}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bytes(response.read())
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {timeout}s")


def test_cli_serves_on_port_with_sqlite_and_generated_secret(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SECRETS_FILE")}
    env.update(PORT=str(port), HOST="127.0.0.1")
    process = subprocess.Popen(
        [sys.executable, "-m", "rooms_server"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz", process) == b'{"status":"ok"}'
        assert b'"database":"ok"' in wait_for(f"http://127.0.0.1:{port}/readyz", process)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert f"listening on http://127.0.0.1:{port}" in output
    assert (tmp_path / "rooms.db").exists()
    assert (tmp_path / ".rooms-secrets.json").exists()


def test_cli_migrate_is_a_no_op_for_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "rooms_server", "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "rooms.db").exists()
    assert "SQLite database" in result.stderr
