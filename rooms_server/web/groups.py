"""Groups over HTTP: create, read, rename, delete, list public ones, join (leaving: web/hosting.py).

A private group is invisible to non-members: every endpoint answers 404 for it, never 403, so
its existence does not leak.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server.db import queries
from rooms_server.db.errors import Conflict
from rooms_server.db.invites import GroupSummary
from rooms_server.db.models import LISTENING_MODES, Group, Membership, User
from rooms_server.db.session import Session
from rooms_server.errors import conflict, forbidden, invalid, not_found
from rooms_server.web.deps import current_user, db_of, json, live_of, settings_of
from rooms_server.web.validation import Fields, clean_text, query_int, read_json_object

NAME_MAX = 1000


def group_body(group: Group | GroupSummary, role: str | None, member_count: int | None = None) -> dict[str, object]:
    body: dict[str, object] = {
        "id": group.id,
        "name": group.name,
        "is_public": group.is_public,
        "listening_mode": group.listening_mode,
        "your_role": role,
    }
    if member_count is not None:
        body["member_count"] = member_count
    return body


async def visible_group(session: Session, group_id: str, user: User) -> tuple[Group, Membership | None]:
    """The group and the caller's membership; 404 when it does not exist or is private to others."""
    group = await queries.get_group(session, group_id)
    if group is None:
        raise not_found("group")
    member = await queries.membership(session, group_id, user.id)
    if member is None and not group.is_public:
        raise not_found("group")
    return group, member


async def admin_group(session: Session, group_id: str, user: User) -> Group:
    group, member = await visible_group(session, group_id, user)
    if member is None or member.role != queries.ADMIN:
        raise forbidden("Only an admin of the group can do this.")
    return group


