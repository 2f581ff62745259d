"""The party's Wi-Fi out of the box: which addresses phones can reach this machine at.

With ``PUBLIC_BASE_URL`` unset and the server bound to every interface (``HOST`` 0.0.0.0 or ::),
``localhost`` is useless to a phone. ``advertise`` finds the machine's LAN IPv4 addresses, makes the
first one the public base URL (invite links and QR codes) and allows every advertised origin
(``localhost``, ``127.0.0.1``, ``[::1]`` and each LAN address, with the port) unless
``ALLOWED_ORIGINS`` is set. Explicit settings always win.

Discovery sends no packet: ``connect`` on a UDP socket only asks the kernel which source address
it would route from (toward a TEST-NET address, RFC 5737), and the host's own name resolves to its
other addresses. Both are injected (``discover``) so tests are deterministic.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import replace

from rooms_server.config import Settings

ALL_INTERFACES = frozenset({"0.0.0.0", "::", ""})
ROUTE_PROBE = ("192.0.2.1", 9)  # TEST-NET-1, discard port: never reached, a UDP connect sends nothing

Discover = Callable[[], list[str]]


def route_address() -> str | None:
    """The source address the kernel would use toward the outside, without sending anything."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(ROUTE_PROBE)
        return str(probe.getsockname()[0])
    return None


def host_addresses() -> list[str]:
    """The IPv4 addresses the machine's own name resolves to (often every interface's)."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return []
    return [str(info[4][0]) for info in infos]


def lan_addresses(candidates: Iterable[str | None]) -> list[str]:
    """The usable ones, first seen first: IPv4, not loopback, link-local, unspecified or multicast."""
    found: list[str] = []
    for candidate in candidates:
        try:
            address = ipaddress.ip_address(candidate or "")
        except ValueError:
            continue
        unusable = address.is_loopback or address.is_link_local or address.is_unspecified or address.is_multicast
        if address.version == 4 and not unusable and str(address) not in found:
            found.append(str(address))
    return found


def discover_addresses() -> list[str]:
    return lan_addresses([route_address(), *host_addresses()])


def advertise(settings: Settings, discover: Discover = discover_addresses) -> Settings:
    """``settings`` with its advertised addresses filled in (idempotent: a second call changes nothing)."""
    if settings.advertised:
        return settings
    if settings.public_base_url_set or settings.host not in ALL_INTERFACES:
        return replace(settings, advertised=(settings.public_base_url,))
    lan = [f"http://{address}:{settings.port}" for address in lan_addresses(discover())]
    local = [f"http://{host}:{settings.port}" for host in ("localhost", "127.0.0.1", "[::1]")]
    base_url = lan[0] if lan else settings.public_base_url
    origins = settings.allowed_origins if settings.allowed_origins_set else tuple(dict.fromkeys([*local, *lan]))
    return replace(settings, public_base_url=base_url, allowed_origins=origins, advertised=(*lan, *local[:2]))
