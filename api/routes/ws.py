"""GET /ws: authenticated websocket; clients subscribe to topics such as `post:<id>`."""

from __future__ import annotations

import asyncio
import re
from uuid import UUID

import orjson
from quart import Blueprint, current_app, websocket

from api.auth import user_from_token
from api.cors import exempt as cors_exempt
from models.core.errors import DomainError
from models.messaging import messages, presence

bp = Blueprint("ws", __name__)

_TOPIC = re.compile(r"^(post|presence):[0-9a-fA-F-]{36}$")
AUTH_TIMEOUT = 10.0


async def _send(obj: dict) -> None:
    await websocket.send(orjson.dumps(obj).decode())


async def _authenticate():
    token = websocket.args.get("token")
    if not token:
        try:
            first = orjson.loads(await asyncio.wait_for(websocket.receive(), AUTH_TIMEOUT))
        except (TimeoutError, orjson.JSONDecodeError):
            first = {}
        token = first.get("token") if isinstance(first, dict) and first.get("type") == "auth" else None
    return await user_from_token(token)


async def _typing(user_id, conversation_id) -> None:
    try:
        await messages.typing(current_app.config["SERVICES"], user_id, UUID(str(conversation_id)))
    except ValueError:
        await _send({"type": "error", "code": "bad_request", "message": "conversation_id must be a UUID"})
    except DomainError as exc:
        await _send({"type": "error", "code": exc.code, "message": exc.message})


async def _presence_denied(user_id, topic: str) -> dict | None:
    """`presence:<id>` is for those who may see that presence (checked when subscribing)."""
    if not topic.startswith("presence:"):
        return None
    try:
        await presence.ensure_may_see(current_app.config["SERVICES"], user_id, UUID(topic[len("presence:") :]))
    except ValueError:
        return {"type": "error", "code": "bad_topic", "message": "topic must be presence:<uuid>"}
    except DomainError as exc:
        return {"type": "error", "code": exc.code, "message": exc.message}
    return None


@bp.websocket("/ws")
@cors_exempt
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
    # every socket hears its owner's own channel (e.g. media.status pushes, models/media/videos.py)
    own = f"user:{user_id}"
    topics: set[str] = {own}

    async def pump():
        while True:
            await websocket.send(await queue.get())

    svc = current_app.config["SERVICES"]
    conn = await presence.connected(svc, user_id)
    await hub.subscribe(own, queue)  # once it hears its own channel, the socket counts as online
    sender = asyncio.create_task(pump())
    alive = asyncio.create_task(presence.keepalive(svc, user_id, conn))
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
                    await _send(
                        {
                            "type": "error",
                            "code": "bad_topic",
                            "message": "topic must be post:<uuid> or presence:<uuid>",
                        }
                    )
                elif kind == "subscribe" and (denied := await _presence_denied(user_id, topic)):
                    await _send(denied)
                elif kind == "subscribe":
                    topics.add(topic)
                    await hub.subscribe(topic.lower(), queue)
                    await _send({"type": "subscribed", "topic": topic})
                else:
                    topics.discard(topic)
                    hub.unsubscribe(topic.lower(), queue)
                    await _send({"type": "unsubscribed", "topic": topic})
            elif kind == "ping":
                await _send({"type": "pong"})
            elif (
                kind == "typing"
            ):  # {"type": "typing", "conversation_id"}: pushed to the peer (models/messaging/messages.py)
                await _typing(user_id, msg.get("conversation_id"))
            elif kind != "auth":
                await _send({"type": "error", "code": "bad_request", "message": f"unknown message type {kind!r}"})
    finally:
        sender.cancel()
        alive.cancel()
        presence.disconnected(svc, user_id, conn)
        for topic in topics:
            hub.unsubscribe(topic.lower(), queue)
