"""What a page asks before anything else: where phones reach this server, what its music services can do."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server.web.deps import json, optional_user, settings_of
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


async def server_addresses(request: Request) -> Response:
    """
    summary: Where phones reach this server (no authentication)
    description: >
      `base_url` is what invite links and QR codes use; `addresses` every URL the server
      advertises (its LAN addresses first when PUBLIC_BASE_URL is unset, see the README).
    responses:
      200:
        description: OK
        content:
          application/json:
            schema:
              type: object
              properties:
                base_url: {type: string}
                addresses: {type: array, items: {type: string}}
    """
    settings = settings_of(request)
    return json({"base_url": settings.public_base_url, "addresses": list(settings.advertised)})


routes = [
    Route("/api/sources", list_sources, methods=["GET"]),
    Route("/api/server", server_addresses, methods=["GET"]),
]
