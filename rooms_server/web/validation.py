"""Reading request bodies: bounded in size, strict in shape."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from rooms_server.errors import ApiError, bad_request, invalid
from rooms_server.fields import clean_text as clean_text


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; 413 past ``max_bytes`` (checked while reading, not just declared)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("invalid_json", "The request body must be a JSON object.")
    return body


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "body_too_large", f"The request body exceeds {max_bytes} bytes.")


class Fields:
    """Collects every problem of a body before answering, so a client fixes them in one go."""

    def __init__(self, body: dict[str, Any], allowed: set[str]) -> None:
        self.body = body
        self.errors: dict[str, str] = {key: "unknown field" for key in body if key not in allowed}

    def text(self, key: str, *, max_len: int, required: bool = True) -> str | None:
        if key not in self.body:
            if required:
                self.errors[key] = "required"
            return None
        value = self.body[key]
        if not isinstance(value, str):
            self.errors[key] = "must be a string"
            return None
        # The length is the sent one (as the OpenAPI maxLength says), blankness the cleaned one.
        cleaned = clean_text(value)
        if len(value) > max_len:
            self.errors[key] = f"must be at most {max_len} characters"
        elif not cleaned:
            self.errors[key] = "must not be blank"
        return cleaned

    def boolean(self, key: str, *, default: bool | None = None) -> bool | None:
        if key not in self.body:
            return default
        value = self.body[key]
        if not isinstance(value, bool):
            self.errors[key] = "must be true or false"
            return None
        return value

    def integer(self, key: str, *, low: int, high: int) -> int | None:
        value = self.body.get(key)
        if type(value) is not int or not low <= value <= high:  # bool is not an int here
            self.errors[key] = f"must be an integer from {low} to {high}"
            return None
        return value

    def optional_integer(self, key: str, *, low: int, high: int) -> int | None:
        """An integer when the key is given and not null; None (no limit, the default) otherwise."""
        if self.body.get(key) is None:
            return None
        return self.integer(key, low=low, high=high)

    def choice(self, key: str, options: tuple[str, ...]) -> str | None:
        value = self.body.get(key)
        if value not in options:
            self.errors[key] = f"must be one of {', '.join(options)}"
            return None
        return str(value)

    def done(self) -> None:
        if self.errors:
            raise invalid(self.errors)


def query_int(request: Request, key: str, *, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise invalid({key: f"must be an integer from {low} to {high}"})
    return int(raw)


def query_bool(request: Request, key: str) -> bool:
    """``true`` or ``false`` (absent: false); anything else is a 422 naming the parameter."""
    raw = request.query_params.get(key, "false")
    if raw not in ("true", "false"):
        raise invalid({key: "must be true or false"})
    return raw == "true"
