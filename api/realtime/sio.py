"""Socket.IO v4 at /socket.io/ (python-socketio's ASGI server beside Quart), a thin face over the
realtime core: `io(url, {auth: {token}})`, `subscribe`/`unsubscribe`/`typing` acknowledged with
{ok: true} or {ok: false, code, message}, each push emitted as an event named by its /ws type.

Fan-out goes through our Hub (Redis), not python-socketio's Redis manager: one subscription
model, one set of authorization and limits for every face, and any replica serves any socket.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qs

import orjson
import socketio

from api.realtime.core import Connection, ConnectionClosed, RealtimeError

log = logging.getLogger(__name__)


def _size(data) -> int:
    try:
        return len(orjson.dumps(data))
    except TypeError:  # binary attachments: counted by Engine.IO's own cap (max_http_buffer_size)
        return 0


def _refused(code: str, message: str) -> dict:
    return {"ok": False, "code": code, "message": message}


def create_server(app) -> socketio.AsyncServer:
    """The Socket.IO server for the Quart `app` (its HUB and SERVICES, set at start-up)."""
    sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
    conns: dict[str, Connection] = {}
    pumps: dict[str, asyncio.Task] = {}

    async def pump(sid: str, conn: Connection) -> None:
        try:
            while True:
                push = await conn.next_push()
                await sio.emit(str(push.get("type", "push")), push, to=sid)
        except ConnectionClosed as exc:  # revoked session, limits: tell the client why, then end
            await sio.emit("error", {"type": "error", "code": exc.code, "message": exc.message}, to=sid)
            await sio.disconnect(sid)

    async def end_after(sid: str, exc: RealtimeError) -> None:
        await sio.emit("error", {"type": "error", "code": exc.code, "message": exc.message}, to=sid)
        await sio.disconnect(sid)

    @sio.event
    async def connect(sid, environ, auth=None):
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:  # old clients: ?token= (never logged)
            token = (parse_qs(environ.get("QUERY_STRING", "")).get("token") or [None])[0]
        try:
            conn = await Connection.open(app, token, face="socketio")
        except RealtimeError as exc:  # the client's connect_error: err.data = {code, message}
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code, "message": exc.message}
            ) from None
        conns[sid] = conn
        pumps[sid] = asyncio.create_task(pump(sid, conn))

    @sio.event
    async def disconnect(sid, reason=None):
        task, conn = pumps.pop(sid, None), conns.pop(sid, None)
        if task is not None:
            task.cancel()
        if conn is not None:
            await conn.close()

    async def guarded(sid: str, data, action) -> dict:
        conn = conns.get(sid)
        if conn is None:
            return _refused("unauthorized", "not connected")
        try:
            conn.admit(_size(data))
            await action(conn)
        except RealtimeError as exc:
            if exc.close_code is not None:
                asyncio.create_task(end_after(sid, exc))
            return _refused(exc.code, exc.message)
        return {"ok": True}

    def topic_of(data) -> str:
        topic = data.get("topic") if isinstance(data, dict) else None
        if not isinstance(topic, str):
            raise RealtimeError("bad_request", "send {topic: 'post:<id>' | 'presence:<id>'}")
        return topic

    @sio.on("subscribe")
    async def subscribe(sid, data=None):
        return await guarded(sid, data, lambda conn: conn.subscribe(topic_of(data)))

    @sio.on("unsubscribe")
    async def unsubscribe(sid, data=None):
        return await guarded(sid, data, lambda conn: conn.unsubscribe(topic_of(data)))

    async def _typing(conn: Connection, data) -> None:
        cid = data.get("conversation_id") if isinstance(data, dict) else None
        if not isinstance(cid, str):
            raise RealtimeError("bad_request", "send {conversation_id}")
        await conn.typing(cid)

    @sio.on("typing")
    async def typing(sid, data=None):
        return await guarded(sid, data, lambda conn: _typing(conn, data))

    @sio.on("*")
    async def unknown(event, sid, *data):
        async def refuse(conn: Connection) -> None:
            raise RealtimeError("bad_request", f"unknown event {str(event)[:40]!r}")

        answer = await guarded(sid, list(data), refuse)
        await sio.emit("error", {"type": "error", "code": answer["code"], "message": answer["message"]}, to=sid)
        return answer

    return sio


def compose(quart_app) -> socketio.ASGIApp:
    """Socket.IO answers /socket.io/, everything else (and the lifespan) goes to Quart."""
    return socketio.ASGIApp(create_server(quart_app), other_asgi_app=quart_app, socketio_path="socket.io")
