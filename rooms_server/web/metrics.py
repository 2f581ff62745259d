"""``/metrics``: this process's Prometheus metrics, behind a bearer token.

The route exists only when ``METRICS_TOKEN`` is set (otherwise 404, as for any unknown path), and
answers 401 without that exact token: the figures say how busy rooms are, which is nobody's
business but the operator's. Each process is scraped on its own (rooms_server/metrics.py).
"""

from __future__ import annotations

import hmac
from typing import cast

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server.auth import bearer_token
from rooms_server.errors import unauthorized
from rooms_server.metrics import Metrics
from rooms_server.web.deps import settings_of


async def metrics(request: Request) -> Response:
    """
    summary: Prometheus metrics of this process (only when METRICS_TOKEN is set)
    security: [{bearer: []}]
    responses:
      200: {description: Metrics in the Prometheus text format}
      401: {description: Missing or wrong metrics token}
    """
    expected = settings_of(request).metrics_token
    given = bearer_token(request.headers.get("authorization")) or ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise unauthorized("The metrics token is missing or wrong.")
    body = cast(Metrics, request.state.metrics).render()
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


routes = [Route("/metrics", metrics, methods=["GET"])]
