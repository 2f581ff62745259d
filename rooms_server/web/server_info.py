"""What a page asks before anything else: where phones reach this server, what its music services can do."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server.web.deps import json, optional_user
from rooms_server.web.services import sources_of


async def list_sources(request: Request) -> Response:
    """
    summary: What the server can do with each music service (no authentication)
    description: >
      `resolve`: a pasted link gets its title, length and artwork by itself (else the page asks for
      title and length). `search`: `GET /api/services/{service}/search` answers. With a bearer
      token, a service the caller connected counts too.
    responses:
      200:
        description: Per service
        content:
          application/json:
            schema:
              type: object
              properties:
                spotify: {type: object, properties: {resolve: {type: boolean}, search: {type: boolean}}}
                youtube: {type: object, properties: {resolve: {type: boolean}, search: {type: boolean}}}
    """
    sources = sources_of(request)
    status = sources.status()
    user = await optional_user(request)
    if user is not None:
        for service, can in status.items():
            if not can["resolve"] and await sources.can_resolve(service, user.id):
                can["resolve"] = True
                can["search"] = can["search"] or service == "spotify"
    return json(status)


routes = [
    Route("/api/sources", list_sources, methods=["GET"]),
]
