"""The client's address: the one place that decides it (every per-IP limit and the audit log read
it as `request.remote_addr`, which this middleware sets).

`X-Forwarded-For` is believed only from a peer in TRUSTED_PROXIES (CIDRs; default none): the
list is walked from the right past the trusted proxies, and the first address that is not one of
them is the client. From anyone else the header is ignored, so a client cannot pick the address
it is limited by. uvicorn runs with `--no-proxy-headers` so it does not rewrite the peer first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str | Iterable[str]) -> tuple[Network, ...]:
    items = value.split(",") if isinstance(value, str) else value
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())


def _ip(text: str):
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(addr, trusted: tuple[Network, ...]) -> bool:
    return any(addr.version == net.version and addr in net for net in trusted)


def client_ip(peer: str | None, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str | None:
    """The client's address from the TCP peer and the X-Forwarded-For header values."""
    peer_ip = _ip(peer or "")
    if peer_ip is None or not trusted or not _trusted(peer_ip, trusted):
        return peer
    hops = [h for value in forwarded_for for h in value.split(",") if h.strip()]
    nearest = peer
    for hop in reversed(hops):
        addr = _ip(hop)
        if addr is None:  # garbage: whatever lies left of it was written by the client
            return nearest
        if not _trusted(addr, trusted):
            return str(addr)
        nearest = str(addr)
    return nearest


class TrustedProxies:
    """ASGI middleware: sets scope["client"] (and the scheme, from X-Forwarded-Proto) for
    requests and websockets that came through a trusted proxy."""

    def __init__(self, app, trusted: tuple[Network, ...]):
        self.app, self.trusted = app, trusted

    async def __call__(self, scope, receive, send):
        if self.trusted and scope["type"] in ("http", "websocket") and scope.get("client"):
            peer = scope["client"][0]
            addr = _ip(peer)
            if addr is not None and _trusted(addr, self.trusted):
                headers = scope.get("headers") or []
                forwarded = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"]
                scope = {**scope, "client": (client_ip(peer, forwarded, self.trusted), 0)}
                proto = next((v.decode("latin-1").strip().lower() for k, v in headers if k == b"x-forwarded-proto"), "")
                if proto in ("http", "https"):
                    ws = scope["type"] == "websocket"
                    scope["scheme"] = {"http": "ws", "https": "wss"}[proto] if ws else proto
        return await self.app(scope, receive, send)
