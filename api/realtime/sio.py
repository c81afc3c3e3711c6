"""Socket.IO v4 at /socket.io/ (python-socketio's ASGI server beside Quart), a thin face over the
realtime core: `io(url, {auth: {token}})`, `subscribe`/`unsubscribe`/`typing`/`auth` acknowledged with
{ok: true} or {ok: false, code, message}, each push emitted as an event named by its /ws type.

Fan-out goes through our Hub (Redis), not python-socketio's Redis manager: one subscription
model, one set of authorization and limits for every face, and any replica serves any socket.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from urllib.parse import parse_qs

import orjson
import socketio
from socketio import packet

from api.realtime.core import Connection, ConnectionClosed, RealtimeError

log = logging.getLogger(__name__)


def _size(data) -> int:
    try:
        return len(orjson.dumps(data))
    except TypeError:  # binary attachments: counted by Engine.IO's own cap (max_http_buffer_size)
        return 0


def _refused(code: str, message: str) -> dict:
    return {"ok": False, "code": code, "message": message}


BAD_PACKET = {"type": "error", "code": "bad_request", "message": "not a valid Socket.IO packet"}


def _socketio_ok(packet_class, data: str) -> bool:
    """python-socketio raises on packets it cannot decode or whose event is not [name, ...]."""
    try:
        pkt = packet_class(encoded_packet=data)
    except Exception:
        return False
    if pkt.packet_type in (packet.EVENT, packet.BINARY_EVENT):
        return isinstance(pkt.data, list) and bool(pkt.data) and isinstance(pkt.data[0], str)
    if pkt.packet_type in (packet.ACK, packet.BINARY_ACK):
        return isinstance(pkt.data, list)
    return pkt.packet_type in (packet.CONNECT, packet.DISCONNECT) and (pkt.data is None or isinstance(pkt.data, dict))


class Server(socketio.AsyncServer):
    async def _handle_eio_message(self, eio_sid, data):
        # Engine.IO hands over JSON it could parse as JSON (a Socket.IO packet never is: it starts
        # with its type digit), bytes are binary attachments
        if not isinstance(data, bytes) and not (isinstance(data, str) and _socketio_ok(self.packet_class, data)):
            sid = self.manager.sid_from_eio_sid(eio_sid, "/")
            if sid is not None:  # told why, then ended (as socket.io's own server ends a parse error)
                await self.emit("error", BAD_PACKET, to=sid)
            await self.eio.disconnect(eio_sid)
            return
        await super()._handle_eio_message(eio_sid, data)


def create_server(app) -> socketio.AsyncServer:
    """The Socket.IO server for the Quart `app` (its HUB and SERVICES, set at start-up)."""
    sio = Server(async_mode="asgi", logger=False, engineio_logger=False)
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

    async def _reauth(conn: Connection, data) -> None:
        token = data.get("token") if isinstance(data, dict) else None
        await conn.reauthenticate(token if isinstance(token, str) else None)

    @sio.on("auth")  # in-band re-authentication: a fresh token before the current one expires
    async def auth(sid, data=None):
        return await guarded(sid, data, lambda conn: _reauth(conn, data))

    @sio.on("*")
    async def unknown(event, sid, *data):
        async def refuse(conn: Connection) -> None:
            raise RealtimeError("bad_request", f"unknown event {str(event)[:40]!r}")

        answer = await guarded(sid, list(data), refuse)
        await sio.emit("error", {"type": "error", "code": answer["code"], "message": answer["message"]}, to=sid)
        return answer

    return sio


_ENGINEIO_TYPES = frozenset("0123456")
_BAD_FRAME = '42["error",' + orjson.dumps(BAD_PACKET).decode() + "]"


def _engineio_ok(text: str) -> bool:
    return bool(text) and text[0] in _ENGINEIO_TYPES


class FrameGuard:
    """python-engineio raises (and logs a traceback) on frames that are not Engine.IO packets:
    such a frame is answered here instead. Over websocket the client is told (an `error` event)
    and the session ends; a long-polling POST of them is a 400."""

    def __init__(self, app, path: str = "/socket.io/"):
        self.app, self.path = app, path

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and scope["path"].startswith(self.path):
            await self.app(scope, self._ws_receive(receive, send), send)
        elif scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith(self.path):
            await self._post(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _ws_receive(self, receive, send):
        async def guarded():
            event = await receive()
            text = event.get("text") if event["type"] == "websocket.receive" else None
            if text is not None and not _engineio_ok(text):
                await send({"type": "websocket.send", "text": _BAD_FRAME})
                # as if the client left: Engine.IO ends the session, the server closes the socket
                return {"type": "websocket.disconnect", "code": 1003}
            return event

        return guarded

    async def _post(self, scope, receive, send):
        chunks, more = [], True
        while more:
            event = await receive()
            if event["type"] != "http.request":
                return
            chunks.append(event.get("body", b""))
            more = event.get("more_body", False)
            if sum(map(len, chunks)) > 1_000_000:  # Engine.IO's own cap (max_http_buffer_size)
                break
        body = b"".join(chunks)
        try:
            parts = body.decode().split("\x1e")
            ok = all(
                p and (p[0] in _ENGINEIO_TYPES or (p[0] == "b" and base64.b64decode(p[1:], validate=True)))
                for p in parts
            )
        except (UnicodeDecodeError, binascii.Error):
            ok = False
        if not ok:
            out = orjson.dumps({"code": "bad_request", "message": "the body is not Engine.IO packets"})
            await send(
                {"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": out})
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def compose(quart_app):
    """Socket.IO answers /socket.io/, everything else (and the lifespan) goes to Quart."""
    return FrameGuard(socketio.ASGIApp(create_server(quart_app), other_asgi_app=quart_app, socketio_path="socket.io"))
