"""One socket's realtime pushes shared by its GraphQL subscriptions.

A graphql-transport-ws socket holds one core `Connection` (api/realtime/core.py) and runs any
number of operations on it; each operation listens for the pushes it maps to a field. Topics are
counted per operation so completing one does not stop another watching the same post.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

from api.realtime.core import Connection, RealtimeError
from models.core.errors import DomainError

Keep = Callable[[dict], bool]


class Listener:
    def __init__(self, topic: str | None, keep: Keep):
        self.topic, self.keep = topic, keep
        self.queue: asyncio.Queue[dict | RealtimeError] = asyncio.Queue(maxsize=1000)


class Pushes:
    """An operation's pushes; `aclose` releases its topic even if it was never iterated."""

    def __init__(self, feed: Feed, listener: Listener):
        self.feed, self.listener = feed, listener

    def __aiter__(self) -> Pushes:
        return self

    async def __anext__(self) -> dict:
        item = await self.listener.queue.get()
        if isinstance(item, RealtimeError):  # the right to the topic ended (subscription.ended)
            raise DomainError(item.message, code=item.code)
        return item

    async def aclose(self) -> None:
        await self.feed.release(self.listener)


class Feed:
    def __init__(self, conn: Connection):
        self.conn = conn
        self._listeners: set[Listener] = set()
        self._topics: Counter[str] = Counter()

    async def listen(self, topic: str | None, keep: Keep) -> Pushes:
        """Authorizes and subscribes `topic` (None: the user's own channel, always heard) before
        returning, so an error reaches the client as the operation's `error`, and no push sent
        after the client got its first answer is missed."""
        if topic is not None:
            try:
                topic = await self.conn.subscribe(topic)  # canonical, as pushes name it
            except RealtimeError as exc:
                raise DomainError(exc.message, code=exc.code) from None
            self._topics[topic] += 1
        listener = Listener(topic, keep)
        self._listeners.add(listener)
        return Pushes(self, listener)

    async def release(self, listener: Listener) -> None:
        if listener not in self._listeners:
            return
        self._listeners.discard(listener)
        topic = listener.topic
        if topic is not None:
            self._topics[topic] -= 1
            if self._topics[topic] <= 0:
                del self._topics[topic]
                await self.conn.unsubscribe(topic)

    async def run(self) -> None:
        """Hands each push to the operations that keep it; returns (ConnectionClosed) when the
        core ends the connection."""
        while True:
            push = await self.conn.next_push()
            if push.get("type") == "subscription.ended":  # the core stopped the topic: its operations end
                ended = RealtimeError(str(push.get("code")), str(push.get("message")))
                for listener in [x for x in self._listeners if x.topic == push.get("topic")]:
                    listener.queue.put_nowait(ended)
                self._topics.pop(str(push.get("topic")), None)
                continue
            for listener in list(self._listeners):
                if listener.keep(push):
                    try:
                        listener.queue.put_nowait(push)
                    except asyncio.QueueFull:  # a slow client drops updates rather than stalling others
                        pass
