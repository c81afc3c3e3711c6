"""The realtime core's token expiry and its `unavailable` refusal, on all three faces, with real
clients against real API processes:

- an access token that expires closes the socket (/ws and GraphQL: 4401 `token_expired`;
  Socket.IO: an `error` event `token_expired`, then disconnected) unless the client sent a fresh
  token in-band first (/ws `auth`, Socket.IO `auth`; graphql-transport-ws has no such message);
- an API process whose Redis is unreachable refuses connections with `unavailable`
  (/ws and GraphQL: close 1013, try again later; Socket.IO: connect_error {code: unavailable}).

Tokens come from an API process issuing TTL-second access tokens (JWT_EXPIRATION); the sockets
are served by the suite's ordinary API process: the token's own `exp` is what counts.
"""

from __future__ import annotations

import time

import httpx
import jwt
import orjson
import pytest
import socketio
import websockets

from tests.support.factories import user
from tests.support.gql_ws import raw
from tests.support.processes import free_port, start_api
from tests.support.realtime import closed_with, next_message, open_ws, request, ws_url
from tests.support.waiting import wait_for

TTL = 4  # seconds; JWT `exp` is whole seconds, so a token lives between TTL-1 and TTL


@pytest.fixture(scope="module")
def short_lived(stack_env, log_dir):
    """An API process whose access tokens live TTL seconds."""
    proc, base = start_api(stack_env, log_dir, JWT_EXPIRATION=str(TTL))
    yield base
    proc.stop()


@pytest.fixture
async def issuer(short_lived):
    async with httpx.AsyncClient(base_url=short_lived, timeout=15) as c:
        yield c


def exp_of(token: str) -> float:
    return float(jwt.decode(token, options={"verify_signature": False})["exp"])


async def fresh_token(issuer: httpx.AsyncClient, u: dict, later_than: str) -> str:
    """A new session's access token of `u` expiring after the token `later_than`."""
    await wait_for(lambda: time.time() >= exp_of(later_than) - TTL + 1.1, what="the next second")
    r = await issuer.post("/auth/login", json={"email": u["user"]["email"], "password": u["password"]})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert exp_of(token) > exp_of(later_than)
    return token


def past(token: str) -> bool:
    return time.time() > exp_of(token) + 0.3


async def test_ws_closes_with_4401_when_its_token_expires_unless_reauthenticated(issuer, api):
    u = await user(issuer)
    ws = await open_ws(api, u["access_token"])
    code, got = await closed_with(ws, timeout=TTL + 5)
    assert code == 4401 and ws.close_reason == "token_expired", (code, got)
    assert got[-1]["type"] == "error" and got[-1]["code"] == "token_expired"
    assert time.time() >= exp_of(u["access_token"])

    me = await user(issuer)
    first = me["access_token"]
    ws = await open_ws(api, first)
    fresh = await fresh_token(issuer, me, later_than=first)
    await ws.send(orjson.dumps({"type": "auth", "token": fresh}).decode())
    assert (await next_message(ws, "authenticated"))["user_id"] == me["user"]["id"]
    # refused tokens are errors; the socket keeps the token it has
    other = await user(issuer)
    assert (await request(ws, {"type": "auth", "token": other["access_token"]}))["code"] == "wrong_user"
    assert (await request(ws, {"type": "auth", "token": "not-a-jwt"}))["code"] == "invalid_token"
    await wait_for(lambda: past(first), timeout=TTL + 2, what="the first token expired")
    assert await request(ws, {"type": "ping"}) == {"type": "pong"}  # still open on the fresh token
    code, got = await closed_with(ws, timeout=TTL + 5)
    assert code == 4401 and got[-1]["code"] == "token_expired"
    assert time.time() >= exp_of(fresh)


async def test_socketio_is_told_token_expired_then_disconnected_unless_reauthenticated(issuer, api):
    me = await user(issuer)
    first = me["access_token"]
    errors: list = []
    sio = socketio.AsyncClient(reconnection=False)
    sio.on("error", errors.append)
    await sio.connect(api, auth={"token": first}, transports=["websocket"], wait_timeout=10)
    try:
        fresh = await fresh_token(issuer, me, later_than=first)
        assert await sio.call("auth", {"token": fresh}, timeout=10) == {"ok": True}
        other = await user(issuer)
        refused = await sio.call("auth", {"token": other["access_token"]}, timeout=10)
        assert refused["ok"] is False and refused["code"] == "wrong_user"
        await wait_for(lambda: past(first), timeout=TTL + 2, what="the first token expired")
        assert await sio.call("auth", {"token": fresh}, timeout=10) == {"ok": True}  # still served
        assert not errors
        await wait_for(lambda: not sio.connected, timeout=TTL + 5, what="disconnected on expiry")
        assert [e["code"] for e in errors] == ["token_expired"]
        assert time.time() >= exp_of(fresh)
    finally:
        await sio.disconnect()


async def test_graphql_socket_closes_with_4401_token_expired(issuer, api):
    me = await user(issuer)
    async with raw(api) as c:
        await c.send({"type": "connection_init", "payload": {"token": me["access_token"]}})
        assert await c.recv() == {"type": "connection_ack"}
        code, reason = await c.closed(timeout=TTL + 5)
    assert code == 4401 and reason.startswith("token_expired: "), (code, reason)
    assert time.time() >= exp_of(me["access_token"])


# ------------------------------------------------------------------ unavailable


@pytest.fixture(scope="module")
def no_redis(stack_env, log_dir):
    """An API process whose Redis URL points at a port nothing listens on."""
    proc, base = start_api(stack_env, log_dir, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    yield base
    proc.stop()


async def test_every_face_refuses_with_unavailable_when_redis_is_down(client, no_redis):
    token = (await user(client))["access_token"]  # issued by the healthy API; valid everywhere

    async with websockets.connect(ws_url(no_redis)) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
        code, got = await closed_with(ws, timeout=30)
    assert code == 1013 and ws.close_reason == "unavailable", (code, got)
    assert got == [{"type": "error", "code": "unavailable", "message": "try again in a moment"}]

    async with raw(no_redis) as c:
        await c.send({"type": "connection_init", "payload": {"token": token}})
        code, reason = await c.closed(timeout=30)
    assert code == 1013 and reason.startswith("unavailable: "), (code, reason)

    refused: list = []
    sio = socketio.AsyncClient(reconnection=False)
    sio.on("connect_error", refused.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(no_redis, auth={"token": token}, transports=["websocket"], wait_timeout=30)
    assert [r["data"]["code"] for r in refused] == ["unavailable"]
