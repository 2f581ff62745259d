"""Invites over HTTP: create or rotate, read, revoke, QR images, preview and join by token.

One invite per group. Rotating replaces the row in one transaction, so the old URL is dead the
moment the new one exists; revoking deletes it. Removing a member is not a ban: a still-valid
invite lets them back in, and an admin who wants someone out rotates or revokes the invite.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import cast

import anyio.to_thread
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server import invites, ratelimit
from rooms_server.db import invites as invite_queries, queries
from rooms_server.db.models import Group, GroupQR, User, utcnow
from rooms_server.db.session import Database
from rooms_server.engine.base import Engine
from rooms_server.errors import ApiError, forbidden, not_found
from rooms_server.web.deps import current_user, db_of, iso, json, settings_of
from rooms_server.web.groups import admin_group, group_body, visible_group
from rooms_server.web.validation import Fields, query_int, read_json_object

NO_STORE = "no-store"  # an invite is a capability: keep it out of caches


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = NO_STORE
    return response


def _invite_body(invite: GroupQR) -> dict[str, object]:
    return {"url": invite.url, "token": invite.id, "expired_at": iso(invite.expired_at)}


async def _member_group(session: AsyncSession, group_id: str, user: User) -> Group:
    group, member = await visible_group(session, group_id, user)
    if member is None:
        raise forbidden("Only members of the group can see its invite.")
    return group


async def _current_invite(session: AsyncSession, group: Group) -> GroupQR:
    invite = await invite_queries.invite_of_group(session, group.id)
    if invite is None or invite.expired_at <= utcnow():
        raise not_found("invite")
    return invite


async def _valid_invite(session: AsyncSession, token: str) -> tuple[GroupQR, Group]:
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
    async with db_of(request).write() as session:
        group = await admin_group(session, request.path_params["group_id"], user)
        expired_at = utcnow() + timedelta(seconds=lifetime_s)
        invite = await invite_queries.replace_invite(session, group.id, token, url, expired_at)
        if invite is None:
            raise not_found("group")  # deleted while we were here
    return _no_store(json(_invite_body(invite), 201))


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
    return _no_store(json(_invite_body(invite)))


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
        await invite_queries.delete_invite(session, group.id)
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
    group_summary = {"id": group.id, "name": group.name, "is_public": group.is_public}
    return _no_store(json({"group": group_summary, "expired_at": iso(invite.expired_at)}))


async def _join(db: Database, token: str, user: User) -> dict[str, object]:
    async with db.write() as session:
        _, group = await _valid_invite(session, token)
        member = await queries.add_member(session, group.id, user.id)
        count = await queries.count_members(session, group.id)
    return group_body(group, member.role, count)


async def _count_join(request: Request, token: str) -> None:
    """INVITE_JOINS_PER_MINUTE per client IP and per invite (guessing tokens or hammering one)."""
    limit = settings_of(request).limits.invite_joins_per_minute
    engine = cast(Engine, request.state.engine)
    ip = request.client.host if request.client is not None else "unknown"
    if await ratelimit.exceeded(engine, "join-ip", ip, limit) or await ratelimit.exceeded(
        engine, "join-invite", token[:64], limit
    ):
        raise ratelimit.RateLimited("Too many joins; try again in a minute.")


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
    await _count_join(request, token)
    try:
        body = await _join(db_of(request), token, user)
    except IntegrityError:  # the same user joining at the same moment elsewhere: now a member
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
]
