"""GET /ws: authenticated websocket; clients subscribe to topics such as `post:<id>`."""
from __future__ import annotations

import asyncio
import re

import orjson
from quart import Blueprint, current_app, websocket

from api.auth import user_from_token
from models.errors import DomainError

bp = Blueprint("ws", __name__)

_TOPIC = re.compile(r"^post:[0-9a-fA-F-]{36}$")
AUTH_TIMEOUT = 10.0


async def _send(obj: dict) -> None:
    await websocket.send(orjson.dumps(obj).decode())


async def _authenticate():
    token = websocket.args.get("token")
    if not token:
        try:
            first = orjson.loads(await asyncio.wait_for(websocket.receive(), AUTH_TIMEOUT))
        except (asyncio.TimeoutError, orjson.JSONDecodeError):
            first = {}
        token = first.get("token") if isinstance(first, dict) and first.get("type") == "auth" else None
    return await user_from_token(token)


@bp.websocket("/ws")
async def ws():
    try:
        user_id = await _authenticate()
    except DomainError as exc:
        await websocket.accept()
        await _send({"type": "error", "code": exc.code, "message": exc.message})
        await websocket.close(4401)
        return
    await websocket.accept()
    await _send({"type": "authenticated", "user_id": str(user_id)})
    hub = current_app.config["HUB"]
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
    topics: set[str] = set()

    async def pump():
        while True:
            await websocket.send(await queue.get())

    sender = asyncio.create_task(pump())
    try:
        while True:
            raw = await websocket.receive()
            try:
                msg = orjson.loads(raw)
                kind, topic = msg.get("type"), msg.get("topic")
            except (orjson.JSONDecodeError, AttributeError):
                await _send({"type": "error", "code": "bad_request", "message": "messages are JSON objects"})
                continue
            if kind in ("subscribe", "unsubscribe"):
                if not isinstance(topic, str) or not _TOPIC.match(topic):
                    await _send({"type": "error", "code": "bad_topic", "message": "topic must be post:<uuid>"})
                elif kind == "subscribe":
                    topics.add(topic)
                    hub.subscribe(topic.lower(), queue)
                    await _send({"type": "subscribed", "topic": topic})
                else:
                    topics.discard(topic)
                    hub.unsubscribe(topic.lower(), queue)
                    await _send({"type": "unsubscribed", "topic": topic})
            elif kind == "ping":
                await _send({"type": "pong"})
            elif kind != "auth":
                await _send({"type": "error", "code": "bad_request", "message": f"unknown message type {kind!r}"})
    finally:
        sender.cancel()
        for topic in topics:
            hub.unsubscribe(topic.lower(), queue)
