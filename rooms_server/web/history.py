"""What a group played, over HTTP: its playback history, newest first, a page at a time."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server.db import history
from rooms_server.db.models import PlaybackHistory
from rooms_server.web.deps import current_user, db_of, iso, json
from rooms_server.web.groups import visible_group
from rooms_server.web.validation import query_int

MAX_PAGE = 100


async def read_history(request: Request) -> Response:
    """
    summary: The tracks the group played, newest first (one entry per play that ended)
    description: |
      Members of a private group only (a public group's history is as visible as its playlist).
      `next_before` is the cursor of the next, older page (null on the last one): pass it as
      `before`. `started_at` and `ended_at` are when the play began and stopped (ISO 8601 UTC,
      milliseconds); `played_ms` is the position the play reached; `outcome` how it ended: `ended`
      (played to its end), `skipped` (a host moved on: skip, previous, jump, restart), `voted`
      (skipped by vote), `removed` (removed from the playlist while it played). `track_id` names
      the playlist row while it exists (null once it is gone).
    security: [{bearer: []}]
    parameters:
      - {name: limit, in: query, required: false, schema: {type: integer, minimum: 1, maximum: 100, default: 20}}
      - {name: before, in: query, required: false, schema: {type: integer, minimum: 1}}
    responses:
      200: {description: OK, content: {application/json: {schema: {$ref: '#/components/schemas/HistoryPage'}}}}
      404: {$ref: '#/components/responses/NotFound'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    user = await current_user(request)
    limit = query_int(request, "limit", default=20, low=1, high=MAX_PAGE)
    before = (
        query_int(request, "before", default=0, low=1, high=2**53 - 1) if "before" in request.query_params else None
    )
    async with db_of(request).read() as session:
        group, _ = await visible_group(session, request.path_params["group_id"], user)
        page = await history.page(session, group.id, before_id=before, limit=limit)
        kept = await history.existing_tracks(session, [row.track_id for row, _ in page.entries])
    entries = [entry_body(row, name, row.track_id in kept) for row, name in page.entries]
    return json({"entries": entries, "next_before": page.next_before})


def entry_body(row: PlaybackHistory, added_by_name: str, track_exists: bool) -> dict[str, object]:
    return {
        "id": row.id,
        "track_id": row.track_id if track_exists else None,
        "service": row.service,
        "url": row.external_url,
        "title": row.title,
        "duration_s": row.duration,
        "artwork_url": row.artwork_url,
        "added_by": row.added_by_user_id,
        "added_by_name": added_by_name,
        "started_at": iso(row.started_at),
        "ended_at": iso(row.ended_at),
        "played_ms": row.played_ms,
        "outcome": row.outcome,
    }


routes = [Route("/api/groups/{group_id:str}/history", read_history, methods=["GET"])]
