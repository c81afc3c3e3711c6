"""Websockets of the API and the Redis channels behind them."""

from __future__ import annotations

import asyncio

import orjson
import websockets


async def subscribed(redis, user_id) -> bool:
    """Whether an API process already listens on the user's channel (a socket of theirs is live)."""
    return (await redis.pubsub_numsub(f"user:{user_id}"))[0][1] > 0


async def next_message(ws, kind: str, timeout: float = 5.0) -> dict:
    """The next message of type `kind` on the socket, skipping others; each wait at most `timeout`."""
    while True:
        msg = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
        if msg["type"] == kind:
            return msg


def ws_url(api: str) -> str:
    return api.replace("http", "ws", 1) + "/ws"


async def open_ws(api: str, token: str):
    """A /ws socket authenticated by its first message (the default; docs/realtime-protocol.md)."""
    ws = await websockets.connect(ws_url(api))
    await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
    msg = orjson.loads(await asyncio.wait_for(ws.recv(), 15))
    assert msg["type"] == "authenticated", msg
    return ws


async def request(ws, msg: dict, timeout: float = 10.0) -> dict:
    """Send one client message; the next message that is not a push (a reply or an error)."""
    await ws.send(orjson.dumps(msg).decode())
    while True:
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
        if reply["type"] in ("subscribed", "unsubscribed", "pong", "error"):
            return reply


async def closed_with(ws, timeout: float = 15.0) -> tuple[int | None, list[dict]]:
    """Read until the server closes the socket: (close code, every message received first)."""
    got = []
    try:
        while True:
            got.append(orjson.loads(await asyncio.wait_for(ws.recv(), timeout)))
    except websockets.ConnectionClosed:
        pass
    return ws.close_code, got
