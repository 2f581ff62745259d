"""Invite links over HTTP (hosts only): create, list, revoke.

Besides its one QR invite a room may have any number of links, each with a role (listener,
member or co-host), a use limit and an expiry. A link joins through the invite routes like the QR
invite does (``POST /api/invites/{token}/join``, which counts each use atomically). Only hosts
list links: a co-host link is meant for one person. Every change sends the room an
``invite_links_changed`` event without the links, so hosts' pages read the list again.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server import auth, hosting, invites, protocol
from rooms_server.db import invites as invite_queries
from rooms_server.db.models import InviteLink, utcnow
from rooms_server.errors import not_found
from rooms_server.web.deps import current_user, db_of, iso, json, settings_of
from rooms_server.web.groups import admin_group
from rooms_server.web.invites import MAX_USES, no_store, publish
from rooms_server.web.validation import Fields, read_json_object

LABEL_MAX = 80
DEFAULT_LIFETIME_S = 24 * 3600


def link_body(link: InviteLink) -> dict[str, object]:
    return {
        "id": link.id,
        "url": link.url,
        "token": link.token,
        "role": link.role,
        "label": link.label,
        "max_uses": link.max_uses,
        "uses": link.uses,
        "expired_at": iso(link.expired_at),
        "created_at": iso(link.created_at),
    }


async def create_link(request: Request) -> Response:
    """
    summary: Create an invite link with a role, a use limit and an expiry (admin)
    security: [{bearer: []}]
    requestBody:
      content: {application/json: {schema: {$ref: '#/components/schemas/NewInviteLink'}}}
    responses:
      201: {description: Created, content: {application/json: {schema: {$ref: '#/components/schemas/InviteLink'}}}}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    user = await current_user(request)
    settings = settings_of(request)
    body = await read_json_object(request, settings.limits.max_body_bytes)
    fields = Fields(body, {"role", "max_uses", "lifetime_s", "label"})
    role = fields.choice("role", hosting.ROLES)
    max_uses = fields.optional_integer("max_uses", low=1, high=MAX_USES)
    lifetime_s = min(DEFAULT_LIFETIME_S, settings.invite_max_ttl_s)
    if "lifetime_s" in body:
        lifetime_s = fields.integer("lifetime_s", low=invites.MIN_LIFETIME_S, high=settings.invite_max_ttl_s) or 0
    label = fields.text("label", max_len=LABEL_MAX, required=False) if body.get("label") is not None else None
    fields.done()
    now, token = utcnow(), invites.new_token()
    async with db_of(request).write() as session:
        group = await admin_group(session, request.path_params["group_id"], user)
        link = InviteLink(
            id=auth.new_id(),
            group_id=group.id,
            token=token,
            url=invites.invite_url(settings.public_base_url, token),
            role=str(role),
            label=label,
            max_uses=max_uses,
            uses=0,
            created_by_user_id=user.id,
            created_at=now,
            expired_at=now + timedelta(seconds=lifetime_s),
        )
        await invite_queries.add_link(session, link)
    await publish(request, group.id, protocol.invite_links_changed())
    return no_store(json(link_body(link), 201))


async def list_links(request: Request) -> Response:
    """
    summary: The room's invite links that have not expired, newest first (admin)
    security: [{bearer: []}]
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/InviteLinkList'}}}}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    user = await current_user(request)
    async with db_of(request).read() as session:
        group = await admin_group(session, request.path_params["group_id"], user)
        links = await invite_queries.links_of_group(session, group.id, utcnow())
    return no_store(json({"items": [link_body(link) for link in links]}))


async def revoke_link(request: Request) -> Response:
    """
    summary: Revoke an invite link (admin); its URL stops working at once
    security: [{bearer: []}]
    responses:
      204: {description: Revoked}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    user = await current_user(request)
    async with db_of(request).write() as session:
        group = await admin_group(session, request.path_params["group_id"], user)
        if not await invite_queries.delete_link(session, group.id, request.path_params["link_id"]):
            raise not_found("invite_link")
    await publish(request, group.id, protocol.invite_links_changed())
    return Response(status_code=204)


routes = [
    Route("/api/groups/{group_id:str}/invites", create_link, methods=["POST"]),
    Route("/api/groups/{group_id:str}/invites", list_links, methods=["GET"]),
    Route("/api/groups/{group_id:str}/invites/{link_id:str}", revoke_link, methods=["DELETE"]),
]
