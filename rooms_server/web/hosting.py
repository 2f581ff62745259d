"""Who hosts a room, over HTTP: the failover settings, handing the room over, leaving it.

The host is one admin of the room (``groups.host_user_id``); the other admins are co-hosts. Only
the host hands the room over; a host who leaves hands it over on the way out (to whom they name,
else to ``hosting.heir``), so leaving is never a dead end while anyone else is in the room. Each
change is one compare-and-set on the group (``db.hosting.apply_step``): a failover deciding at the
same moment cannot interleave with it. The rules of failover itself are in rooms_server/hosting.py.
"""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server import host_watch, hosting, protocol
from rooms_server.db import hosting as hosting_queries, queries
from rooms_server.db.models import Group
from rooms_server.db.session import Session
from rooms_server.errors import ApiError, conflict, forbidden, not_found
from rooms_server.hosting import Candidate, Hosting, Step
from rooms_server.web.deps import current_user, db_of, json, live_of, settings_of
from rooms_server.web.groups import admin_group, visible_group
from rooms_server.web.validation import Fields, read_json_object


def is_host(hosting_now: Hosting, user_id: str, role: str, admins: int) -> bool:
    """The room's host; a room from before hosts were recorded has its only admin as host."""
    if hosting_now.host_user_id is not None:
        return hosting_now.host_user_id == user_id
    return role == queries.ADMIN and admins == 1


async def update_hosting(request: Request) -> Response:
    """
    summary: The room's host failover settings (admin)
    description: >
      grace_s: how long the host may be away (no socket open) while others are present before the
      room passes on (0 = never); failover_to_members: with no co-host present, the member present
      who joined first takes over; on_return: hand_back or keep, when the original host comes back.
    security: [{bearer: []}]
    requestBody:
      content: {application/json: {schema: {$ref: '#/components/schemas/HostingChange'}}}
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/Hosting'}}}}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    user = await current_user(request)
    body = await read_json_object(request, settings_of(request).limits.max_body_bytes)
    fields = Fields(body, {"grace_s", "failover_to_members", "on_return"})
    grace_s = fields.integer("grace_s", low=0, high=hosting.MAX_GRACE_S) if "grace_s" in body else None
    to_members = fields.boolean("failover_to_members")
    on_return = fields.choice("on_return", hosting.ON_RETURN) if "on_return" in body else None
    fields.done()
    async with db_of(request).write() as session:
        group = await admin_group(session, request.path_params["group_id"], user)
        now = await hosting_queries.set_settings(
            session, group, grace_s=grace_s, failover_to_members=to_members, on_return=on_return
        )
    step = Step(now, (), "settings")
    await host_watch.announce(live_of(request), group.id, step, previous=now.host_user_id)
    return json(hosting.hosting_to_dict(now))


async def hand_over(request: Request) -> Response:
    """
    summary: Hand the room over to another member (the host only); the old host stays a co-host
    security: [{bearer: []}]
    requestBody:
      content: {application/json: {schema: {$ref: '#/components/schemas/Handover'}}}
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/Hosting'}}}}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      409: {$ref: '#/components/responses/Conflict'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    user = await current_user(request)
    fields = Fields(await read_json_object(request, settings_of(request).limits.max_body_bytes), {"user_id"})
    target_id = fields.text("user_id", max_len=32)
    fields.done()
    async with db_of(request).write() as session:
        group = await admin_group(session, request.path_params["group_id"], user)
        was, members = await _hosting_and_members(session, group)
        if not is_host(was, user.id, queries.ADMIN, await queries.count_admins(session, group.id)):
            raise forbidden("Only the host hands the room over.")
        target = next((m for m in members if m.user_id == target_id), None)
        if target is None:
            raise not_found("member")
        if target.user_id == user.id:
            return json(hosting.hosting_to_dict(was))
        step = hosting.hand_over(was, target)
        await _apply(session, group.id, was, step)
    await host_watch.announce(live_of(request), group.id, step, previous=was.host_user_id)
    return json(hosting.hosting_to_dict(step.hosting))


async def leave_group(request: Request) -> Response:
    """
    summary: Leave a group; the host hands the room over on the way out
    description: >
      A host leaving names who takes the room (`handover_to`, any member of it); without it the room
      goes to the co-host who joined first, else the member, else the listener who joined first.
      Only the last person in a room cannot leave it (409 `last_admin`): they delete it instead.
    security: [{bearer: []}]
    requestBody:
      required: false
      content: {application/json: {schema: {$ref: '#/components/schemas/Leave'}}}
    responses:
      204: {description: Left}
      404: {$ref: '#/components/responses/NotFound'}
      409: {$ref: '#/components/responses/Conflict'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    user = await current_user(request)
    body = await read_json_object(request, settings_of(request).limits.max_body_bytes) if await request.body() else {}
    fields = Fields(body, {"handover_to"})
    handover_to = fields.text("handover_to", max_len=32, required=False)
    fields.done()
    step: Step | None = None
    async with db_of(request).write() as session:
        group, member = await visible_group(session, request.path_params["group_id"], user)
        if member is None:
            raise not_found("membership")
        was, members = await _hosting_and_members(session, group)
        if is_host(was, user.id, member.role, await queries.count_admins(session, group.id)):
            step = hosting.hand_over(was, _heir(members, user.id, handover_to), cause="left")
            await _apply(session, group.id, was, step)
        elif was.away_host_user_id == user.id:  # nobody to hand back to any more
            await _apply(session, group.id, was, Step(replace(was, away_host_user_id=None, stand_in_role=None)))
        await queries.remove_member(session, group.id, user.id)
    if step is not None:
        await host_watch.announce(live_of(request), group.id, step, previous=user.id)
    # The member's open sockets close too: membership is what they were admitted on.
    await live_of(request).publish(group.id, protocol.member_removed(user.id))
    return Response(status_code=204)


def _heir(members: list[Candidate], leaving: str, named: str | None) -> Candidate:
    if named is not None:
        chosen = next((m for m in members if m.user_id == named and named != leaving), None)
        if chosen is None:
            raise not_found("member")
        return chosen
    heir = hosting.heir(members, leaving=leaving)
    if heir is None:
        raise conflict("last_admin", "You are the only one in this room; delete it instead of leaving.")
    return heir


async def _hosting_and_members(session: Session, group: Group) -> tuple[Hosting, list[Candidate]]:
    return hosting_queries.hosting_of(group), await hosting_queries.candidates(session, group.id)


async def _apply(session: Session, group_id: str, was: Hosting, step: Step) -> None:
    if not await hosting_queries.apply_step(session, group_id, was, step):
        raise ApiError(409, "conflict", "Who hosts the room changed meanwhile; try again.")


routes = [
    Route("/api/groups/{group_id:str}/hosting", update_hosting, methods=["PATCH"]),
    Route("/api/groups/{group_id:str}/host", hand_over, methods=["POST"]),
    Route("/api/groups/{group_id:str}/leave", leave_group, methods=["POST"]),
]
