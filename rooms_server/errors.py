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
