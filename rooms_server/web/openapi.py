"""The OpenAPI document, generated from the endpoints' docstrings, served at /openapi.json.

It says exactly what the server accepts, so that a client generated from it neither sends what is
refused nor refuses to send what is accepted: request bodies are closed (``additionalProperties:
false``: unknown fields are 422), optional fields are not required, text fields say "not blank"
(after the server drops control characters and surrounding whitespace) with a pattern, and limits
taken from the settings (an invite's longest lifetime) are filled in when the document is served.
Every operation lists the answers every operation can give (401 with a token, 400/413/422 with a
body, 503 in an outage), and ``Error.code`` lists every code (tests/test_openapi_contract.py).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

from rooms_server import __version__, hosting, protocol, rooms
from rooms_server.config import Settings
from rooms_server.errors import HTTP_ERROR_CODES
from rooms_server.hosting import MAX_GRACE_S
from rooms_server.invites import CODE_ALPHABET, CODE_LENGTH, MIN_LIFETIME_S
from rooms_server.sources.base import ERROR_CODES as SOURCE_ERROR_CODES
from rooms_server.web.invites import MAX_USES, QR_ROLES


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _obj(properties: dict[str, Any], required: list[str] | None = None, *, closed: bool = False) -> dict[str, Any]:
    """An object schema; every property required unless ``required`` says otherwise (``[]``: none).

    ``closed``: a request body, which the server refuses with unknown fields.
    """
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    names = list(properties) if required is None else required
    if names:
        schema["required"] = names
    if closed:
        schema["additionalProperties"] = False
    return schema


def _text(max_length: int) -> dict[str, Any]:
    """A text input: at most ``max_length`` characters as sent, not blank once control characters
    and surrounding whitespace are dropped (the server stores it NFC-normalised and so cleaned)."""
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": NOT_BLANK}


NOT_BLANK = "[^\\s\\u0000-\\u001f\\u007f-\\u009f]"
STRING = {"type": "string"}
ROLE = {"type": "string", "enum": list(hosting.ROLES), "description": "admin is a host or co-host"}
USES = {"type": "integer", "minimum": 1, "maximum": MAX_USES, "nullable": True, "description": "null: no limit"}
ERROR_CODES = sorted(HTTP_ERROR_CODES | SOURCE_ERROR_CODES | rooms.ERROR_CODES)
GROUP = _obj(
    {
        "id": STRING,
        "name": STRING,
        "is_public": {"type": "boolean"},
        "listening_mode": {"type": "string", "enum": ["everyone", "speaker"]},
        "your_role": {"type": "string", "enum": list(hosting.ROLES), "nullable": True},
        "member_count": {"type": "integer"},
    },
    ["id", "name", "is_public", "listening_mode", "your_role"],
)
MEMBER = _obj(
    {"user_id": STRING, "name": STRING, "role": ROLE, "joined_at": STRING, "present": {"type": "boolean"}},
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
        "artwork_url": {"type": "string", "nullable": True, "description": "the cover; null when described by hand"},
    }
)
CODE = {
    "type": "string",
    "nullable": True,
    "pattern": f"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$",
    "description": "the short join code (null on an invite made before codes existed)",
}
INVITE = _obj(
    {
        "url": STRING,
        "token": STRING,
        "code": CODE,
        "expired_at": STRING,
        "role": {"type": "string", "enum": list(QR_ROLES)},
        "max_uses": USES,
        "uses": {"type": "integer", "minimum": 0},
    }
)
INVITE_LINK = _obj(
    {
        "id": STRING,
        "url": STRING,
        "token": STRING,
        "role": ROLE,
        "label": {"type": "string", "nullable": True},
        "max_uses": USES,
        "uses": {"type": "integer", "minimum": 0},
        "expired_at": STRING,
        "created_at": STRING,
    }
)
HOSTING = _obj(
    {
        "host_user_id": {"type": "string", "nullable": True},
        "away_host_user_id": {"type": "string", "nullable": True, "description": "the original host, while away"},
        "grace_s": {"type": "integer", "minimum": 0, "maximum": MAX_GRACE_S, "description": "0: never fail over"},
        "failover_to_members": {"type": "boolean"},
        "on_return": {"type": "string", "enum": list(hosting.ON_RETURN)},
    }
)
INVITE_GROUP = _obj({"id": STRING, "name": STRING, "is_public": {"type": "boolean"}})
PREVIEW = {
    "group": INVITE_GROUP,
    "code": CODE,
    "expired_at": STRING,
    "role": ROLE,
    "uses_left": {"type": "integer", "minimum": 0, "nullable": True, "description": "null: no limit"},
}

COMPONENTS: dict[str, Any] = {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
        "Error": _obj(
            {
                "error": _obj(
                    {"code": {"type": "string", "enum": ERROR_CODES}, "message": STRING, "details": {"type": "object"}},
                    ["code", "message"],
                )
            }
        ),
        "NewUser": _obj({"name": _text(255)}, closed=True),
        "Session": _obj({"user": _obj({"id": STRING, "name": STRING}), "token": STRING, "expires_at": STRING}),
        "GuestJoined": _obj(
            {
                "user": _obj({"id": STRING, "name": STRING}),
                "token": STRING,
                "expires_at": STRING,
                "group": {"$ref": "#/components/schemas/Group"},
            }
        ),
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
            {
                "name": _text(1000),
                "is_public": {"type": "boolean", "default": False},
                "listening_mode": {"type": "string", "enum": ["everyone", "speaker"], "default": "everyone"},
            },
            ["name"],
            closed=True,
        ),
        "GroupChange": _obj(
            {
                "name": _text(1000),
                "is_public": {"type": "boolean"},
                "listening_mode": {"type": "string", "enum": ["everyone", "speaker"]},
            },
            [],
            closed=True,
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
        "MemberList": _obj(
            {
                "items": {"type": "array", "items": MEMBER},
                "total": {"type": "integer", "minimum": 0},
                "next_offset": {"type": "integer", "minimum": 0, "nullable": True},
            },
            ["items", "total", "next_offset"],
        ),
        "RoleChange": _obj({"role": ROLE}, ["role"], closed=True),
        "Hosting": HOSTING,
        "HostingChange": _obj(
            {
                "grace_s": {"type": "integer", "minimum": 0, "maximum": MAX_GRACE_S},
                "failover_to_members": {"type": "boolean"},
                "on_return": {"type": "string", "enum": list(hosting.ON_RETURN)},
            },
            [],
            closed=True,
        ),
        "Handover": _obj({"user_id": _text(32)}, ["user_id"], closed=True),
        "Leave": _obj({"handover_to": _text(32)}, [], closed=True),
        "NewInviteLink": _obj(
            {
                "role": ROLE,
                "max_uses": USES,
                "lifetime_s": {"type": "integer", "minimum": MIN_LIFETIME_S, "description": "default a day"},
                "label": {**_text(80), "nullable": True},
            },
            ["role"],
            closed=True,
        ),
        "InviteLink": INVITE_LINK,
        "InviteLinkList": _obj({"items": {"type": "array", "items": INVITE_LINK}}),
        "NewTrack": _obj(
            {
                "service": {"type": "string", "enum": sorted(protocol.SERVICES)},
                "url": {**_text(protocol.MAX_URL_CHARS), "description": "a track link of the service (SOURCES.md)"},
                "title": _text(protocol.MAX_TITLE_CHARS),
                "duration": {"type": "integer", "minimum": 1, "maximum": protocol.MAX_DURATION_S, "description": "s"},
            },
            ["service", "url"],
            closed=True,
        ),
        "ServiceToken": _obj(
            {
                "access_token": _text(4096),
                "refresh_token": _text(4096),
                "expires_in": {"type": "integer", "minimum": 1, "maximum": 365 * 24 * 3600, "description": "seconds"},
            },
            ["access_token"],
            closed=True,
        ),
        "Added": _obj({"seq": {"type": "integer"}}),
        "NewInvite": _obj(
            {
                "lifetime_s": {"type": "integer", "minimum": MIN_LIFETIME_S, "description": "at most INVITE_MAX_TTL_S"},
                "role": {"type": "string", "enum": list(QR_ROLES), "default": "member"},
                "max_uses": USES,
            },
            [],
            closed=True,
        ),
        "Invite": INVITE,
        "InvitePreview": _obj(PREVIEW),
        "CodeInvite": _obj({**PREVIEW, "token": STRING}),
        "HistoryEntry": _obj(
            {
                "id": {"type": "integer"},
                "track_id": {"type": "integer", "nullable": True},
                "service": {"type": "string", "enum": ["spotify", "youtube"]},
                "url": STRING,
                "title": STRING,
                "duration_s": {"type": "integer"},
                "artwork_url": {"type": "string", "nullable": True},
                "added_by": STRING,
                "added_by_name": STRING,
                "started_at": {"type": "string", "format": "date-time"},
                "ended_at": {"type": "string", "format": "date-time"},
                "played_ms": {"type": "integer", "minimum": 0},
                "outcome": {"type": "string", "enum": ["ended", "skipped", "voted", "removed"]},
            }
        ),
        "HistoryPage": _obj(
            {
                "entries": {"type": "array", "items": {"$ref": "#/components/schemas/HistoryEntry"}},
                "next_before": {"type": "integer", "nullable": True},
            }
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
        "BadRequest": _error_response("The body is not a JSON object (`invalid_json`)"),
        "TooLarge": _error_response("The body is larger than MAX_BODY_BYTES (`body_too_large`)"),
        "Unavailable": _error_response(
            "The database or the engine cannot answer right now (`unavailable`); Retry-After says when to try again"
        ),
    },
}

# Answers any operation may give, added where a docstring does not list them.
_ALWAYS = {"503": {"$ref": "#/components/responses/Unavailable"}}
_WITH_TOKEN = {"401": {"$ref": "#/components/responses/Unauthorized"}}
_WITH_BODY = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "413": {"$ref": "#/components/responses/TooLarge"},
    "422": {"$ref": "#/components/responses/Invalid"},
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
                responses = {str(status): answer for status, answer in operation.get("responses", {}).items()}
                extra = {**_ALWAYS, **(_WITH_TOKEN if "security" in operation else {})}
                extra |= _WITH_BODY if "requestBody" in operation else {}
                operation["responses"] = {**responses, **{k: v for k, v in extra.items() if k not in responses}}
        return schema


generator = RoomsSchemaGenerator(
    {
        "openapi": "3.0.3",
        "info": {"title": "rooms_server", "version": __version__, "description": "Listening rooms HTTP API."},
        "components": COMPONENTS,
    }
)


async def openapi(request: Request) -> Response:
    schema = copy.deepcopy(generator.get_schema(routes=request.app.routes))  # the components are shared
    settings: Settings = request.state.settings
    for name in ("NewInvite", "NewInviteLink"):  # the longest lifetime is a setting
        properties = schema["components"]["schemas"][name]["properties"]
        properties["lifetime_s"] = {**properties["lifetime_s"], "maximum": settings.invite_max_ttl_s}
    return JSONResponse(schema)


routes = [Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False)]
