"""CORS through the real API (quart-cors): the default origin is the seed's FRONTEND_URL,
CORS_ORIGINS replaces it, preflights are cached (Access-Control-Max-Age), credentials are never
allowed (bearer tokens only), and the websocket still takes clients with or without an Origin."""

from __future__ import annotations

import httpx
import orjson
import pytest
import websockets

from tests.support.factories import create_post, user
from tests.support.processes import start_api

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
}


def allowed(r: httpx.Response, origin: str) -> bool:
    return r.headers.get("Access-Control-Allow-Origin") == origin


async def test_default_origin_is_frontend_url(client):
    r = await client.options("/posts", headers={"Origin": "http://localhost:3000", **PREFLIGHT})
    assert r.status_code == 200 and allowed(r, "http://localhost:3000")
    assert {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")} >= {"POST", "PATCH", "DELETE"}
    headers = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
    assert headers == {"authorization", "content-type", "idempotency-key"}
    assert r.headers["Access-Control-Max-Age"] == "86400"
    assert r.headers.get("Access-Control-Allow-Credentials") != "true"
    assert "Origin" in r.headers["Vary"]

    r = await client.options("/posts", headers={"Origin": "https://evil.example", **PREFLIGHT})
    assert "Access-Control-Allow-Origin" not in r.headers

    author = await user(client)
    post = await create_post(client, author)
    r = await client.get(f"/posts/{post}", headers={"Origin": "http://localhost:3000", **author["headers"]})
    assert r.status_code == 200 and allowed(r, "http://localhost:3000")
    exposed = {h.strip().lower() for h in r.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"x-ratelimit-remaining", "retry-after", "location", "upload-offset"} <= exposed
    r = await client.get(f"/posts/{post}", headers={"Origin": "http://localhost:3000", "Authorization": "Bearer x"})
    assert r.status_code == 401 and allowed(r, "http://localhost:3000")  # errors readable by the page too


@pytest.fixture(scope="module")
def cors_api(stack_env, log_dir):
    proc, base = start_api(
        stack_env, log_dir, CORS_ORIGINS="https://app.daira.example, https://admin.daira.example", CORS_MAX_AGE="600"
    )
    yield base
    proc.stop()


async def test_cors_origins_setting(cors_api):
    async with httpx.AsyncClient(base_url=cors_api, timeout=15) as c:
        for origin in ("https://app.daira.example", "https://admin.daira.example"):
            r = await c.options("/graphql", headers={"Origin": origin, **PREFLIGHT})
            assert allowed(r, origin) and r.headers["Access-Control-Max-Age"] == "600"
        r = await c.options("/graphql", headers={"Origin": "http://localhost:3000", **PREFLIGHT})
        assert "Access-Control-Allow-Origin" not in r.headers


async def test_websocket_takes_any_origin_and_none(api, client):
    u = await user(client)
    url = api.replace("http", "ws") + f"/ws?token={u['access_token']}"
    for headers in ({}, {"Origin": "https://evil.example"}):
        async with websockets.connect(url, additional_headers=headers) as ws:
            assert orjson.loads(await ws.recv())["type"] == "authenticated"
