"""Rate limits: login per IP and per account, register per IP, the API per token; 429 with the
X-RateLimit-* and Retry-After headers; GraphQL is no way around them.

An API of its own with small limits (the suite's API has generous ones). Daily windows, so a
test never straddles a window boundary. Each test talks from its own loopback address
(127.0.0.0/8 all reaches the API), so the per-IP counters of tests do not mix.
"""

from __future__ import annotations

import itertools
import time
from uuid import uuid4

import asyncpg
import httpx
import pytest

from tests.support.factories import register
from tests.support.processes import start_api

_ips = (f"127.0.{i}.{j}" for i, j in itertools.product(range(10, 250), range(2, 250)))


@pytest.fixture(scope="module")
def limited_api(stack_env, log_dir):
    proc, base = start_api(
        stack_env, log_dir, RATE_LIMIT_LOGIN="3/1d", RATE_LIMIT_REGISTER="2/1d", RATE_LIMIT_API="5/1d"
    )
    yield base
    proc.stop()


@pytest.fixture
async def from_ip(limited_api):
    """A client factory: each call talks to the limited API from a fresh loopback address."""
    clients: list[httpx.AsyncClient] = []

    def make(ip: str | None = None) -> httpx.AsyncClient:
        ip = ip or next(_ips)
        c = httpx.AsyncClient(base_url=limited_api, timeout=15, transport=httpx.AsyncHTTPTransport(local_address=ip))
        c.ip = ip
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


def assert_limited(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "rate_limited" and r.json()["error"]["message"]
    h = r.headers
    assert h["X-RateLimit-Limit"] == str(limit) and h["X-RateLimit-Remaining"] == "0"
    assert int(h["X-RateLimit-Reset"]) > time.time()
    assert 1 <= int(h["Retry-After"]) <= 86400


async def test_login_limit_per_ip(from_ip, client):
    user = await register(client)  # on the suite's API: the limited one only sees logins
    c = from_ip()
    for n in range(3):
        r = await c.post("/auth/login", json={"email": f"nobody{n}@example.com", "password": "whatever1"})
        assert r.status_code == 401
        assert r.headers["X-RateLimit-Limit"] == "3" and r.headers["X-RateLimit-Remaining"] == str(2 - n)
    good = {"email": user["user"]["email"], "password": user["password"]}
    assert_limited(await c.post("/auth/login", json=good), 3)  # even the right password
    # a forwarded-for header from an untrusted peer changes nothing
    spoofed = await c.post(
        "/auth/login", json=good, headers={"X-Forwarded-For": "203.0.113.9", "Remote-Addr": "203.0.113.9"}
    )
    assert_limited(spoofed, 3)
    # another address is not affected
    assert (await from_ip().post("/auth/login", json=good)).status_code == 200


async def test_login_limit_per_account(from_ip, client):
    user = await register(client)
    body = {"email": user["user"]["email"], "password": "wrong-password-1"}
    for _ in range(3):
        assert (await from_ip().post("/auth/login", json=body)).status_code == 401
    # a fourth address, the right password: the account's attempts are used up
    r = await from_ip().post("/auth/login", json={**body, "password": user["password"]})
    assert_limited(r, 3)
    # the address limit and the account limit are separate: this address can log into another
    other = await register(client)
    c = from_ip()
    assert (
        await c.post("/auth/login", json={"email": other["user"]["email"], "password": other["password"]})
    ).status_code == 200


async def test_graphql_login_is_limited_too(from_ip):
    c = from_ip()
    q = 'mutation { login(input: {email: "gql-nobody@example.com", password: "whatever1"}) { accessToken } }'
    for _ in range(3):
        assert (await c.post("/graphql", json={"query": q})).json()["errors"][0]["extensions"][
            "code"
        ] == "invalid_credentials"
    err = (await c.post("/graphql", json={"query": q})).json()["errors"][0]
    assert err["extensions"]["code"] == "rate_limited" and err["extensions"]["status"] == 429


async def test_register_limit_per_ip(from_ip):
    c = from_ip()

    def body():
        tag = uuid4().hex[:10]
        return {"email": f"r{tag}@example.com", "password": "password123", "username": f"r{tag}"}

    for n in range(2):
        r = await c.post("/auth/register", json=body())
        assert r.status_code == 201, r.text
        assert r.headers["X-RateLimit-Limit"] == "2" and r.headers["X-RateLimit-Remaining"] == str(1 - n)
    assert_limited(await c.post("/auth/register", json=body()), 2)
    assert (await from_ip().post("/auth/register", json=body())).status_code == 201


async def test_api_limit_per_token_subject(from_ip, client):
    user, other = await register(client), await register(client)
    c = from_ip()
    for n in range(5):
        r = await c.get("/auth/sessions", headers=user["headers"])
        assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == str(4 - n)
    assert_limited(await c.get("/auth/sessions", headers=user["headers"]), 5)
    r = await c.post("/graphql", json={"query": "{ me { id } }"}, headers=user["headers"])
    assert r.status_code == 429 and r.json()["errors"][0]["extensions"]["code"] == "rate_limited"
    assert r.headers["X-RateLimit-Remaining"] == "0" and int(r.headers["Retry-After"]) >= 1
    # per subject, not per address: another user from the same address is served
    assert (await c.get("/auth/sessions", headers=other["headers"])).status_code == 200
    # a request without a valid token is refused as unauthenticated, not counted
    assert (await c.get("/auth/sessions")).status_code == 401


async def test_refusals_are_audited_once_per_window(from_ip, stack_env):
    c = from_ip()
    for n in range(6):
        await c.post("/auth/login", json={"email": f"flood{n}@example.com", "password": "whatever1"})
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        rows = await conn.fetch("SELECT * FROM audit_log WHERE action = 'auth.rate_limited' AND ip = $1", c.ip)
    finally:
        await conn.close()
    assert [r["subject"] for r in rows] == [f"ip:{c.ip}"]
    assert rows[0]["actor_user_id"] is None
