"""Members of a group and their roles; changes reach live sockets at once."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server import hosting, protocol
from rooms_server.db import hosting as hosting_queries, queries
from rooms_server.db.models import Group, Membership
from rooms_server.db.session import Session
from rooms_server.engine.base import Engine
from rooms_server.errors import conflict, not_found
from rooms_server.hosting import Hosting, Step
from rooms_server.web.deps import current_user, db_of, iso, json, live_of, settings_of
from rooms_server.web.groups import admin_group, visible_group
from rooms_server.web.validation import Fields, query_bool, query_int, read_json_object

ROLES = hosting.ROLES
MAX_PAGE = 1000


async def _target(session: Session, group: Group, target_id: str) -> tuple[Membership, Hosting]:
    """The member acted on and the room's hosting; the host is acted on only by handing over."""
    target = await queries.membership(session, group.id, target_id)
    if target is None:
        raise not_found("member")
    was = hosting_queries.hosting_of(group)
    if was.host_user_id == target_id:
        raise conflict("is_host", "The host cannot be demoted or removed; the host hands the room over first.")
    if was.away_host_user_id == target_id:  # a host's own decision ends any claim to hand back
        step = Step(replace(was, away_host_user_id=None, stand_in_role=None))
        await hosting_queries.apply_step(session, group.id, was, step)
    return target, was


async def list_members(request: Request) -> Response:
    """
    summary: Members of a group with their roles and whether they are in the room now, a page at a time
    description: |
      In joining order. `present=true` lists only the members in the room now: the whole of the
      list a room socket's snapshot bounds to SNAPSHOT_MEMBERS. `next_offset` is the `offset` of
      the next page (null on the last one).
    security: [{bearer: []}]
    parameters:
      - {name: present, in: query, required: false, schema: {type: boolean, default: false}}
      - {name: limit, in: query, required: false, schema: {type: integer, minimum: 1, maximum: 1000, default: 1000}}
      - {name: offset, in: query, required: false, schema: {type: integer, minimum: 0, default: 0}}
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/MemberList'}}}}
      404: {$ref: '#/components/responses/NotFound'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    user = await current_user(request)
    only_present = query_bool(request, "present")
    limit = query_int(request, "limit", default=MAX_PAGE, low=1, high=MAX_PAGE)
    offset = query_int(request, "offset", default=0, low=0, high=2**31 - 1)
    async with db_of(request).read() as session:
        group, _ = await visible_group(session, request.path_params["group_id"], user)
        rows = await queries.members(session, group.id)
    present = await cast(Engine, request.state.engine).presence.users(group.id)
    if only_present:
        rows = [(c, u) for c, u in rows if u.id in present]
    page = rows[offset : offset + limit]
    items = [
        {"user_id": u.id, "name": u.name, "role": c.role, "joined_at": iso(c.joined_at), "present": u.id in present}
        for c, u in page
    ]
    next_offset = offset + limit if offset + limit < len(rows) else None
    return json({"items": items, "total": len(rows), "next_offset": next_offset})


async def change_role(request: Request) -> Response:
    """
    summary: Change a member's role (admin) to admin (co-host), member or listener; not the host's
    security: [{bearer: []}]
    requestBody:
      content: {application/json: {schema: {$ref: '#/components/schemas/RoleChange'}}}
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/Member'}}}}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      409: {$ref: '#/components/responses/Conflict'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    user = await current_user(request)
    fields = Fields(await read_json_object(request, settings_of(request).limits.max_body_bytes), {"role"})
    role = fields.choice("role", ROLES)
    fields.done()
    target_id = request.path_params["user_id"]
    async with db_of(request).write() as session:
        group = await admin_group(session, request.path_params["group_id"], user)
        target, _ = await _target(session, group, target_id)
        if (
            target.role == queries.ADMIN
            and role != queries.ADMIN
            and await queries.count_admins(session, group.id) == 1
        ):
            raise conflict("last_admin", "The last admin cannot be demoted; promote another member first.")
        await queries.set_role(session, group.id, target_id, str(role))
    await live_of(request).publish(group.id, protocol.role_changed(target_id, str(role)))
    return json({"user_id": target_id, "role": role, "joined_at": iso(target.joined_at)})


async def remove_member(request: Request) -> Response:
    """
    summary: Remove a member from the group (admin); not the host, nor the last admin
    security: [{bearer: []}]
    responses:
      204: {description: Removed}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      409: {$ref: '#/components/responses/Conflict'}
    """
    user = await current_user(request)
    target_id = request.path_params["user_id"]
    async with db_of(request).write() as session:
        group = await admin_group(session, request.path_params["group_id"], user)
        target, _ = await _target(session, group, target_id)
        if target.role == queries.ADMIN and await queries.count_admins(session, group.id) == 1:
            raise conflict("last_admin", "The last admin cannot be removed; promote another member first.")
        await queries.remove_member(session, group.id, target_id)
    await live_of(request).publish(group.id, protocol.member_removed(target_id))
    return Response(status_code=204)


routes = [
    Route("/api/groups/{group_id:str}/members", list_members, methods=["GET"]),
    Route("/api/groups/{group_id:str}/members/{user_id:str}", change_role, methods=["PATCH"]),
    Route("/api/groups/{group_id:str}/members/{user_id:str}", remove_member, methods=["DELETE"]),
]
