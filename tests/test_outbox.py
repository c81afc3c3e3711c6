"""State changes publish their events only after the transaction commits."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import orjson
from aiokafka import AIOKafkaConsumer

from models.core.topics import POSTS, USERS
from tests.conftest import create_post, register


async def _collect(bootstrap: str, topic: str, want, timeout: float = 15.0) -> list[dict]:
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


async def test_created_post_and_user_reach_the_broker_after_commit(client, stack_env):
    user = await register(client)
    post_id = await create_post(client, user, caption="outboxed")
    posts = await _collect(
        stack_env["KAFKA_BOOTSTRAP"], POSTS.name, lambda evs: any(e["payload"]["post_id"] == post_id for e in evs)
    )
    event = next(e for e in posts if e["payload"]["post_id"] == post_id)
    assert event["type"] == "post.created" and event["actor"] == user["user"]["id"]
    assert event["payload"]["caption"] == "outboxed"
    users = await _collect(
        stack_env["KAFKA_BOOTSTRAP"],
        USERS.name,
        lambda evs: any(e["payload"]["user_id"] == user["user"]["id"] for e in evs),
    )
    assert [e["type"] for e in users if e["payload"]["user_id"] == user["user"]["id"]] == ["user.registered"]


async def test_a_rolled_back_registration_publishes_nothing(client, stack_env):
    user = await register(client)
    dup_name = f"dup{uuid4().hex[:6]}"
    r = await client.post(
        "/auth/register", json={"email": user["user"]["email"], "password": "password123", "username": dup_name}
    )
    assert r.status_code == 409
    events = await _collect(
        stack_env["KAFKA_BOOTSTRAP"],
        USERS.name,
        lambda evs: any(e["payload"]["user_id"] == user["user"]["id"] for e in evs),
    )
    assert not [e for e in events if e["payload"].get("username") == dup_name]
