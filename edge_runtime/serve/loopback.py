"""Which addresses and Host headers name this machine only (the CLI's token rule, the app's rebinding guard)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    """Only this machine can reach the address (127.0.0.0/8, ::1, localhost and its subdomains)."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may well be reachable from elsewhere
        return False


def host_is_loopback(header: str) -> bool:
    """A Host header (``name``, ``name:port``, ``[::1]:port``) naming this machine only."""
    try:
        name = urlsplit(f"//{header}").hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    return name is not None and is_loopback(name)
