"""Keep capabilities out of the access log: invite tokens in paths, OAuth codes and tokens in queries.

uvicorn logs every request's path and query string. Bearer tokens never travel in URLs here (they
go in headers or the first frame), but an invite URL is a capability by design, and the Spotify
callback carries ``code`` and ``state``: those parts are replaced by ``<redacted>``.
"""

from __future__ import annotations

import logging
import re

_PATH = re.compile(r"/(invites|join)/[^/?#\s]+")
_QUERY = re.compile(r"([?&](?:code|state|token|access_token|refresh_token)=)[^&#\s]*")


def redact(text: str) -> str:
    return _QUERY.sub(r"\1<redacted>", _PATH.sub(r"/\1/<redacted>", text))


class RedactUrls(logging.Filter):
    """For ``uvicorn.access`` (args: client, method, path, http version, status) and any record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True
