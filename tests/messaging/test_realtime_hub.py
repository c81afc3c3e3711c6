"""The websocket hub: "subscribed" means Redis already routes the channel here."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from api.realtime.hub import Hub


async def test_a_message_published_right_after_subscribe_is_delivered(svc):
    hub = Hub(svc.redis)
    hub.start()
    try:
        for _ in range(20):  # the race needs no luck to show: every round publishes at once
            channel, queue = f"post:{uuid4()}", asyncio.Queue()
            await hub.subscribe(channel, queue)
            assert (await svc.redis.pubsub_numsub(channel))[0][1] == 1
            await svc.redis.publish(channel, b"hello")
            assert await asyncio.wait_for(queue.get(), 5) == "hello"
            hub.unsubscribe(channel, queue)
    finally:
        await hub.stop()


async def test_a_second_local_subscriber_shares_the_redis_subscription(svc):
    hub = Hub(svc.redis)
    hub.start()
    try:
        channel, a, b = f"post:{uuid4()}", asyncio.Queue(), asyncio.Queue()
        await asyncio.gather(hub.subscribe(channel, a), hub.subscribe(channel, b))
        await svc.redis.publish(channel, b"x")
        assert await asyncio.wait_for(a.get(), 5) == "x" and await asyncio.wait_for(b.get(), 5) == "x"
    finally:
        await hub.stop()
