"""Invite tokens, URLs and QR images (rooms_server.invites) checked with a real decoder, and the settings."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import png
import pytest
import zxingcpp

from rooms_server import invites
from rooms_server.config import ConfigError, Settings

URL = "https://rooms.example.com/join/0123456789abcdef0123456789abcdef"


def decode(pixels: bytes, width: int, height: int) -> list[Any]:
    """Every barcode a real decoder (zxing-cpp) finds in an 8-bit greyscale image, of any format."""
    return list(zxingcpp.read_barcodes(memoryview(pixels).cast("B", (height, width))))


def decode_png(data: bytes) -> list[Any]:
    width, height, rows, info = png.Reader(bytes=data).asDirect()
    scale = 255 // (2 ** info["bitdepth"] - 1)
    assert info["greyscale"] and not info["alpha"]
    return decode(bytes(scale * v for row in rows for v in row), width, height)


def svg_modules(svg: str) -> list[list[bool]]:
    """The dark modules drawn by the SVG's path (horizontal runs ``M x y h n v1 h-n z``)."""
    root = ET.fromstring(svg)
    size = int(root.attrib["viewBox"].split()[2])
    path = root.find("{http://www.w3.org/2000/svg}path")
    assert path is not None
    matrix = [[False] * size for _ in range(size)]
    for x, y, n in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", path.attrib["d"]):
        for i in range(int(x), int(x) + int(n)):
            matrix[int(y)][i] = True
    return matrix


def raster(matrix: list[list[bool]], scale: int) -> tuple[bytes, int]:
    rows = [bytes(0 if dark else 255 for dark in row for _ in range(scale)) for row in matrix for _ in range(scale)]
    return b"".join(rows), len(matrix) * scale


def test_new_token_is_128_random_bits_in_hex() -> None:
    tokens = {invites.new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t) == 32 and invites.is_token(t) for t in tokens)


@pytest.mark.parametrize("value", ["", "abc", "g" * 32, "A" * 32, "0" * 31, "0" * 33, "0" * 31 + "\n", "../" * 11])
def test_is_token_refuses_other_shapes(value: str) -> None:
    assert not invites.is_token(value)


def test_invite_url_is_base_join_token() -> None:
    assert invites.invite_url("https://r.example/", "ab" * 16) == f"https://r.example/join/{'ab' * 16}"


@pytest.mark.parametrize("size", [1, 8, 20])
def test_qr_png_decodes_to_the_url(size: int) -> None:
    [barcode] = decode_png(invites.qr_png(URL, size))
    assert barcode.text == URL


def test_qr_png_is_a_standard_qr_with_ec_m_and_a_quiet_zone_of_4() -> None:
    data = invites.qr_png(URL, 8)
    [barcode] = decode_png(data)
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode and barcode.symbology_identifier == "]Q1"
    assert barcode.ec_level in {"M", "Q", "H"}
    width, height, rows, _ = png.Reader(bytes=data).asDirect()
    modules = width // 8 - 2 * 4
    assert width == height and width % 8 == 0
    assert modules >= 21 and (modules - 17) % 4 == 0  # a QR version (Micro QR is 11-17 modules)
    pixels = [list(row) for row in rows]
    border = [*pixels[:32], *pixels[-32:], *(row[:32] + row[-32:] for row in pixels)]
    assert all(v == 1 for row in border for v in row)  # 4 white modules around the symbol


def test_qr_of_tiny_data_is_still_standard_qr() -> None:
    assert len(invites.qr_matrix("A")) == 21 + 2 * invites.QR_BORDER  # segno.make("A") would be Micro QR


def test_qr_svg_is_valid_xml_and_draws_the_same_symbol() -> None:
    svg = invites.qr_svg(URL, 5)
    root = ET.fromstring(svg)
    modules = len(invites.qr_matrix(URL))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert (root.attrib["width"], root.attrib["viewBox"]) == (str(5 * modules), f"0 0 {modules} {modules}")
    assert svg_modules(svg) == invites.qr_matrix(URL)
    pixels, side = raster(svg_modules(svg), 4)
    assert [b.text for b in decode(pixels, side, side)] == [URL]


@pytest.mark.parametrize("render", [invites.qr_png, invites.qr_svg])
@pytest.mark.parametrize("size", [0, 21, -1])
def test_qr_refuses_sizes_out_of_bounds(render: Callable[[str, int], object], size: int) -> None:
    with pytest.raises(ValueError):
        render(URL, size)


def test_invite_settings_from_env() -> None:
    defaults = Settings.from_env({"SECRET_KEY": "k"})
    assert (defaults.invite_ttl_s, defaults.invite_max_ttl_s, defaults.invite_cleanup_s) == (604800, 2592000, 600)
    env = {"SECRET_KEY": "k", "INVITE_TTL_S": "3600", "INVITE_MAX_TTL_S": "7200", "INVITE_CLEANUP_S": "0"}
    custom = Settings.from_env(env)
    assert (custom.invite_ttl_s, custom.invite_max_ttl_s, custom.invite_cleanup_s) == (3600, 7200, 1)


@pytest.mark.parametrize(("ttl", "max_ttl"), [("59", "600"), ("700", "600"), ("60", "59"), ("x", "600")])
def test_invite_settings_refuse_bad_lifetimes(ttl: str, max_ttl: str) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({"SECRET_KEY": "k", "INVITE_TTL_S": ttl, "INVITE_MAX_TTL_S": max_ttl})
