"""State changes publish their events only after the transaction commits."""

from __future__ import annotations

from uuid import uuid4

from models.core.topics import POSTS, USERS
from tests.support.broker import collect
from tests.support.factories import create_post, register


async def test_created_post_and_user_reach_the_broker_after_commit(client, stack_env):
    user = await register(client)
    post_id = await create_post(client, user, caption="outboxed")
    posts = await collect(
        stack_env["KAFKA_BOOTSTRAP"], POSTS.name, lambda evs: any(e["payload"]["post_id"] == post_id for e in evs)
    )
    event = next(e for e in posts if e["payload"]["post_id"] == post_id)
    assert event["type"] == "post.created" and event["actor"] == user["user"]["id"]
    assert event["payload"]["caption"] == "outboxed"
    users = await collect(
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
    events = await collect(
        stack_env["KAFKA_BOOTSTRAP"],
        USERS.name,
        lambda evs: any(e["payload"]["user_id"] == user["user"]["id"] for e in evs),
    )
    assert not [e for e in events if e["payload"].get("username") == dup_name]
