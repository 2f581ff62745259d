"""What endpoints take from the lifespan state and the request: settings, database, the caller."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from rooms_server import protocol
from rooms_server.auth import bearer_token, hash_token
from rooms_server.config import Settings
from rooms_server.db import identity
from rooms_server.db.models import User, utcnow
from rooms_server.db.session import Database
from rooms_server.errors import unauthorized
from rooms_server.live import LiveGroups


def settings_of(conn: HTTPConnection) -> Settings:
    return cast(Settings, conn.state.settings)


def db_of(conn: HTTPConnection) -> Database:
    return cast(Database, conn.state.db)


def live_of(conn: HTTPConnection) -> LiveGroups:
    return cast(LiveGroups, conn.state.live)


async def current_user(request: Request) -> User:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise unauthorized()
    user = await user_for_token(db_of(request), token)
    if user is None:
        raise unauthorized("The token is unknown, expired or revoked.")
    return user


async def optional_user(request: Request) -> User | None:
    """The caller when a valid bearer token came, else None (for endpoints anyone may call)."""
    token = bearer_token(request.headers.get("authorization"))
    return None if token is None else await user_for_token(db_of(request), token)


async def user_for_token(db: Database, token: str) -> User | None:
    async with db.read() as session:
        return await identity.user_for_token(session, hash_token(token), utcnow())


def iso(value: datetime) -> str:
    """Every time the API sends is one format: ISO 8601 UTC with milliseconds, ``…T03:04:05.123Z``."""
    return protocol.sent_at(value)


def json(body: object, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)
