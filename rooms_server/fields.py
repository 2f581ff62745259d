"""Strict readers for the fields of one decoded JSON object.

They apply the same rules as the payload schemas in docs/asyncapi.yaml (tests keep the two in
step) without a JSON Schema engine on the hot path. Python-specific traps are closed here: `True`
is an `int`, floats such as `1.0` are not track ids, and NUL survives in SQLite but not PostgreSQL.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection

MAX_SAFE_INT = 2**53 - 1  # the largest integer every JavaScript client reads exactly


class FieldError(Exception):
    """A field is missing, has the wrong type or is out of bounds."""


class Fields:
    """Typed access to one JSON object; remembers the keys read so leftovers can be refused."""

    def __init__(self, obj: dict[str, object], *, prefix: str = "", frame_id: str | None = None) -> None:
        self._obj = obj
        self._prefix = prefix
        self._seen: set[str] = set()
        self.frame_id = frame_id

    def skip(self, *keys: str) -> None:
        """Mark keys as handled elsewhere (the frame's type and id)."""
        self._seen.update(keys)

    def finish(self) -> None:
        unknown = sorted(set(self._obj) - self._seen)
        if unknown:
            raise FieldError(f"unknown field {self._prefix}{unknown[0]!r}")

    def has(self, key: str) -> bool:
        self._seen.add(key)
        return key in self._obj

    def _get(self, key: str) -> object:
        if not self.has(key):
            raise FieldError(f"{self._prefix}{key}: required")
        return self._obj[key]

    def _fail(self, key: str, expected: str) -> FieldError:
        return FieldError(f"{self._prefix}{key}: must be {expected}")

    def integer(self, key: str, *, lo: int, hi: int = MAX_SAFE_INT) -> int:
        value = self._get(key)
        # type() rather than isinstance(): bool is a subclass of int and must not pass as one.
        if type(value) is not int or not lo <= value <= hi:
            raise self._fail(key, f"an integer in {lo}..{hi}")
        return value

    def nullable_integer(self, key: str, *, lo: int, hi: int = MAX_SAFE_INT) -> int | None:
        if self._get(key) is None:
            return None
        return self.integer(key, lo=lo, hi=hi)

    def optional_integer(self, key: str, *, lo: int, hi: int = MAX_SAFE_INT) -> int | None:
        return self.integer(key, lo=lo, hi=hi) if self.has(key) else None

    def number(self, key: str) -> float:
        value = self._get(key)
        if type(value) is int:
            return value
        if type(value) is not float or not math.isfinite(value):
            raise self._fail(key, "a finite number")
        return value

    def boolean(self, key: str) -> bool:
        value = self._get(key)
        if type(value) is not bool:
            raise self._fail(key, "true or false")
        return value

    def pattern(self, key: str, regex: re.Pattern[str], description: str) -> str:
        value = self._get(key)
        if type(value) is not str or regex.fullmatch(value) is None:
            raise self._fail(key, description)
        return value

    def optional_pattern(self, key: str, regex: re.Pattern[str], description: str) -> str | None:
        return self.pattern(key, regex, description) if self.has(key) else None

    def text(self, key: str, *, min_len: int, max_len: int) -> str:
        value = self._get(key)
        if type(value) is not str or not min_len <= len(value) <= max_len or "\x00" in value:
            raise self._fail(key, f"a string of {min_len}..{max_len} characters without NUL")
        return value

    def optional_text(self, key: str, *, min_len: int, max_len: int) -> str | None:
        return self.text(key, min_len=min_len, max_len=max_len) if self.has(key) else None

    def choice(self, key: str, options: Collection[str]) -> str:
        value = self._get(key)
        if type(value) is not str or value not in options:
            raise self._fail(key, f"one of {', '.join(sorted(options))}")
        return value

    def optional_object(self, key: str) -> Fields | None:
        if not self.has(key):
            return None
        value = self._obj[key]
        if type(value) is not dict:
            raise self._fail(key, "an object")
        return Fields(value, prefix=f"{self._prefix}{key}.", frame_id=self.frame_id)


def clean_text(value: str) -> str:
    """Normalised (NFC) and stripped, without control characters (newlines, NUL, escapes).

    Every text a person typed goes through this (names, titles, chat), over HTTP and the socket.
    """
    normalized = unicodedata.normalize("NFC", value)
    return "".join(ch for ch in normalized if unicodedata.category(ch) != "Cc").strip()
