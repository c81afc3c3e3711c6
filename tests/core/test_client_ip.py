"""The client IP behind a proxy (api/client_ip.py): X-Forwarded-For is believed only from a peer in
TRUSTED_PROXIES; per-IP limits and the audit log count that address. An API of its own whose
trusted proxy is one loopback address (127.0.0.0/8 all reaches it)."""

from __future__ import annotations

from uuid import uuid4

import httpx
import pytest

from api.client_ip import client_ip, parse_networks
from tests.support.processes import start_api

PROXY, STRANGER = "127.0.3.3", "127.0.3.4"


def test_the_client_is_the_first_untrusted_hop_from_the_right():
    trusted = parse_networks("10.0.0.0/8, 127.0.3.3/32, fd00::/8")
    assert client_ip("10.1.2.3", ["198.51.100.7"], trusted) == "198.51.100.7"
    # a client-written prefix is skipped: the proxy appended the real peer last
    assert client_ip("10.1.2.3", ["6.6.6.6, 198.51.100.7"], trusted) == "198.51.100.7"
    assert client_ip("10.1.2.3", ["6.6.6.6", "198.51.100.7, 10.9.9.9"], trusted) == "198.51.100.7"
    assert client_ip("10.1.2.3", ["not-an-ip, 10.9.9.9"], trusted) == "10.9.9.9"
    assert client_ip("10.1.2.3", [], trusted) == "10.1.2.3"
    assert client_ip("fd00::1", ["[2001:db8::5]:443"], trusted) == "2001:db8::5"
    # anyone else's header is ignored
    assert client_ip("198.51.100.7", ["1.2.3.4"], trusted) == "198.51.100.7"
    assert client_ip("10.1.2.3", ["1.2.3.4"], ()) == "10.1.2.3"
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/33")


@pytest.fixture(scope="module")
def proxied_api(stack_env, log_dir):
    proc, base = start_api(stack_env, log_dir, RATE_LIMIT_REGISTER="2/1d", TRUSTED_PROXIES=f"{PROXY}/32")
    yield base
    proc.stop()


def _body() -> dict:
    tag = uuid4().hex[:10]
    return {"email": f"x{tag}@example.com", "password": "password123", "username": f"x{tag}"}


async def _register_as(base: str, peer: str, forwarded: str) -> httpx.Response:
    transport = httpx.AsyncHTTPTransport(local_address=peer)
    async with httpx.AsyncClient(base_url=base, timeout=15, transport=transport) as c:
        return await c.post("/auth/register", json=_body(), headers={"X-Forwarded-For": forwarded})


async def test_a_trusted_proxy_gives_the_client_address(proxied_api, db):
    real = f"198.51.100.{uuid4().int % 200 + 10}"
    for _ in range(2):
        assert (await _register_as(proxied_api, PROXY, f"6.6.6.6, {real}")).status_code == 201
    # the same client behind the proxy is limited, whatever it writes in front
    refused = await _register_as(proxied_api, PROXY, f"7.7.7.7, {real}")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    # another client behind the same proxy is not
    assert (await _register_as(proxied_api, PROXY, "203.0.113.9")).status_code == 201
    audited = await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'auth.register' AND ip = $1", real)
    assert audited == 2


async def test_anyone_else_cannot_pick_the_address_they_are_limited_by(proxied_api):
    for n in range(2):
        r = await _register_as(proxied_api, STRANGER, f"192.0.2.{n + 1}")
        assert r.status_code == 201, r.text
    refused = await _register_as(proxied_api, STRANGER, "192.0.2.99")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