async def create_group(request: Request) -> Response:
    """
    summary: Create a group; the caller becomes its admin and its playlist is created with it
    security: [{bearer: []}]
    requestBody:
      content: {application/json: {schema: {$ref: '#/components/schemas/NewGroup'}}}
    responses:
      201: {description: Created, content: {application/json: {schema: {$ref: '#/components/schemas/Group'}}}}
      409: {$ref: '#/components/responses/Conflict'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    user = await current_user(request)
    body = await read_json_object(request, settings_of(request).limits.max_body_bytes)
    fields = Fields(body, {"name", "is_public", "listening_mode"})
    name = fields.text("name", max_len=NAME_MAX)
    is_public = fields.boolean("is_public", default=False)
    mode = fields.choice("listening_mode", LISTENING_MODES) if "listening_mode" in body else "everyone"
    fields.done()
    assert name is not None and is_public is not None and mode is not None
    try:
        async with db_of(request).write() as session:
            if await queries.group_name_taken(session, name):
                raise _name_taken()
            group = await queries.create_group(session, name, is_public, user.id, mode)
    except Conflict:
        raise _name_taken() from None  # lost a race with another creator of the same name
    return json(group_body(group, queries.ADMIN, 1), 201)


def _name_taken() -> Exception:
    return conflict("group_name_taken", "A group with this name already exists.")


async def list_groups(request: Request) -> Response:
    """
    summary: List and search public groups
    parameters:
      - {name: q, in: query, required: false, schema: {type: string, maxLength: 1000}, description: 'longer is 422'}
      - {name: limit, in: query, required: false, schema: {type: integer, minimum: 1, maximum: 100, default: 20}}
      - {name: offset, in: query, required: false, schema: {type: integer, minimum: 0, default: 0}}
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/GroupPage'}}}}
      422: {$ref: '#/components/responses/Invalid'}
    """
    limit = query_int(request, "limit", default=20, low=1, high=100)
    offset = query_int(request, "offset", default=0, low=0, high=1_000_000)
    raw_search = request.query_params.get("q", "")
    if len(raw_search) > NAME_MAX:  # refused, not cut: a cut search would answer another question
        raise invalid({"q": f"must be at most {NAME_MAX} characters"})
    search = clean_text(raw_search) or None
    async with db_of(request).read() as session:
        rows, total = await queries.list_public_groups(session, search, limit, offset)
    items = [group_body(group, None, count) for group, count in rows]
    return json({"items": items, "total": total, "limit": limit, "offset": offset})


async def read_group(request: Request) -> Response:
    """
    summary: Read a group
    security: [{bearer: []}]
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/Group'}}}}
      404: {$ref: '#/components/responses/NotFound'}
    """
    user = await current_user(request)
    async with db_of(request).read() as session:
        group, member = await visible_group(session, request.path_params["group_id"], user)
        count = await queries.count_members(session, group.id)
    return json(group_body(group, member.role if member else None, count))


async def update_group(request: Request) -> Response:
    """
    summary: Rename a group, change whether it is public, or how it listens (admin)
    description: |
      listening_mode `everyone`: every phone in the room plays it; `speaker`: only the devices a
      host marked as the room's speaker play, the other phones are remotes. Open sockets get
      `group_changed` and `listening_mode_changed`.
    security: [{bearer: []}]
    requestBody:
      content: {application/json: {schema: {$ref: '#/components/schemas/GroupChange'}}}
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/Group'}}}}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      409: {$ref: '#/components/responses/Conflict'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    user = await current_user(request)
    body = await read_json_object(request, settings_of(request).limits.max_body_bytes)
    fields = Fields(body, {"name", "is_public", "listening_mode"})
    name = fields.text("name", max_len=NAME_MAX, required=False)
    is_public = fields.boolean("is_public")
    listening_mode = fields.choice("listening_mode", LISTENING_MODES) if "listening_mode" in body else None
    fields.done()
    try:
        async with db_of(request).write() as session:
            group = await admin_group(session, request.path_params["group_id"], user)
            if name is not None and await queries.group_name_taken(session, name, except_id=group.id):
                raise _name_taken()
            await queries.update_group(session, group, name=name, is_public=is_public)
            count = await queries.count_members(session, group.id)
    except Conflict:
        raise _name_taken() from None
    await live_of(request).update_group(group.id, name=group.name, is_public=group.is_public)
    if listening_mode is not None:
        await live_of(request).set_listening_mode(group.id, listening_mode)  # writes the column under the room's lock
        group.listening_mode = listening_mode
    return json(group_body(group, queries.ADMIN, count))


async def delete_group(request: Request) -> Response:
    """
    summary: Delete a group and everything of it (admin)
    security: [{bearer: []}]
    responses:
      204: {description: Deleted}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    user = await current_user(request)
    async with db_of(request).write() as session:
        group = await admin_group(session, request.path_params["group_id"], user)
        await queries.delete_group(session, group.id)
    await live_of(request).delete_group(group.id)
    return Response(status_code=204)


async def join_group(request: Request) -> Response:
    """
    summary: Join a public group (joining twice is harmless)
    security: [{bearer: []}]
    responses:
      200: {description: Member, content: {application/json: {schema: {$ref: '#/components/schemas/Group'}}}}
      404: {$ref: '#/components/responses/NotFound'}
    """
    user = await current_user(request)
    async with db_of(request).write() as session:
        group, member = await visible_group(session, request.path_params["group_id"], user)
        member = member or await queries.add_member(session, group.id, user.id)
        count = await queries.count_members(session, group.id)
    return json(group_body(group, member.role, count))


routes = [
    Route("/api/groups", create_group, methods=["POST"]),
    Route("/api/groups", list_groups, methods=["GET"]),
    Route("/api/groups/{group_id:str}", read_group, methods=["GET"]),
    Route("/api/groups/{group_id:str}", update_group, methods=["PATCH"]),
    Route("/api/groups/{group_id:str}", delete_group, methods=["DELETE"]),
    Route("/api/groups/{group_id:str}/join", join_group, methods=["POST"]),
]
