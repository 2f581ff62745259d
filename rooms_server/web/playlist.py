"""The group's playlist over HTTP: read it, add a track (which reaches the room's sockets too)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server import protocol
from rooms_server.commands import Commands, SourceRefused
from rooms_server.db import queries
from rooms_server.errors import ApiError, not_found
from rooms_server.room_state import Actor
from rooms_server.rooms import RoomError
from rooms_server.web.deps import current_user, db_of, iso, json, live_of, settings_of
from rooms_server.web.groups import visible_group
from rooms_server.web.services import SourceApiError
from rooms_server.web.validation import Fields, read_json_object


async def read_playlist(request: Request) -> Response:
    """
    summary: The group's playlist with its tracks in order and the current track index
    security: [{bearer: []}]
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/Playlist'}}}}
      404: {$ref: '#/components/responses/NotFound'}
    """
    user = await current_user(request)
    async with db_of(request).read() as session:
        group, _ = await visible_group(session, request.path_params["group_id"], user)
        playlist = await queries.playlist_of(session, group.id)
        if playlist is None:
            raise not_found("playlist")
        rows = await queries.tracks_of(session, playlist.id)
    tracks = [
        {
            "id": t.id,
            "position": index,
            "service": t.service,
            "title": t.title,
            "duration": t.duration,
            "external_url": t.external_url,
            "added_by": {"id": t.added_by_user_id, "name": name},
            "added_at": iso(t.added_at),
            "artwork_url": t.artwork_url,
        }
        for index, (t, name) in enumerate(rows)
    ]
    body = {
        "id": playlist.id,
        "group_id": group.id,
        "current_track_index": playlist.current_track_index,
        "version": playlist.version,
        "tracks": tracks,
    }
    return json(body)


async def add_track(request: Request) -> Response:
    """
    summary: Add a track to the playlist (members); the room sees it live
    description: |
      The server resolves the link's title and duration through the service (the caller's own
      connection, else the server's app credentials). title and duration are only used, and then
      required, when nobody holds credentials for the service. Link and provider errors have their
      own codes (see docs/SOURCES.md); rate limits answer 429 with Retry-After. The room's queue
      settings decide where it goes (the end, or the adder's fair turn) and may refuse a member:
      403 `hosts_only`, 409 `member_queue_limit`, `track_too_long`, `recently_played`.
    security: [{bearer: []}]
    requestBody:
      content: {application/json: {schema: {$ref: '#/components/schemas/NewTrack'}}}
    responses:
      201: {description: Added, content: {application/json: {schema: {$ref: '#/components/schemas/Added'}}}}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      409: {$ref: '#/components/responses/Conflict'}
      422: {$ref: '#/components/responses/Invalid'}
      429:
        description: The service is rate limiting (Retry-After)
        content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}
      502:
        description: The service refused or failed
        content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}
      503:
        description: The service is unreachable
        content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}
    """
    user = await current_user(request)
    body = await read_json_object(request, settings_of(request).limits.max_body_bytes)
    fields = Fields(body, {"service", "url", "title", "duration"})
    service = fields.choice("service", tuple(sorted(protocol.SERVICES)))
    url = fields.text("url", max_len=protocol.MAX_URL_CHARS)
    title = fields.text("title", max_len=protocol.MAX_TITLE_CHARS, required=False)
    duration = fields.integer("duration", low=1, high=protocol.MAX_DURATION_S) if "duration" in body else None
    fields.done()
    assert service is not None and url is not None
    async with db_of(request).read() as session:
        group, member = await visible_group(session, request.path_params["group_id"], user)
    if member is None:
        raise ApiError(403, "forbidden", "Join the group to add tracks.")
    # The socket's command path, with the same frame: one resolver, one transition, one write.
    actor = Actor(user.id, user.name, member.role)
    frame = protocol.Add(service=service, url=url, title=title, duration=duration)
    try:
        seq = await Commands(live_of(request), group.id, actor).execute(frame)
    except RoomError as exc:
        raise command_error(exc) from None
    return json({"seq": seq}, 201)


def command_error(exc: RoomError) -> ApiError:
    """A refused command over HTTP: a link or provider failure keeps its own status, a curated room's
    refusal of a guest is 403, the room's other refusals are 409."""
    if isinstance(exc, SourceRefused):
        return SourceApiError(exc.source)
    if exc.code in ("hosts_only", "forbidden", "listeners_cannot_add"):
        return ApiError(403, exc.code, exc.message)
    return ApiError(409, exc.code, exc.message)


routes = [
    Route("/api/groups/{group_id:str}/playlist", read_playlist, methods=["GET"]),
    Route("/api/groups/{group_id:str}/tracks", add_track, methods=["POST"]),
]
