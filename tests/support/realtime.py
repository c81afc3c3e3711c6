"""Websockets of the API and the Redis channels behind them."""

from __future__ import annotations

import asyncio

import orjson


async def subscribed(redis, user_id) -> bool:
    """Whether an API process already listens on the user's channel (a socket of theirs is live)."""
    return (await redis.pubsub_numsub(f"user:{user_id}"))[0][1] > 0


async def next_message(ws, kind: str, timeout: float = 5.0) -> dict:
    """The next message of type `kind` on the socket, skipping others; each wait at most `timeout`."""
    while True:
        msg = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
        if msg["type"] == kind:
            return msg
