"""Using an invite (the QR invite or an invite link), over HTTP: preview it, look up a short code,
join with it — as yourself, or as a new guest in the same request.

Joins and code lookups are rate-limited per client IP and per invite or code
(INVITE_JOINS_PER_MINUTE). A join counts a use of the invite in the transaction that makes the
member, so a limited invite never lets in more than its uses.
"""

from __future__ import annotations

from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server import hosting, invites, protocol, ratelimit
from rooms_server.auth import bearer_token
from rooms_server.db import invites as invite_queries, queries
from rooms_server.db.errors import Conflict
from rooms_server.db.invites import InviteTarget
from rooms_server.db.models import User, utcnow
from rooms_server.db.session import Database, Transaction
from rooms_server.engine.base import Engine
from rooms_server.errors import ApiError, not_found
from rooms_server.web.deps import current_user, db_of, iso, json, settings_of
from rooms_server.web.groups import group_body
from rooms_server.web.invites import no_store, publish
from rooms_server.web.users import NewGuest, guest_name, new_guest


async def _valid_invite(session: Transaction, token: str) -> InviteTarget:
    """The invite (QR or link) of ``token`` and its group: 404 when unknown or revoked, 410 when
    expired or used up."""
    invite = await invite_queries.invite_target(session, token) if invites.is_token(token) else None
    if invite is None:
        raise not_found("invite")
    if invite.expired_at <= utcnow():
        raise _expired()
    if invite.used_up:
        raise _used_up()
    return invite


def _expired() -> ApiError:
    return ApiError(410, "invite_expired", "This invite has expired; ask the host for a new one.")


def _used_up() -> ApiError:
    return ApiError(410, "invite_used_up", "This invite has been used up; ask the host for a new one.")


async def preview_invite(request: Request) -> Response:
    """
    summary: What an invite leads to, before joining (no authentication)
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/InvitePreview'}}}}
      404: {$ref: '#/components/responses/NotFound'}
      410: {$ref: '#/components/responses/Gone'}
    """
    async with db_of(request).read_core() as connection:
        invite = await _valid_invite(connection, request.path_params["token"])
    return no_store(json(_preview_body(invite)))


def _preview_body(invite: InviteTarget) -> dict[str, object]:
    group = invite.group
    group_summary = {"id": group.id, "name": group.name, "is_public": group.is_public}
    uses_left = None if invite.max_uses is None else max(invite.max_uses - invite.uses, 0)
    code = invite.code
    expired_at = iso(invite.expired_at)
    return {"group": group_summary, "code": code, "expired_at": expired_at, "role": invite.role, "uses_left": uses_left}


async def lookup_code(request: Request) -> Response:
    """
    summary: The invite of a short join code (no authentication); then join with its token
    description: >
      Case, spaces and dashes are ignored. Rate-limited like joins (INVITE_JOINS_PER_MINUTE per
      client IP and per code). An unknown, expired or revoked code is 404 `invalid_code`.
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/CodeInvite'}}}}
      404: {$ref: '#/components/responses/NotFound'}
      429: {$ref: '#/components/responses/RateLimited'}
    """
    typed = request.path_params["code"]
    code = invites.normalize_code(typed)
    await _count_attempt(request, "join-code", code or typed[:16])
    invite = None
    if code is not None:
        async with db_of(request).read_core() as connection:
            invite = await invite_queries.invite_target_by_code(connection, code)
    if invite is None or invite.expired_at <= utcnow() or invite.used_up:
        raise ApiError(404, "invalid_code", "No room has this code; check it, or ask the host for a new one.")
    return no_store(json({**_preview_body(invite), "token": invite.id}))


async def _join(db: Database, token: str, user: User) -> tuple[dict[str, object], str | None]:
    return await db.batched.run(lambda tx: _join_in(tx, token, user))


