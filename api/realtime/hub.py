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
        self._pending: asyncio.Queue[tuple[str, str, asyncio.Future | None]] = asyncio.Queue()
        self._subscribing: dict[str, asyncio.Future] = {}

    async def subscribe(self, channel: str, queue: asyncio.Queue, timeout: float = 5.0) -> None:
        """Returns once Redis has the SUBSCRIBE: pub/sub keeps no history, so a client told
        "subscribed" earlier could miss a message published in between."""
        first = not self.local[channel]
        self.local[channel].add(queue)
        if first:
            done = self._subscribing.get(channel)
            if done is None or done.done():  # an unsettled one (unsubscribed meanwhile) is reused
                done = self._subscribing[channel] = asyncio.get_running_loop().create_future()
            self._pending.put_nowait(("subscribe", channel, done))
        done = self._subscribing.get(channel)
        if done is not None:
            try:
                await asyncio.wait_for(asyncio.shield(done), timeout)
            except TimeoutError:  # Redis is away: the hub subscribes once it is back
                pass

    def unsubscribe(self, channel: str, queue: asyncio.Queue) -> None:
        subs = self.local.get(channel)
        if subs is None:
            return
        subs.discard(queue)
        if not subs:
            del self.local[channel]
            self._pending.put_nowait(("unsubscribe", channel, None))

    async def _run(self) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                if self.local:  # (re)subscribe after a Redis reconnect
                    await pubsub.subscribe(*self.local)
                    for channel in [c for c in self._subscribing if c in self.local]:
                        self._settle(channel)
                while True:
                    while not self._pending.empty():
                        op, channel, done = self._pending.get_nowait()
                        if op == "subscribe" and channel in self.local:
                            await pubsub.subscribe(channel)
                        elif op == "unsubscribe" and channel not in self.local:
                            await pubsub.unsubscribe(channel)
                        if done is not None:
                            self._settle(channel)
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

    def _settle(self, channel: str) -> None:
        done = self._subscribing.pop(channel, None)
        if done is not None and not done.done():
            done.set_result(None)

    def _deliver(self, channel: str, data: bytes) -> None:
        text = data.decode()
        for q in list(self.local.get(channel, ())):
            try:
                q.put_nowait(text)
            except asyncio.QueueFull:  # a slow client drops updates rather than stalling others
                pass


async def publish(redis, channel: str, message: bytes) -> None:
    await redis.publish(channel, message)
