"""The room's QR invite over HTTP: create or rotate, read, revoke, QR images (using one: joining.py).

One QR invite per group; the invite links (web/invite_links.py) join through the same routes.
Rotating replaces the row in one transaction, so the old URL and code are dead the moment the new
ones exist; revoking deletes them. Every change is announced to the room's sockets
(``invite_changed``), so members' invite cards follow it. Removing a member is not a ban: a
still-valid invite lets them back in, and an admin who wants someone out rotates or revokes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server import failures, invites, protocol
from rooms_server.db import invites as invite_queries, queries
from rooms_server.db.errors import Conflict
from rooms_server.db.models import Group, GroupQR, User, utcnow
from rooms_server.db.session import Database, Session, Transaction
from rooms_server.errors import ApiError, forbidden, not_found
from rooms_server.live import GroupGone
from rooms_server.rooms import Event
from rooms_server.web.deps import current_user, db_of, iso, json, live_of, settings_of
from rooms_server.web.groups import admin_group, visible_group
from rooms_server.web.validation import Fields, query_int, read_json_object

NO_STORE = "no-store"  # an invite is a capability: keep it out of caches
CODE_ATTEMPTS = 5  # fresh codes tried when one is taken (with 887 M codes, one try nearly always does)

log = logging.getLogger(__name__)


def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = NO_STORE
    return response


# The QR invite is the room's open door: every member sees it, so does the big screen. It admits
# listeners or members; a co-host is invited with a link given to that one person.
QR_ROLES = (queries.MEMBER, queries.LISTENER)
MAX_USES = 10_000


def invite_body(invite: GroupQR | invite_queries.QrInvite) -> dict[str, object]:
    """The invite JSON of the HTTP answers, the snapshot and ``invite_changed``."""
    return {
        "url": invite.url,
        "token": invite.id,
        "code": invite.code,
        "expired_at": iso(invite.expired_at),
        "role": invite.role,
        "max_uses": invite.max_uses,
        "uses": invite.uses,
    }


async def live_invite(session: Transaction, group_id: str) -> dict[str, object] | None:
    """The group's invite JSON while it is valid, else None (for the snapshot)."""
    invite = await invite_queries.invite_of_group(session, group_id)
    if invite is None or invite.expired_at <= utcnow():
        return None
    return invite_body(invite)


async def _announce(request: Request, group_id: str, invite: GroupQR | invite_queries.QrInvite | None) -> None:
    await publish(request, group_id, protocol.invite_changed(None if invite is None else invite_body(invite)))


async def publish(request: Request, group_id: str, event: Event) -> None:
    """Tell the room's sockets; the change is already committed, so an outage here only logs."""
    try:
        await live_of(request).publish(group_id, event)
    except GroupGone:
        pass
    except failures.BACKEND_ERRORS as exc:
        log.warning("group %s: %s not published (%s)", group_id, event["type"], type(exc).__name__)


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


async def _current_invite(session: Session, group: Group) -> invite_queries.QrInvite:
    invite = await invite_queries.invite_of_group(session, group.id)
    if invite is None or invite.expired_at <= utcnow():
        raise not_found("invite")
    return invite


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
    fields = Fields(await read_json_object(request, settings.limits.max_body_bytes), {"lifetime_s", "role", "max_uses"})
    lifetime_s = settings.invite_ttl_s
    if "lifetime_s" in fields.body:
        lifetime_s = fields.integer("lifetime_s", low=invites.MIN_LIFETIME_S, high=settings.invite_max_ttl_s) or 0
    role = fields.choice("role", QR_ROLES) if "role" in fields.body else queries.MEMBER
    max_uses = fields.optional_integer("max_uses", low=1, high=MAX_USES)
    fields.done()
    token = invites.new_token()
    new = _NewQR(token, invites.invite_url(settings.public_base_url, token), lifetime_s)
    new.role, new.max_uses = str(role), max_uses
    try:
        invite = await _replace(db_of(request), request.path_params["group_id"], user, new)
    except Conflict:  # another group took the same fresh code at the same moment
        invite = await _replace(db_of(request), request.path_params["group_id"], user, new)
    await _announce(request, invite.group_id, invite)
    return no_store(json(invite_body(invite), 201))


@dataclass
class _NewQR:
    token: str
    url: str
    lifetime_s: int
    role: str = queries.MEMBER
    max_uses: int | None = None


async def _replace(db: Database, group_id: str, user: User, new: _NewQR) -> GroupQR:
    async with db.write() as session:
        group = await admin_group(session, group_id, user)
        expired_at = utcnow() + timedelta(seconds=new.lifetime_s)
        code = await _free_code(session)
        invite = await invite_queries.replace_invite(
            session, group.id, new.token, new.url, expired_at, code, role=new.role, max_uses=new.max_uses
        )
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
    return no_store(json(invite_body(invite)))


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
    return no_store(Response(image, media_type=media_type))


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


routes = [
    Route("/api/groups/{group_id:str}/invite", create_invite, methods=["POST"]),
    Route("/api/groups/{group_id:str}/invite", read_invite, methods=["GET"]),
    Route("/api/groups/{group_id:str}/invite", revoke_invite, methods=["DELETE"]),
    Route("/api/groups/{group_id:str}/invite/qr.png", invite_qr_png, methods=["GET"]),
    Route("/api/groups/{group_id:str}/invite/qr.svg", invite_qr_svg, methods=["GET"]),
]
