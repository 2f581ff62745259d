"""Members of a group and their roles; changes reach live sockets at once."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server import protocol
from rooms_server.db import queries
from rooms_server.errors import conflict, not_found
from rooms_server.web.deps import current_user, db_of, iso, json, live_of, settings_of
from rooms_server.web.groups import admin_group, visible_group
from rooms_server.web.validation import Fields, read_json_object

ROLES = (queries.ADMIN, queries.MEMBER)


async def list_members(request: Request) -> Response:
    """
    summary: Members of a group with their roles
    security: [{bearer: []}]
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/MemberList'}}}}
      404: {$ref: '#/components/responses/NotFound'}
    """
    user = await current_user(request)
    async with db_of(request).read() as session:
        group, _ = await visible_group(session, request.path_params["group_id"], user)
        rows = await queries.members(session, group.id)
    items = [{"user_id": u.id, "name": u.name, "role": c.role, "joined_at": iso(c.joined_at)} for c, u in rows]
    return json({"items": items})


async def change_role(request: Request) -> Response:
    """
    summary: Promote or demote a member (admin); the last admin cannot be demoted
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
        target = await queries.membership(session, group.id, target_id)
        if target is None:
            raise not_found("member")
        if (
            target.role == queries.ADMIN
            and role == queries.MEMBER
            and await queries.count_admins(session, group.id) == 1
        ):
            raise conflict("last_admin", "The last admin cannot be demoted; promote another member first.")
        await queries.set_role(session, group.id, target_id, str(role))
    await live_of(request).publish(group.id, protocol.role_changed(target_id, str(role)))
    return json({"user_id": target_id, "role": role, "joined_at": iso(target.joined_at)})


async def remove_member(request: Request) -> Response:
    """
    summary: Remove a member from the group (admin); the last admin cannot be removed
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
        target = await queries.membership(session, group.id, target_id)
        if target is None:
            raise not_found("member")
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
