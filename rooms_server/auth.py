"""Bearer tokens of guest identities: random, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
import uuid


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    """The CHAR(32) ids of the schema: uuid4 hex."""
    return uuid.uuid4().hex


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        return None
    return token
