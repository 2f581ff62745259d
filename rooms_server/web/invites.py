"""Invites over HTTP: create or rotate, read, revoke, QR images, preview, look up a short code, join.

One invite per group. Rotating replaces the row in one transaction, so the old URL and code are
dead the moment the new ones exist; revoking deletes them. Every change is announced to the
room's sockets (``invite_changed``), so members' invite cards follow it. Removing a member is not a ban: a still-valid
invite lets them back in, and an admin who wants someone out rotates or revokes the invite.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import cast

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server import failures, invites, protocol, ratelimit
from rooms_server.db import invites as invite_queries, queries
from rooms_server.db.errors import Conflict
from rooms_server.db.models import Group, GroupQR, User, utcnow
from rooms_server.db.session import Database, Session
from rooms_server.engine.base import Engine
from rooms_server.errors import ApiError, forbidden, not_found
from rooms_server.live import GroupGone
from rooms_server.web.deps import current_user, db_of, iso, json, live_of, settings_of
from rooms_server.web.groups import admin_group, group_body, visible_group
from rooms_server.web.validation import Fields, query_int, read_json_object

NO_STORE = "no-store"  # an invite is a capability: keep it out of caches
CODE_ATTEMPTS = 5  # fresh codes tried when one is taken (with 887 M codes, one try nearly always does)

log = logging.getLogger(__name__)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = NO_STORE
    return response


def invite_body(invite: GroupQR) -> dict[str, object]:
    """The invite JSON of the HTTP answers, the snapshot and ``invite_changed``."""
    return {"url": invite.url, "token": invite.id, "code": invite.code, "expired_at": iso(invite.expired_at)}


async def live_invite(session: Session, group_id: str) -> dict[str, object] | None:
    """The group's invite JSON while it is valid, else None (for the snapshot)."""
    invite = await invite_queries.invite_of_group(session, group_id)
    if invite is None or invite.expired_at <= utcnow():
        return None
    return invite_body(invite)


async def _announce(request: Request, group_id: str, invite: GroupQR | None) -> None:
    """Tell the room's sockets; the change is already committed, so an outage here only logs."""
    event = protocol.invite_changed(None if invite is None else invite_body(invite))
    try:
        await live_of(request).publish(group_id, event)
    except GroupGone:
        pass
    except failures.BACKEND_ERRORS as exc:
        log.warning("group %s: invite_changed not published (%s)", group_id, type(exc).__name__)


async def _free_code(session: Session) -> str:
    for _ in range(CODE_ATTEMPTS):
        code = invites.new_code()
        if not await invite_queries.code_taken(session, code):
            return code
    raise ApiError(409, "conflict", "Could not find a free join code; try again.")


async def _member_group(session: Session, group_id: str, user: User) -> Group:
    group, member = await visible_group(session, group_id, user)
    if member is None:
        raise forbidden("Only members of the group can see its invite.")
    return group


async def _current_invite(session: Session, group: Group) -> GroupQR:
    invite = await invite_queries.invite_of_group(session, group.id)
    if invite is None or invite.expired_at <= utcnow():
        raise not_found("invite")
    return invite


async def _valid_invite(session: Session, token: str) -> tuple[GroupQR, Group]:
    """The invite of ``token`` and its group: 404 when unknown or revoked, 410 when expired."""
    invite = await invite_queries.invite_by_token(session, token) if invites.is_token(token) else None
    group = await queries.get_group(session, invite.group_id) if invite is not None else None
    if invite is None or group is None:
        raise not_found("invite")
    if invite.expired_at <= utcnow():
        raise ApiError(410, "invite_expired", "This invite has expired; ask the host for a new one.")
    return invite, group


async def create_invite(request: Request) -> Response:
    """
    summary: Create or rotate the group's invite (admin); the previous URL stops working at once
    security: [{bearer: []}]
    requestBody:
      required: false
      content: {application/json: {schema: {$ref: '#/components/schemas/NewInvite'}}}
    responses:
      201: {description: Created, content: {application/json: {schema: {$ref: '#/components/schemas/Invite'}}}}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    user = await current_user(request)
    settings = settings_of(request)
    fields = Fields(await read_json_object(request, settings.limits.max_body_bytes), {"lifetime_s"})
    lifetime_s: int | None = settings.invite_ttl_s
    if "lifetime_s" in fields.body:
        lifetime_s = fields.integer("lifetime_s", low=invites.MIN_LIFETIME_S, high=settings.invite_max_ttl_s)
    fields.done()
    assert lifetime_s is not None
    token = invites.new_token()
    url = invites.invite_url(settings.public_base_url, token)
    try:
        invite = await _replace(db_of(request), request.path_params["group_id"], user, token, url, lifetime_s)
    except Conflict:  # another group took the same fresh code at the same moment
        invite = await _replace(db_of(request), request.path_params["group_id"], user, token, url, lifetime_s)
    await _announce(request, invite.group_id, invite)
    return _no_store(json(invite_body(invite), 201))


async def _replace(db: Database, group_id: str, user: User, token: str, url: str, lifetime_s: int) -> GroupQR:
    async with db.write() as session:
        group = await admin_group(session, group_id, user)
        expired_at = utcnow() + timedelta(seconds=lifetime_s)
        code = await _free_code(session)
        invite = await invite_queries.replace_invite(session, group.id, token, url, expired_at, code)
        if invite is None:
            raise not_found("group")  # deleted while we were here
    return invite


async def read_invite(request: Request) -> Response:
    """
    summary: The group's current invite (members)
    security: [{bearer: []}]
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/Invite'}}}}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    user = await current_user(request)
    async with db_of(request).read() as session:
        group = await _member_group(session, request.path_params["group_id"], user)
        invite = await _current_invite(session, group)
    return _no_store(json(invite_body(invite)))


