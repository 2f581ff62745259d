"""Guest identities: create one, read yourself, log out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server.auth import bearer_token, hash_token, new_token
from rooms_server.db import identity
from rooms_server.db.models import User
from rooms_server.db.session import Transaction
from rooms_server.engine.base import Engine
from rooms_server.failures import BACKEND_ERRORS
from rooms_server.hub import revoked_signal
from rooms_server.web.deps import current_user, db_of, iso, json, live_of, settings_of
from rooms_server.web.validation import Fields, read_json_object

NAME_MAX = 255

log = logging.getLogger(__name__)


async def create_user(request: Request) -> Response:
    """
    summary: Create a guest identity and get its bearer token
    description: The token is shown once; only its SHA-256 is stored. It expires after TOKEN_TTL_DAYS.
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/NewUser'}
    responses:
      201: {description: Created, content: {application/json: {schema: {$ref: '#/components/schemas/Session'}}}}
      422: {$ref: '#/components/responses/Invalid'}
    """
    name = await guest_name(request)
    ttl_s = settings_of(request).token_ttl_s
    guest = await db_of(request).batched.run(lambda tx: new_guest(tx, name, ttl_s))
    return json(guest.body(), 201)


@dataclass(frozen=True, slots=True)
class NewGuest:
    """A guest just created, with the bearer token shown to them once."""

    user: User
    token: str
    expires_at: datetime

    def body(self) -> dict[str, object]:
        return {
            "user": {"id": self.user.id, "name": self.user.name},
            "token": self.token,
            "expires_at": iso(self.expires_at),
        }


async def guest_name(request: Request) -> str:
    """The ``{"name": …}`` body of a request that creates a guest (422 when it is not one)."""
    fields = Fields(await read_json_object(request, settings_of(request).limits.max_body_bytes), {"name"})
    name = fields.text("name", max_len=NAME_MAX)
    fields.done()
    assert name is not None
    return name


async def new_guest(session: Transaction, name: str, ttl_s: int) -> NewGuest:
    """A guest and their session, in the caller's transaction (only the token's SHA-256 is stored)."""
    token = new_token()
    user = await identity.create_user(session, name)
    expires_at = await identity.create_auth_session(session, user.id, hash_token(token), ttl_s)
    return NewGuest(user, token, expires_at)


async def me(request: Request) -> Response:
    """
    summary: The caller and the groups they belong to
    security: [{bearer: []}]
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/Me'}}}}
      401: {$ref: '#/components/responses/Unauthorized'}
    """
    user = await current_user(request)
    async with db_of(request).read() as session:
        groups = await identity.groups_of_user(session, user.id)
    items = [{"id": g.id, "name": g.name, "is_public": g.is_public, "role": role} for g, role in groups]
    return json({"id": user.id, "name": user.name, "groups": items})


async def logout(request: Request) -> Response:
    """
    summary: Revoke the caller's token (log out)
    security: [{bearer: []}]
    responses:
      204: {description: Revoked}
      401: {$ref: '#/components/responses/Unauthorized'}
    """
    await current_user(request)
    token = bearer_token(request.headers.get("authorization"))
    assert token is not None
    token_hash = hash_token(token)
    async with db_of(request).write() as session:
        await identity.revoke_auth_session(session, token_hash)
    await end_sockets_of(live_of(request).engine, token_hash)
    return Response(status_code=204)


async def end_sockets_of(engine: Engine, token_hash: str) -> None:
    """Every process closes the token's sockets at once; if the signal is lost (the engine is down),
    the periodic session check (presence.SESSION_CHECK_S) still does within seconds."""
    try:
        await engine.broker.broadcast(revoked_signal(token_hash))
    except BACKEND_ERRORS as exc:
        log.warning("revocation not broadcast (%s); sockets close at the next session check", type(exc).__name__)


routes = [
    Route("/api/users", create_user, methods=["POST"]),
    Route("/api/me", me, methods=["GET"]),
    Route("/api/session", logout, methods=["DELETE"]),
]
