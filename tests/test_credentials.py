"""Tokens at rest: Fernet encryption, key rotation, development keys, and the raw rows."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from rooms_server.config import ConfigError, Settings
from rooms_server.credentials import Credential, CredentialUnreadable, TokenCipher
from tests.source_helpers import TEST_KEY, rig, source_settings, sqlite_copy


def test_credentials_cipher_round_trip_is_randomised() -> None:
    cipher = TokenCipher([TEST_KEY])
    first, second = cipher.encrypt("BQD-secret-token"), cipher.encrypt("BQD-secret-token")
    assert first != second and first.startswith("gAAAAA") and "BQD" not in first
    assert cipher.decrypt(first) == cipher.decrypt(second) == "BQD-secret-token"


def test_credentials_key_rotation() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = TokenCipher([old]).encrypt("token")
    both = TokenCipher([new, old])
    assert both.decrypt(stored) == "token"
    rotated = both.rotate(stored)
    assert TokenCipher([new]).decrypt(rotated) == "token"
    with pytest.raises(CredentialUnreadable):
        TokenCipher([new]).decrypt(stored)


def test_credentials_tampered_or_foreign_tokens_are_unreadable() -> None:
    cipher = TokenCipher([TEST_KEY])
    token = cipher.encrypt("token")
    for bad in (token[:-4] + "AAAA", "plain-text-token", TokenCipher([Fernet.generate_key().decode()]).encrypt("x")):
        with pytest.raises(CredentialUnreadable):
            cipher.decrypt(bad)


def test_credentials_development_key_is_generated_once(tmp_path: Path) -> None:
    secrets_file = tmp_path / "secrets.json"
    settings = Settings.from_env({"SECRETS_FILE": str(secrets_file)})
    assert settings.token_encryption_keys == ()
    ciphertext = TokenCipher.from_settings(settings).encrypt("token")
    again = TokenCipher.from_settings(Settings.from_env({"SECRETS_FILE": str(secrets_file)}))
    assert again.decrypt(ciphertext) == "token"
    stored = json.loads(secrets_file.read_text())
    assert set(stored) == {"secret_key", "token_encryption_key"}
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600


def test_credentials_production_requires_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TOKEN_ENCRYPTION_KEYS"):
        Settings.from_env({"ROOMS_ENV": "production", "SECRET_KEY": "k", "SECRETS_FILE": str(tmp_path / "s.json")})
    with pytest.raises(ConfigError, match="key 2"):
        Settings.from_env({"ROOMS_ENV": "production", "SECRET_KEY": "k", "TOKEN_ENCRYPTION_KEYS": f"{TEST_KEY},nope"})
    keys = f" {TEST_KEY} , {Fernet.generate_key().decode()}"
    settings = Settings.from_env({"ROOMS_ENV": "production", "SECRET_KEY": "k", "TOKEN_ENCRYPTION_KEYS": keys})
    assert settings.token_encryption_keys[0] == TEST_KEY and len(settings.token_encryption_keys) == 2
    assert TEST_KEY not in repr(settings)
    assert not (tmp_path / "s.json").exists()


def test_credentials_source_settings_from_the_environment() -> None:
    env = {
        "SECRET_KEY": "k",
        "TOKEN_ENCRYPTION_KEYS": TEST_KEY,
        "PUBLIC_BASE_URL": "https://rooms.example",
        "SPOTIFY_CLIENT_ID": "cid",
        "SPOTIFY_CLIENT_SECRET": "csecret",
        "SPOTIFY_API_URL": "http://127.0.0.1:9/v1",
        "SPOTIFY_ACCOUNTS_URL": "http://127.0.0.1:8/",
        "YOUTUBE_API_KEY": "ykey",
        "YOUTUBE_API_URL": "http://127.0.0.1:7",
        "METADATA_CACHE_TTL_S": "60",
        "SOURCE_TIMEOUT_S": "2.5",
    }
    settings = Settings.from_env(env)
    sources = settings.sources
    assert sources.spotify_configured and sources.youtube_configured
    assert sources.spotify_api_url == "http://127.0.0.1:9/v1/" and sources.spotify_accounts_url == "http://127.0.0.1:8"
    assert (sources.metadata_cache_ttl_s, sources.timeout_s) == (60, 2.5)
    assert settings.spotify_redirect_uri == "https://rooms.example/api/services/spotify/callback"
    assert "csecret" not in repr(settings) and "ykey" not in repr(settings)
    for name, value in (("SOURCE_TIMEOUT_S", "0"), ("SPOTIFY_API_URL", "ftp://x"), ("METADATA_CACHE_TTL_S", "x")):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env(env | {name: value})


def test_credentials_repr_hides_tokens() -> None:
    credential = Credential("access-secret", "refresh-secret", None)
    assert "secret" not in repr(credential)


async def test_credentials_store_keeps_no_clear_text(database_url: str) -> None:
    """On SQLite and PostgreSQL: the raw rows hold ciphertexts only; the store gives the tokens back."""
    async with rig(database_url, source_settings()) as r:
        store = r.sources.store
        expiry = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        await store.save(r.user_id, "spotify", Credential("access-s3cr3t1", "refresh-s3cr3t2", expiry))
        await store.save(r.user_id, "youtube", Credential("ya29-s3cr3t3", None, None))
        await store.save(r.user_id, "youtube", Credential("ya29-s3cr3t4", None, None))  # replaces
        assert await store.listing(r.user_id) == [("spotify", expiry), ("youtube", None)]
        assert await store.load(r.user_id, "spotify") == Credential("access-s3cr3t1", "refresh-s3cr3t2", expiry)
        assert await store.load(r.user_id, "youtube") == Credential("ya29-s3cr3t4", None, None)
        async with r.db.read() as session:
            raw = "SELECT service, token, refresh_token, expiry FROM user_credentials ORDER BY service"
            rows = (await session.execute(text(raw))).all()
        dump = repr(rows)
        assert len(rows) == 2 and not any(secret in dump for secret in ("s3cr3t", "access", "refresh", "ya29"))
        assert all(row[1].startswith("gAAAAA") for row in rows) and rows[0][2].startswith("gAAAAA")
        assert rows[1][2] is None and rows[1][3] is None
        assert await store.delete(r.user_id, "youtube") and not await store.delete(r.user_id, "youtube")
        assert [service for service, _ in await store.listing(r.user_id)] == ["spotify"]


async def test_credentials_rotate_all_reencrypts_under_the_new_key(
    tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    async with rig(sqlite_copy(migrated_sqlite_template, tmp_path), source_settings()) as r:
        store = r.sources.store
        await store.save(r.user_id, "spotify", Credential("access", "refresh", None))
        new = Fernet.generate_key().decode()
        store.cipher = TokenCipher([new, TEST_KEY])
        assert await store.rotate_all() == 1
        store.cipher = TokenCipher([new])
        assert await store.load(r.user_id, "spotify") == Credential("access", "refresh", None)