async def revoke_invite(request: Request) -> Response:
    """
    summary: Revoke the group's invite (admin); revoking when there is none is harmless
    security: [{bearer: []}]
    responses:
      204: {description: Revoked}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    user = await current_user(request)
    async with db_of(request).write() as session:
        group = await admin_group(session, request.path_params["group_id"], user)
        deleted = await invite_queries.delete_invite(session, group.id)
    if deleted:
        await _announce(request, group.id, None)
    return Response(status_code=204)


async def _qr_image(request: Request, render: Callable[[str, int], bytes | str], media_type: str) -> Response:
    user = await current_user(request)
    size = query_int(
        request, "size", default=invites.QR_DEFAULT_SIZE, low=invites.QR_MIN_SIZE, high=invites.QR_MAX_SIZE
    )
    async with db_of(request).read() as session:
        group = await _member_group(session, request.path_params["group_id"], user)
        invite = await _current_invite(session, group)
    image = await anyio.to_thread.run_sync(render, invite.url, size)  # ~10-40 ms of pure Python
    return _no_store(Response(image, media_type=media_type))


async def invite_qr_png(request: Request) -> Response:
    """
    summary: The invite URL as a QR code, PNG (members)
    security: [{bearer: []}]
    parameters:
      - {name: size, in: query, required: false, schema: {type: integer, minimum: 1, maximum: 20, default: 8}}
    responses:
      200:
        description: A standard QR code (not Micro QR), error correction M, quiet zone of 4 modules
        content: {image/png: {schema: {type: string, format: binary}}}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    return await _qr_image(request, invites.qr_png, "image/png")


async def invite_qr_svg(request: Request) -> Response:
    """
    summary: The invite URL as a QR code, SVG (members)
    security: [{bearer: []}]
    parameters:
      - {name: size, in: query, required: false, schema: {type: integer, minimum: 1, maximum: 20, default: 8}}
    responses:
      200:
        description: A standard QR code (not Micro QR), error correction M, quiet zone of 4 modules
        content: {image/svg+xml: {schema: {type: string}}}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    return await _qr_image(request, invites.qr_svg, "image/svg+xml")


async def preview_invite(request: Request) -> Response:
    """
    summary: What an invite leads to, before joining (no authentication)
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/InvitePreview'}}}}
      404: {$ref: '#/components/responses/NotFound'}
      410: {$ref: '#/components/responses/Gone'}
    """
    async with db_of(request).read() as session:
        invite, group = await _valid_invite(session, request.path_params["token"])
    return _no_store(json(_preview_body(invite, group)))


def _preview_body(invite: GroupQR, group: Group) -> dict[str, object]:
    group_summary = {"id": group.id, "name": group.name, "is_public": group.is_public}
    return {"group": group_summary, "code": invite.code, "expired_at": iso(invite.expired_at)}


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
    invite = group = None
    if code is not None:
        async with db_of(request).read() as session:
            invite = await invite_queries.invite_by_code(session, code)
            group = await queries.get_group(session, invite.group_id) if invite is not None else None
    if invite is None or group is None or invite.expired_at <= utcnow():
        raise ApiError(404, "invalid_code", "No room has this code; check it, or ask the host for a new one.")
    return _no_store(json({**_preview_body(invite, group), "token": invite.id}))


async def _join(db: Database, token: str, user: User) -> dict[str, object]:
    async with db.write() as session:
        _, group = await _valid_invite(session, token)
        member = await queries.add_member(session, group.id, user.id)
        count = await queries.count_members(session, group.id)
    return group_body(group, member.role, count)


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
    summary: Join the invite's group as a member (joining twice is harmless and keeps the role)
    security: [{bearer: []}]
    responses:
      200: {description: Member, content: {application/json: {schema: {$ref: '#/components/schemas/Group'}}}}
      401: {$ref: '#/components/responses/Unauthorized'}
      404: {$ref: '#/components/responses/NotFound'}
      410: {$ref: '#/components/responses/Gone'}
      429: {$ref: '#/components/responses/RateLimited'}
    """
    user = await current_user(request)
    token = request.path_params["token"]
    await _count_attempt(request, "join-invite", token[:64])
    try:
        body = await _join(db_of(request), token, user)
    except Conflict:  # the same user joining at the same moment elsewhere: now a member
        body = await _join(db_of(request), token, user)
    return json(body)


routes = [
    Route("/api/groups/{group_id:str}/invite", create_invite, methods=["POST"]),
    Route("/api/groups/{group_id:str}/invite", read_invite, methods=["GET"]),
    Route("/api/groups/{group_id:str}/invite", revoke_invite, methods=["DELETE"]),
    Route("/api/groups/{group_id:str}/invite/qr.png", invite_qr_png, methods=["GET"]),
    Route("/api/groups/{group_id:str}/invite/qr.svg", invite_qr_svg, methods=["GET"]),
    Route("/api/invites/{token:str}", preview_invite, methods=["GET"]),
    Route("/api/invites/{token:str}/join", join_by_invite, methods=["POST"]),
    Route("/api/codes/{code:str}", lookup_code, methods=["GET"]),
]
