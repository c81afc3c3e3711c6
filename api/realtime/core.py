"""The realtime core every face uses (docs/realtime.md): one `Connection` per client socket.

Placeholder of branch h-rtfaces: the minimal contract (notes: realtime-contract) over today's Hub,
enough for the GraphQL and Socket.IO faces and their tests. h-rtcore owns the real one.
"""

from __future__ import annotations

import asyncio
import re
import time
from uuid import UUID

import orjson

from api.auth import principal
from models.content import visibility
from models.core.errors import DomainError
from models.messaging import messages, presence

_TOPIC = re.compile(r"^(post|presence):([0-9a-fA-F-]{36})$")
MAX_MESSAGE_BYTES = 64 * 1024
MAX_TOPICS = 100
MESSAGES_PER_SECOND = 20


class RealtimeError(Exception):
    def __init__(self, code: str, message: str, close_code: int | None = None):
        super().__init__(message)
        self.code, self.message, self.close_code = code, message, close_code


class ConnectionClosed(RealtimeError):
    pass


class Connection:
    """One client socket, whatever its face (/ws, GraphQL subscriptions, Socket.IO)."""

    def __init__(self, app, user_id: UUID, session_id, face: str):
        self.app, self.user_id, self.session_id, self.face = app, user_id, session_id, face
        self.svc, self.hub = app.config["SERVICES"], app.config["HUB"]
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.topics: set[str] = set()
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
        self._window, self._count = 0, 0
        self._presence: str | None = None
        self._alive: asyncio.Task | None = None

    @classmethod
    async def open(cls, app, token: str | None, *, face: str) -> Connection:
        try:
            async with app.app_context():
                who = await principal(token)
        except DomainError as exc:
            raise RealtimeError(exc.code, exc.message, close_code=4401) from None
        conn = cls(app, who.user_id, who.session_id, face)
        conn._presence = await presence.connected(conn.svc, conn.user_id)
        own = f"user:{conn.user_id}"
        conn.topics.add(own)
        await conn.hub.subscribe(own, conn._queue)
        conn._alive = asyncio.create_task(presence.keepalive(conn.svc, conn.user_id, conn._presence))
        return conn

    async def subscribe(self, topic: str) -> None:
        m = _TOPIC.match(topic) if isinstance(topic, str) else None
        if m is None:
            raise RealtimeError("bad_topic", "topic must be post:<uuid> or presence:<uuid>")
        kind, target = m.group(1), UUID(m.group(2))
        try:
            if kind == "post":
                await visibility.get_visible_post(self.svc, self.user_id, target)
            else:
                await presence.ensure_may_see(self.svc, self.user_id, target)
        except DomainError as exc:
            raise RealtimeError(exc.code, exc.message) from None
        channel = f"{kind}:{target}"
        if channel in self.topics:
            return
        if len(self.topics) > MAX_TOPICS:
            raise RealtimeError("too_many_topics", f"at most {MAX_TOPICS} topics per socket")
        self.topics.add(channel)
        await self.hub.subscribe(channel, self._queue)

    async def unsubscribe(self, topic: str) -> None:
        m = _TOPIC.match(topic) if isinstance(topic, str) else None
        if m is None:
            raise RealtimeError("bad_topic", "topic must be post:<uuid> or presence:<uuid>")
        channel = f"{m.group(1)}:{UUID(m.group(2))}"
        if channel in self.topics:
            self.topics.discard(channel)
            self.hub.unsubscribe(channel, self._queue)

    def admit(self, size: int) -> None:
        if size > MAX_MESSAGE_BYTES:
            raise RealtimeError("message_too_large", f"messages are at most {MAX_MESSAGE_BYTES} bytes", 1009)
        second = int(time.monotonic())
        if second != self._window:
            self._window, self._count = second, 0
        self._count += 1
        if self._count > MESSAGES_PER_SECOND:
            raise RealtimeError("rate_limited", f"at most {MESSAGES_PER_SECOND} messages per second")

    async def typing(self, conversation_id: str) -> None:
        try:
            await messages.typing(self.svc, self.user_id, UUID(str(conversation_id)))
        except ValueError:
            raise RealtimeError("bad_request", "conversation_id must be a UUID") from None
        except DomainError as exc:
            raise RealtimeError(exc.code, exc.message) from None

    async def next_push(self) -> dict:
        while True:
            if self.closed.is_set():
                raise ConnectionClosed(self.close_reason or "closed", "the connection is closed", self.close_code)
            get = asyncio.ensure_future(self._queue.get())
            ended = asyncio.ensure_future(self.closed.wait())
            try:
                await asyncio.wait((get, ended), return_when=asyncio.FIRST_COMPLETED)
            finally:
                ended.cancel()
                if not get.done():
                    get.cancel()
            if get.done() and not get.cancelled():
                try:
                    return orjson.loads(get.result())
                except orjson.JSONDecodeError:
                    continue

    async def close(self) -> None:
        if self._alive is None:
            return
        self._alive.cancel()
        self._alive = None
        if self._presence is not None:
            presence.disconnected(self.svc, self.user_id, self._presence)
        for channel in self.topics:
            self.hub.unsubscribe(channel, self._queue)
        self.topics.clear()
        self.closed.set()
