"""The OpenAPI document, generated from the endpoints' docstrings, served at /openapi.json."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

from rooms_server import __version__
from rooms_server.invites import MIN_LIFETIME_S


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or list(properties)}


STRING = {"type": "string"}
GROUP = _obj(
    {
        "id": STRING,
        "name": STRING,
        "is_public": {"type": "boolean"},
        "listening_mode": {"type": "string", "enum": ["everyone", "speaker"]},
        "your_role": {"type": "string", "enum": ["admin", "member"], "nullable": True},
        "member_count": {"type": "integer"},
    },
    ["id", "name", "is_public", "listening_mode", "your_role"],
)
MEMBER = _obj(
    {"user_id": STRING, "name": STRING, "role": {"type": "string", "enum": ["admin", "member"]}, "joined_at": STRING},
    ["user_id", "role", "joined_at"],
)
TRACK = _obj(
    {
        "id": {"type": "integer"},
        "position": {"type": "integer"},
        "service": STRING,
        "title": STRING,
        "duration": {"type": "integer"},
        "external_url": STRING,
        "added_by": _obj({"id": STRING, "name": STRING}),
        "added_at": STRING,
    }
)

COMPONENTS: dict[str, Any] = {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
        "Error": _obj(
            {"error": _obj({"code": STRING, "message": STRING, "details": {"type": "object"}}, ["code", "message"])}
        ),
        "NewUser": _obj({"name": {"type": "string", "minLength": 1, "maxLength": 255}}),
        "Session": _obj({"user": _obj({"id": STRING, "name": STRING}), "token": STRING, "expires_at": STRING}),
        "Me": _obj(
            {
                "id": STRING,
                "name": STRING,
                "groups": {
                    "type": "array",
                    "items": _obj({"id": STRING, "name": STRING, "is_public": {"type": "boolean"}, "role": STRING}),
                },
            }
        ),
        "NewGroup": _obj(
            {"name": {"type": "string", "minLength": 1, "maxLength": 1000}, "is_public": {"type": "boolean"}}, ["name"]
        ),
        "GroupChange": _obj(
            {
                "name": {"type": "string", "minLength": 1, "maxLength": 1000},
                "is_public": {"type": "boolean"},
                "listening_mode": {"type": "string", "enum": ["everyone", "speaker"]},
            },
            [],
        ),
        "Group": GROUP,
        "GroupPage": _obj(
            {
                "items": {"type": "array", "items": GROUP},
                "total": {"type": "integer"},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
            }
        ),
        "Member": MEMBER,
        "MemberList": _obj({"items": {"type": "array", "items": MEMBER}}),
        "RoleChange": _obj({"role": {"type": "string", "enum": ["admin", "member"]}}),
        "NewTrack": _obj(
            {
                "service": {"type": "string", "enum": ["spotify", "youtube"]},
                "url": {"type": "string", "maxLength": 2048},
                "title": {"type": "string", "minLength": 1, "maxLength": 512},
                "duration": {"type": "integer", "minimum": 1, "maximum": 86400},
            }
        ),
        "Added": _obj({"seq": {"type": "integer"}}),
        "NewInvite": _obj(
            {"lifetime_s": {"type": "integer", "minimum": MIN_LIFETIME_S, "description": "at most INVITE_MAX_TTL_S"}},
            [],
        ),
        "Invite": _obj({"url": STRING, "token": STRING, "expired_at": STRING}),
        "InvitePreview": _obj(
            {"group": _obj({"id": STRING, "name": STRING, "is_public": {"type": "boolean"}}), "expired_at": STRING}
        ),
        "Playlist": _obj(
            {
                "id": STRING,
                "group_id": STRING,
                "current_track_index": {"type": "integer"},
                "version": {"type": "integer"},
                "tracks": {"type": "array", "items": TRACK},
            }
        ),
    },
    "responses": {
        "Unauthorized": _error_response("Missing, unknown, expired or revoked token"),
        "Forbidden": _error_response("The caller's role does not allow this"),
        "NotFound": _error_response("No such resource (or a private group the caller is not in)"),
        "Conflict": _error_response("Conflicts with the current state"),
        "Invalid": _error_response("The body is not valid"),
        "Gone": _error_response("The invite has expired"),
        "RateLimited": _error_response("Too many attempts; Retry-After says when to try again"),
    },
}


class RoomsSchemaGenerator(SchemaGenerator):
    """Starlette's generator, plus the path parameters it leaves out."""

    def get_schema(self, routes: list[BaseRoute]) -> dict[str, Any]:
        schema = super().get_schema(routes)
        for path, item in schema.get("paths", {}).items():
            params = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"{(\w+)}", path)
            ]
            for operation in item.values():
                operation["parameters"] = [*params, *operation.get("parameters", [])]
        return schema


generator = RoomsSchemaGenerator(
    {
        "openapi": "3.0.3",
        "info": {"title": "rooms_server", "version": __version__, "description": "Listening rooms HTTP API."},
        "components": COMPONENTS,
    }
)


async def openapi(request: Request) -> Response:
    return JSONResponse(generator.get_schema(routes=request.app.routes))


routes = [Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False)]
