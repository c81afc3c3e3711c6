"""GET /ws: the plain JSON websocket face of the realtime core (api/realtime/core.py).

The protocol (every message, push, error code and close code) is docs/realtime-protocol.md.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from quart import Blueprint, current_app, websocket

from api.cors import exempt as cors_exempt
from api.realtime.core import CLOSE_UNAUTHORIZED, Connection, ConnectionClosed, Push, RealtimeError

bp = Blueprint("ws", __name__)
log = logging.getLogger(__name__)


async def _send(obj: dict) -> None:
    # a hub push is relayed as published: serialized once for all its sockets
    await websocket.send(obj.text if isinstance(obj, Push) else orjson.dumps(obj).decode())


async def _refuse(exc: RealtimeError) -> None:
    await _send(exc.as_push())
    await websocket.close(exc.close_code or CLOSE_UNAUTHORIZED, exc.code)


def _size(raw: str | bytes) -> int:
    return len(raw) if isinstance(raw, bytes) else len(raw.encode())


async def _first_token(limit: int, timeout: float) -> str | None:
    """The token of the first message, `{"type": "auth", "token": …}`."""
    try:
        raw = await asyncio.wait_for(websocket.receive(), timeout)
    except TimeoutError:
        raise RealtimeError("unauthorized", 'send {"type": "auth", "token": …} first', CLOSE_UNAUTHORIZED) from None
    if _size(raw) > limit:
        raise RealtimeError("message_too_large", f"messages are at most {limit} bytes", 1009)
    try:
        first = orjson.loads(raw)
    except orjson.JSONDecodeError:
        first = None
    if not isinstance(first, dict) or first.get("type") != "auth" or not isinstance(first.get("token"), str):
        raise RealtimeError("unauthorized", 'the first message must be {"type": "auth", "token": …}', 4401)
    return first["token"]


@bp.websocket("/ws")
@cors_exempt
async def ws():
    await websocket.accept()
    settings = current_app.config["SETTINGS"]
    try:
        # Old clients put the token in the URL (never logged: infra/logs.py redacts it).
        token = websocket.args.get("token") or await _first_token(
            settings.realtime_max_message_bytes, settings.realtime_auth_timeout
        )
        conn = await Connection.open(current_app, token, face="ws")
    except RealtimeError as exc:
        await _refuse(exc)
        return
    tasks: list[asyncio.Task] = []
    try:
        await _send({"type": "authenticated", "user_id": str(conn.user_id)})
        tasks = [asyncio.create_task(_pump(conn)), asyncio.create_task(_serve(conn))]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        ended = done.pop().result()  # a server exception propagates (and is logged) as before
        await _refuse(ended)
    finally:
        for task in tasks:
            task.cancel()
        await conn.close()


async def _pump(conn: Connection) -> RealtimeError:
    while True:
        try:
            push = await conn.next_push()
        except ConnectionClosed as exc:
            return exc
        await _send(push)


async def _serve(conn: Connection) -> RealtimeError:
    """The client's messages, until one must close the socket (or the client goes)."""
    while True:
        raw = await websocket.receive()
        try:
            conn.admit(_size(raw))
            reply = await _handle(conn, raw)
        except RealtimeError as exc:
            if exc.close_code is not None:
                return exc
            reply = exc.as_push()
        except Exception:  # a dependency failed: this request fails, the socket stays
            log.exception("websocket request failed")
            reply = {"type": "error", "code": "unavailable", "message": "try again in a moment"}
        if reply is not None:
            await _send(reply)


async def _handle(conn: Connection, raw: str | bytes) -> dict | None:
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RealtimeError("bad_request", "messages are JSON objects") from None
    if not isinstance(msg, dict):
        raise RealtimeError("bad_request", "messages are JSON objects")
    kind = msg.get("type")
    if kind == "subscribe":
        await conn.subscribe(msg.get("topic"))  # type: ignore[arg-type]
        return {"type": "subscribed", "topic": msg["topic"]}
    if kind == "unsubscribe":
        await conn.unsubscribe(msg.get("topic"))  # type: ignore[arg-type]
        return {"type": "unsubscribed", "topic": msg["topic"]}
    if kind == "ping":
        return {"type": "pong"}
    if kind == "typing":  # pushed to the conversation's peer
        await conn.typing(msg.get("conversation_id"))  # type: ignore[arg-type]
        return None
    if kind == "auth":  # in-band re-authentication: a fresh token before the current one expires
        await conn.reauthenticate(msg.get("token") if isinstance(msg.get("token"), str) else None)
        return {"type": "authenticated", "user_id": str(conn.user_id)}
    raise RealtimeError("bad_request", f"unknown message type {kind!r}")
