"""Fan-out of Redis pub/sub channels to this process's websockets.

One Redis connection per API process, owned by one task (redis-py's PubSub is not safe to use
from several tasks), subscribed to exactly the channels some local socket wants. Any API replica
can serve any socket: workers publish to Redis, every replica relays what its clients asked for.
"""
from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from infra.background import BackgroundLoop

log = logging.getLogger(__name__)


class Hub(BackgroundLoop):
    def __init__(self, redis):
        self.redis = redis
        self.local: dict[str, set[asyncio.Queue]] = defaultdict(set)
        self._pending: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    def subscribe(self, channel: str, queue: asyncio.Queue) -> None:
        first = not self.local[channel]
        self.local[channel].add(queue)
        if first:
            self._pending.put_nowait(("subscribe", channel))

    def unsubscribe(self, channel: str, queue: asyncio.Queue) -> None:
        subs = self.local.get(channel)
        if subs is None:
            return
        subs.discard(queue)
        if not subs:
            del self.local[channel]
            self._pending.put_nowait(("unsubscribe", channel))

    async def _run(self) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                if self.local:  # (re)subscribe after a Redis reconnect
                    await pubsub.subscribe(*self.local)
                while True:
                    while not self._pending.empty():
                        op, channel = self._pending.get_nowait()
                        if op == "subscribe" and channel in self.local:
                            await pubsub.subscribe(channel)
                        elif op == "unsubscribe" and channel not in self.local:
                            await pubsub.unsubscribe(channel)
                    if not pubsub.subscribed:
                        op_channel = await self._pending.get()
                        self._pending.put_nowait(op_channel)
                        continue
                    msg = await pubsub.get_message(timeout=0.05)
                    if msg and msg["type"] == "message":
                        self._deliver(msg["channel"].decode(), msg["data"])
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except Exception as exc:
                log.warning("pubsub connection lost; reconnecting", extra={"error": repr(exc)})
                await pubsub.aclose()
                await asyncio.sleep(0.5)

    def _deliver(self, channel: str, data: bytes) -> None:
        text = data.decode()
        for q in list(self.local.get(channel, ())):
            try:
                q.put_nowait(text)
            except asyncio.QueueFull:  # a slow client drops updates rather than stalling others
                pass


async def publish(redis, channel: str, message: bytes) -> None:
    await redis.publish(channel, message)