async def _join_in(
    session: Transaction, token: str, user: User, *, new: bool = False
) -> tuple[dict[str, object], str | None]:
    """Join with the invite's role, counting a use; the new role when an existing member's rose.
    ``new``: the user was created in this transaction, so is nobody's member yet.

    A join that changes nothing (already a member with this role or a higher one) counts no use.
    """
    raised = None
    invite = await _valid_invite(session, token)
    group = invite.group
    role = None if new else await queries.role_in(session, group.id, user.id)
    if role is None or hosting.outranks(invite.role, role):
        if not await invite_queries.count_use(session, invite, utcnow()):
            raise _used_up()  # the last use went to another phone a moment ago
        if role is None:
            await queries.insert_member(session, group.id, user.id, invite.role)
        else:
            await queries.set_role(session, group.id, user.id, invite.role)
            raised = invite.role
        role = invite.role
    count = await queries.count_members(session, group.id)
    return group_body(group, role, count), raised


async def _count_attempt(request: Request, bucket: str, key: str) -> None:
    """INVITE_JOINS_PER_MINUTE per client IP (joins and code lookups together) and per invite or
    code (guessing tokens or codes, or hammering one)."""
    limit = settings_of(request).limits.invite_joins_per_minute
    engine = cast(Engine, request.state.engine)
    ip = request.client.host if request.client is not None else "unknown"
    if await ratelimit.exceeded(engine, "join-ip", ip, limit) or await ratelimit.exceeded(engine, bucket, key, limit):
        raise ratelimit.RateLimited("Too many attempts; try again in a minute.")


async def join_by_invite(request: Request) -> Response:
    """
    summary: Join the invite's group with the invite's role — as yourself, or as a new guest in one request
    description: >
      With a bearer token: join as that user (joining again never lowers a role); 200 with the
      group. Without one, with a body `{"name": …}`: create a guest of that name and join, in one
      transaction (nothing is kept when the invite refuses); 201 with the guest's token, as
      `POST /api/users` gives it, and the group — one round trip instead of two for a phone that
      scanned the QR code. Each join that makes a member, or raises a member's role, counts one use
      of the invite, atomically: with one use left and two phones joining at once, exactly one gets
      in and the other gets 410 `invite_used_up`. A join that changes nothing counts no use.
    security: [{bearer: []}, {}]
    requestBody:
      required: false
      content: {application/json: {schema: {$ref: '#/components/schemas/NewUser'}}}
    responses:
      200: {description: Member, content: {application/json: {schema: {$ref: '#/components/schemas/Group'}}}}
      201: {description: Guest, content: {application/json: {schema: {$ref: '#/components/schemas/GuestJoined'}}}}
      401: {$ref: '#/components/responses/Unauthorized'}
      404: {$ref: '#/components/responses/NotFound'}
      410: {$ref: '#/components/responses/Gone'}
      422: {$ref: '#/components/responses/Invalid'}
      429: {$ref: '#/components/responses/RateLimited'}
    """
    token = request.path_params["token"]
    if bearer_token(request.headers.get("authorization")) is None and _has_body(request):
        return await _join_as_new_guest(request, token)
    user = await current_user(request)
    await _count_attempt(request, "join-invite", token[:64])
    try:
        body, raised = await _join(db_of(request), token, user)
    except Conflict:  # the same user joining at the same moment elsewhere: now a member
        body, raised = await _join(db_of(request), token, user)
    if raised is not None:
        await publish(request, str(body["id"]), protocol.role_changed(user.id, raised))
    return json(body)


def _has_body(request: Request) -> bool:
    declared = request.headers.get("content-length")
    return (declared is not None and declared != "0") or "chunked" in request.headers.get("transfer-encoding", "")


async def _join_as_new_guest(request: Request, token: str) -> Response:
    """The guest and their membership in one write (committed with the joins beside it, db/batched.py):
    nothing is kept when the invite refuses."""
    name = await guest_name(request)
    await _count_attempt(request, "join-invite", token[:64])
    ttl_s = settings_of(request).token_ttl_s

    async def create_and_join(tx: Transaction) -> tuple[NewGuest, dict[str, object]]:
        guest = await new_guest(tx, name, ttl_s)
        group, _ = await _join_in(tx, token, guest.user, new=True)
        return guest, group

    guest, group = await db_of(request).batched.run(create_and_join)
    return no_store(json({**guest.body(), "group": group}, 201))


routes = [
    Route("/api/invites/{token:str}", preview_invite, methods=["GET"]),
    Route("/api/invites/{token:str}/join", join_by_invite, methods=["POST"]),
    Route("/api/codes/{code:str}", lookup_code, methods=["GET"]),
]
