"""Liveness and readiness."""

from __future__ import annotations

import logging
from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rooms_server.engine.base import Engine
from rooms_server.web.deps import db_of, json

log = logging.getLogger(__name__)


async def healthz(request: Request) -> Response:
    """
    summary: Liveness; answers as long as the process serves requests
    responses:
      200: {description: Alive}
    """
    return json({"status": "ok"})


async def readyz(request: Request) -> Response:
    """
    summary: Readiness; the database and the live engine answer
    responses:
      200: {description: Ready}
      503: {description: Not ready}
    """
    checks: dict[str, str] = {}
    try:
        await db_of(request).ping()
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log
        log.warning("readiness: database check failed: %s", exc)
        checks["database"] = "unavailable"
    try:
        checks["engine"] = "ok" if await cast(Engine, request.state.engine).ping() else "unavailable"
    except Exception as exc:
        log.warning("readiness: engine check failed: %s", exc)
        checks["engine"] = "unavailable"
    ready = all(value == "ok" for value in checks.values())
    return json({"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503)


routes = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
