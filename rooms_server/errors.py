"""The one error shape of the HTTP API: ``{"error": {"code", "message", "details"?}}``.

``code`` is stable (clients branch on it); ``message`` is for humans and may change.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def unauthorized(message: str = "A valid bearer token is required.") -> ApiError:
    return ApiError(401, "unauthorized", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what}_not_found", f"No such {what.replace('_', ' ')}.")


def conflict(code: str, message: str) -> ApiError:
    return ApiError(409, code, message)


def invalid(details: dict[str, str]) -> ApiError:
    return ApiError(422, "validation_error", "The request body is not valid.", details)


# Every `error.code` an HTTP answer can carry; the OpenAPI document lists them (an enum), and a test
# checks that every code the endpoints can raise is here. Link and provider codes come from
# sources.base.ERROR_CODES and the live rules' codes from rooms.ERROR_CODES (adding a track).
HTTP_ERROR_CODES: frozenset[str] = frozenset(
    {
        "unauthorized",
        "forbidden",
        "validation_error",
        "invalid_json",
        "body_too_large",
        "not_found",
        "method_not_allowed",
        "http_error",
        "group_not_found",
        "member_not_found",
        "membership_not_found",
        "playlist_not_found",
        "invite_not_found",
        "service_not_found",
        "credential_not_found",
        "invite_expired",
        "invite_used_up",
        "invite_link_not_found",
        "is_host",
        "invalid_code",
        "origin_refused",
        "group_name_taken",
        "last_admin",
        "oauth_denied",
        "invalid_state",
        "rate_limited",
        "conflict",
        "unavailable",
        "internal_error",
    }
)
