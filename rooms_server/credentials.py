"""Service credentials of users, encrypted at rest, and the lock that serialises their refresh.

Tokens are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under ``TOKEN_ENCRYPTION_KEYS``
through a ``MultiFernet``: the first key encrypts, every key decrypts, so a new key is rotated in
by putting it first, re-encrypting (``CredentialStore.rotate_all``), then dropping the old one. In
development, with no key configured, one is generated into ``SECRETS_FILE`` the first time a token
is encrypted or read. Ciphertexts never leave this module decrypted except as a ``Credential``,
whose secrets are kept out of its ``repr``; no endpoint or frame returns them.

Refreshing a token is serialised per user and service across processes with the engine's lock
(a Redis lock with ``redis://``), so two requests never spend the same refresh token twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from rooms_server.config import Settings, load_or_create_secrets
from rooms_server.db import credentials as queries
from rooms_server.db.session import Database
from rooms_server.engine import Engine

log = logging.getLogger(__name__)


class CredentialUnreadable(Exception):
    """A stored token does not decrypt under any configured key (key lost, or data tampered with)."""


class TokenCipher:
    """Fernet encryption of tokens; the keys are resolved on first use."""

    def __init__(self, keys: Sequence[str] = (), *, secrets_file: Path | None = None) -> None:
        self._keys = tuple(keys)
        self._secrets_file = secrets_file
        self._fernet: MultiFernet | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCipher:
        return cls(settings.token_encryption_keys, secrets_file=Path(settings.secrets_file))

    def _multi(self) -> MultiFernet:
        if self._fernet is None:
            keys = self._keys
            if not keys:
                if self._secrets_file is None:
                    raise RuntimeError("no token encryption key configured")
                keys = (load_or_create_secrets(self._secrets_file)["token_encryption_key"],)
                log.info("token encryption key taken from %s (development)", self._secrets_file)
            self._fernet = MultiFernet([Fernet(key.encode("ascii")) for key in keys])
        return self._fernet

    def encrypt(self, plaintext: str) -> str:
        return self._multi().encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._multi().decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise CredentialUnreadable("a stored token cannot be decrypted with the configured keys") from None

    def rotate(self, ciphertext: str) -> str:
        """The same token encrypted under the first key (its timestamp is kept)."""
        try:
            return self._multi().rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise CredentialUnreadable("a stored token cannot be decrypted with the configured keys") from None


@dataclass(frozen=True, slots=True)
class Credential:
    """A decrypted credential; only ``expires_at`` shows in its repr."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime | None

    def expires_within(self, seconds: float) -> bool:
        """True when the access token is expired or will be within ``seconds``."""
        return self.expires_at is not None and self.expires_at - timedelta(seconds=seconds) <= datetime.now(UTC)


def expiry_from_epoch(expires_at: float | int | None) -> datetime | None:
    return None if expires_at is None else datetime.fromtimestamp(expires_at, UTC)


class CredentialStore:
    """Loads, saves, lists and deletes credentials; encrypts on the way in, decrypts on the way out."""

    def __init__(self, db: Database, cipher: TokenCipher, engine: Engine) -> None:
        self.db = db
        self.cipher = cipher
        self.engine = engine

    async def load(self, user_id: str, service: str) -> Credential | None:
        async with self.db.read() as session:
            row = await queries.get(session, user_id, service)
        if row is None:
            return None
        refresh = None if row.refresh_token is None else self.cipher.decrypt(row.refresh_token)
        return Credential(self.cipher.decrypt(row.token), refresh, row.expiry)

    async def has(self, user_id: str, service: str) -> bool:
        async with self.db.read() as session:
            return await queries.exists(session, user_id, service)

    async def save(self, user_id: str, service: str, credential: Credential) -> None:
        refresh = None if credential.refresh_token is None else self.cipher.encrypt(credential.refresh_token)
        async with self.db.write() as session:
            await queries.upsert(
                session,
                user_id,
                service,
                token=self.cipher.encrypt(credential.access_token),
                refresh_token=refresh,
                expiry=credential.expires_at,
            )

    async def delete(self, user_id: str, service: str) -> bool:
        async with self.db.write() as session:
            return await queries.remove(session, user_id, service)

    async def listing(self, user_id: str) -> list[tuple[str, datetime | None]]:
        async with self.db.read() as session:
            return await queries.listing(session, user_id)

    def refresh_lock(self, user_id: str, service: str) -> AbstractAsyncContextManager[None]:
        """One refresh at a time per user and service, across processes (raises EngineBusy on timeout)."""
        return self.engine.locks.lock(f"credential:{service}:{user_id}")

    async def rotate_all(self) -> int:
        """Re-encrypt every stored token under the first key; the number of credentials."""
        async with self.db.write() as session:
            return await queries.reencrypt_all(session, self.cipher.rotate)
