from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from rooms_server.config import ConfigError, Settings, normalize_database_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql://u@h/db?sslmode=require", "postgresql+asyncpg://u@h/db?ssl=require"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///./rooms.db", "sqlite+aiosqlite:///./rooms.db"),
        ("sqlite:////abs/rooms.db", "sqlite+aiosqlite:////abs/rooms.db"),
    ],
)
def test_config_normalizes_database_urls(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


@pytest.mark.parametrize("url", ["mysql://h/db", "rooms.db"])
def test_config_refuses_other_databases(url: str) -> None:
    with pytest.raises(ConfigError):
        normalize_database_url(url)


def test_config_defaults_for_a_bare_machine(tmp_path: Path) -> None:
    secrets_file = tmp_path / "secrets.json"
    settings = Settings.from_env({"SECRETS_FILE": str(secrets_file)})
    assert settings.database_url == "sqlite+aiosqlite:///./rooms.db"
    assert settings.engine_url == "memory://"
    assert settings.port == 8000 and settings.migrate_on_start
    assert settings.public_base_url == "http://localhost:8000"
    assert settings.allowed_origins == ("http://localhost:8000",)
    assert settings.limits.max_body_bytes == 65536


def test_config_generates_and_keeps_the_secret(tmp_path: Path) -> None:
    secrets_file = tmp_path / "secrets.json"
    first = Settings.from_env({"SECRETS_FILE": str(secrets_file)}).secret_key
    second = Settings.from_env({"SECRETS_FILE": str(secrets_file)}).secret_key
    assert first == second and len(first) > 40
    assert json.loads(secrets_file.read_text())["secret_key"] == first
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600


def test_config_production_requires_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env({"ROOMS_ENV": "production", "SECRETS_FILE": str(tmp_path / "s.json")})
    assert not (tmp_path / "s.json").exists()


def test_config_reads_the_environment() -> None:
    settings = Settings.from_env(
        {
            "SECRET_KEY": "k",
            "PORT": "9000",
            "DATABASE_URL": "postgres://h/db",
            "REDIS_URL": "redis://r:6379/0",
            "PUBLIC_BASE_URL": "https://rooms.example/",
            "MAX_BODY_BYTES": "1000",
        }
    )
    assert settings.port == 9000
    assert settings.database_url == "postgresql+asyncpg://h/db"
    assert not settings.migrate_on_start  # shared databases migrate in the release step
    assert settings.engine_url == "redis://r:6379/0"
    assert settings.public_base_url == "https://rooms.example"
    assert settings.allowed_origins == ("https://rooms.example",)
    assert settings.limits.max_body_bytes == 1000


def test_config_refuses_bad_numbers() -> None:
    with pytest.raises(ConfigError, match="PORT"):
        Settings.from_env({"SECRET_KEY": "k", "PORT": "eighty"})
