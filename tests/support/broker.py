"""Reading what reached the broker."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import orjson
from aiokafka import AIOKafkaConsumer


async def collect(bootstrap: str, topic: str, want, timeout: float = 15.0) -> list[dict]:
    """The messages of `topic` from its start (a fresh consumer group), until `want(found)` holds
    or `timeout` passes."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"outbox-test-{uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    found: list[dict] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and not want(found):
            for recs in (await consumer.getmany(timeout_ms=200)).values():
                found += [orjson.loads(r.value) for r in recs]
    finally:
        await consumer.stop()
    return found
