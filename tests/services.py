"""Where the tests find PostgreSQL and Redis, and what they do when one is missing.

Without the service a test skips with the reason, except when CI=true: there it fails loudly, so a
CI machine without PostgreSQL or Redis can never pass by skipping.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=1):
            return True
    except OSError:
        return False


def require(name: str, url: str) -> None:
    if reachable(url):
        return
    message = f"{name} is not reachable at {url}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: this test must run)")
    pytest.skip(message)


def require_present(problem: str | None) -> None:
    """Skip with ``problem`` when something a test needs is missing (None: all there); CI fails instead."""
    if problem is None:
        return
    if in_ci():
        pytest.fail(f"{problem} (CI=true: this test must run)")
    pytest.skip(problem)
