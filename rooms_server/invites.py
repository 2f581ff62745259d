"""Invite tokens, their URLs and their QR images: pure functions, no I/O.

A token is 128 random bits in hex (``secrets.token_hex(16)``), which is exactly the ``CHAR(32)``
id of a ``groupqr`` row. Its URL, ``{PUBLIC_BASE_URL}/join/{token}``, is what the QR code carries.

A short join code goes with every token: 6 characters from an alphabet without look-alikes
(no 0/O, 1/I/L), typed by hand where a camera cannot scan. 31^6 ≈ 887.5 million codes; the lookup
is rate-limited like joins, which makes guessing one useless in practice (docs/API.md, "Short join codes").

QR library: ``qrcode`` with its ``png`` extra (PyPNG, pure Python, no Pillow). It only encodes
standard (model 2) QR symbols, so the Micro QR trap of ``segno.make()`` cannot happen here; segno
would be a little faster, but a PNG of an invite takes ~10 ms and is rendered off the event loop.
The SVG is written from qrcode's module matrix, so that it is sized in pixels (qrcode's own SVG
factories size in millimetres) and holds one path on a white background.
"""

from __future__ import annotations

import io
import secrets
import string
from typing import TextIO, cast

import qrcode
import qrcode.constants
from qrcode.image.pure import PyPNGImage

TOKEN_BYTES = 16  # 128 bits
TOKEN_LENGTH = 2 * TOKEN_BYTES
MIN_LIFETIME_S = 60
QR_BORDER = 4  # modules of quiet zone: the minimum the QR specification allows
QR_MIN_SIZE, QR_DEFAULT_SIZE, QR_MAX_SIZE = 1, 8, 20  # pixels per module
# M restores ~15 % of damage: plenty for a URL on a screen or on paper without a logo on top.
QR_ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
_HEX = frozenset(string.hexdigits.lower())
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # 31 characters: no 0, O, 1, I or L
CODE_LENGTH = 6
_CODE_CHARS = frozenset(CODE_ALPHABET)
_CODE_SEPARATORS = str.maketrans("", "", " -\t")


def new_token() -> str:
    return secrets.token_hex(TOKEN_BYTES)


def is_token(value: str) -> bool:
    """Whether ``value`` has the shape of a token (so garbage never reaches the database)."""
    return len(value) == TOKEN_LENGTH and set(value) <= _HEX


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(typed: str) -> str | None:
    """A typed code in its stored form (upper case, without spaces or dashes); None when it cannot be one."""
    code = typed.translate(_CODE_SEPARATORS).upper()
    if len(code) != CODE_LENGTH or not set(code) <= _CODE_CHARS:
        return None
    return code


def invite_url(public_base_url: str, token: str) -> str:
    return f"{public_base_url.rstrip('/')}/join/{token}"


def _check_size(size: int) -> None:
    if not QR_MIN_SIZE <= size <= QR_MAX_SIZE:
        raise ValueError(f"size must be from {QR_MIN_SIZE} to {QR_MAX_SIZE} pixels per module, got {size}")


def _qr(data: str, size: int) -> qrcode.QRCode:
    _check_size(size)
    qr = qrcode.QRCode(error_correction=QR_ERROR_CORRECTION, box_size=size, border=QR_BORDER)
    qr.add_data(data)
    qr.make(fit=True)  # the smallest version that holds the data
    return qr


def qr_matrix(data: str) -> list[list[bool]]:
    """The modules of the symbol, dark = True, with the quiet zone included."""
    return cast(list[list[bool]], _qr(data, QR_MIN_SIZE).get_matrix())


def qr_png(data: str, size: int = QR_DEFAULT_SIZE) -> bytes:
    """A black-on-white PNG (1 bit per pixel), ``size`` pixels per module."""
    buffer = io.BytesIO()
    _qr(data, size).make_image(image_factory=PyPNGImage).save(buffer)
    return buffer.getvalue()


def qr_terminal(data: str, out: TextIO) -> None:
    """The symbol drawn with block characters, for the server's start banner; ANSI colours on a TTY
    (a terminal's own colours may be light on dark), plain characters when the output is a file."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=2)
    qr.add_data(data)
    qr.make(fit=True)
    qr.print_ascii(out=out, tty=out.isatty(), invert=True)


def qr_svg(data: str, size: int = QR_DEFAULT_SIZE) -> str:
    """A standalone SVG document, ``size`` pixels per module; it scales cleanly with CSS."""
    _check_size(size)
    matrix = qr_matrix(data)
    modules = len(matrix)
    pixels = modules * size
    runs: list[str] = []
    for y, row in enumerate(matrix):
        x = 0
        while x < modules:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < modules and row[x]:
                x += 1
            runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{pixels}" height="{pixels}" '
        f'viewBox="0 0 {modules} {modules}" shape-rendering="crispEdges">'
        f'<rect width="{modules}" height="{modules}" fill="#ffffff"/>'
        f'<path d="{"".join(runs)}" fill="#000000"/>'
        "</svg>\n"
    )
