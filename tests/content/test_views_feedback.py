"""Views (minimum watch time, once per viewer and post per hour, retries), shares, the engagement
counters agent, and feedback (hide / not interested)."""

from __future__ import annotations

import uuid
from uuid import UUID

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from models.content import feedback
from models.core.events import Event, Received, new_id, received
from streams.agents.engagement import comment_counters, engagement_counters
from tests.support.factories import create_post, register
from tests.support.waiting import wait_for

MISSING = str(uuid.UUID(int=0))


async def counters(client, user, post) -> dict:
    r = await client.get(f"/posts/{post}/counters", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()


async def _has(client, user, post, **expected) -> bool:
    got = await counters(client, user, post)
    return all(got[k] == v for k, v in expected.items())


async def test_a_view_counts_after_the_minimum_watch_time_once_per_hour(client, worker, stack_env):
    author, fan, other = await register(client), await register(client), await register(client)
    post = await create_post(client, author)
    r = await client.post("/interactions/views", json={"post_id": post, "watched_ms": 9_999}, headers=fan["headers"])
    assert r.status_code == 200 and r.json()["counted"] is False and r.json()["reason"] == "too_short"
    first = await client.post(
        "/interactions/views", json={"post_id": post, "watched_ms": 10_000}, headers=fan["headers"]
    )
    assert first.status_code == 202 and first.json()["counted"] is True
    again = await client.post(
        "/interactions/views", json={"post_id": post, "watched_ms": 60_000}, headers=fan["headers"]
    )
    assert again.status_code == 200 and again.json() == {"counted": False, "reason": "already_counted"}
    r = await client.post("/interactions/views", json={"post_id": post, "watched_ms": 30_000}, headers=other["headers"])
    assert r.status_code == 202
    await wait_for(lambda: _has(client, fan, post, views=2), timeout=30, what="2 views counted")

    r = aioredis.from_url(stack_env["REDIS_URL"])
    try:  # the dedupe holds for one hour from the first counted view
        ttl = await r.ttl(f"view:{fan['user']['id']}:{post}")
    finally:
        await r.aclose()
    assert 3500 < ttl <= 3600


async def test_a_retry_after_a_lost_ack_sends_the_same_view_and_counts_it_once(client, worker, stack_env):
    """The broker took the view but the API never heard back: the key is left "pending". The
    client's retry re-sends the same event id, which the counters agent applies once."""
    author, fan = await register(client), await register(client)
    post = await create_post(client, author)
    eid = new_id()
    producer = AIOKafkaProducer(bootstrap_servers=stack_env["KAFKA_BOOTSTRAP"])
    await producer.start()
    try:
        first = Event(
            "view.counted",
            {"post_id": post, "user_id": fan["user"]["id"], "watched_ms": 12_000},
            actor=UUID(fan["user"]["id"]),
            id=eid,
        )
        await producer.send_and_wait("interactions.engagement", first.to_bytes(), key=post.encode())
    finally:
        await producer.stop()
    r = aioredis.from_url(stack_env["REDIS_URL"])
    try:
        await r.set(f"view:{fan['user']['id']}:{post}", f"{eid}:pending", ex=3600)
    finally:
        await r.aclose()
    retry = await client.post(
        "/interactions/views", json={"post_id": post, "watched_ms": 12_000}, headers=fan["headers"]
    )
    assert retry.status_code == 202 and retry.json() == {"counted": True, "event_id": str(eid)}
    after = await client.post(
        "/interactions/views", json={"post_id": post, "watched_ms": 12_000}, headers=fan["headers"]
    )
    assert after.json()["reason"] == "already_counted"
    # a share after both: once it is counted, the two copies of the view have been applied
    await client.post("/interactions/shares", json={"post_id": post}, headers=fan["headers"])
    await wait_for(lambda: _has(client, fan, post, shares=1), timeout=30, what="share counted")
    assert (await counters(client, fan, post))["views"] == 1


async def test_shares_count_once_per_user_and_post_per_hour(client, worker, stack_env):
    author, fan, other = await register(client), await register(client), await register(client)
    post = await create_post(client, author)
    headers = {**fan["headers"], "Idempotency-Key": "share-1"}
    a = await client.post("/interactions/shares", json={"post_id": post, "channel": "whatsapp"}, headers=headers)
    b = await client.post("/interactions/shares", json={"post_id": post, "channel": "whatsapp"}, headers=headers)
    assert a.status_code == b.status_code == 202 and a.json() == b.json() and a.json()["counted"] is True
    # farming: more shares by the same user in the hour, over REST and GraphQL, count nothing
    for channel in ("link", "dm", "x"):
        c = await client.post(
            "/interactions/shares", json={"post_id": post, "channel": channel}, headers=fan["headers"]
        )
        assert c.status_code == 200 and c.json() == {**a.json(), "counted": False, "reason": "already_counted"}
    q = (
        f'mutation {{ a: share(postId: "{post}") {{ eventId counted reason }} '
        f'b: share(postId: "{post}") {{ counted }} }}'
    )
    g = (await client.post("/graphql", json={"query": q}, headers=fan["headers"])).json()["data"]
    assert g == {
        "a": {"eventId": a.json()["event_id"], "counted": False, "reason": "already_counted"},
        "b": {"counted": False},
    }
    r = await client.post("/interactions/shares", json={"post_id": post}, headers=other["headers"])
    assert r.status_code == 202 and r.json()["counted"] is True
    await wait_for(lambda: _has(client, fan, post, shares=2), timeout=30, what="2 shares")
    r = aioredis.from_url(stack_env["REDIS_URL"])
    try:  # the window: one hour from the counted share
        ttl = await r.ttl(f"share:{fan['user']['id']}:{post}")
    finally:
        await r.aclose()
    assert 3500 < ttl <= 3600
    assert (await counters(client, fan, post))["shares"] == 2


def _env(etype: str, payload: dict, eid=None) -> Received:
    return received(Event(etype, payload, id=eid or new_id()))


async def test_engagement_agents_ignore_redelivered_events(svc):
    post, user, comment = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    view = _env("view.counted", {"post_id": str(post), "user_id": str(user), "watched_ms": 10_000})
    share = _env("share.created", {"post_id": str(post), "user_id": str(user), "channel": "link"})
    await engagement_counters([view, share, view], svc)
    await engagement_counters([view, share], svc)  # the batch redelivered
    ids = {"comment_id": str(comment), "post_id": str(post), "author_id": str(user)}
    body = {**ids, "post_author_id": str(uuid.uuid4()), "body": "first"}
    created = _env("comment.created", body)
    deleted = _env("comment.deleted", {**ids, "deleted_by": str(user)})
    edited = _env("comment.edited", {**body, "body": "edited"})
    await comment_counters([created, edited, created], svc)
    assert (await svc.store.get_counters([post]))[post] == {"view": 1, "share": 1, "comment": 1}
    await comment_counters([deleted, created], svc)  # an old event after the delete
    await comment_counters([deleted], svc)
    assert (await svc.store.get_counters([post]))[post] == {"view": 1, "share": 1, "comment": 0}


BAD = [
    ("/interactions/views", {"post_id": "{post}", "watched_ms": -1}, 422, "validation_error"),
    ("/interactions/views", {"post_id": "{post}", "watched_ms": "long"}, 422, "validation_error"),
    ("/interactions/views", {"post_id": "{post}"}, 422, "validation_error"),
    ("/interactions/views", {"post_id": MISSING, "watched_ms": 20_000}, 404, "post_not_found"),
    ("/interactions/shares", {"post_id": "{post}", "channel": "carrier pigeon"}, 422, "validation_error"),
    ("/interactions/shares", {"post_id": MISSING}, 404, "post_not_found"),
    ("/interactions/feedback", {"post_id": "{post}", "kind": "love"}, 422, "validation_error"),
    ("/interactions/feedback", {"post_id": "{post}"}, 422, "validation_error"),
    ("/interactions/feedback", {"post_id": MISSING, "kind": "hide"}, 404, "post_not_found"),
]


@pytest.mark.parametrize("path,body,status,code", BAD, ids=[f"{b[0]}-{b[3]}-{i}" for i, b in enumerate(BAD)])
async def test_bad_inputs(client, path, body, status, code):
    user = await register(client)
    post = await create_post(client, user)
    payload = {k: v.replace("{post}", post) if isinstance(v, str) else v for k, v in body.items()}
    r = await client.post(path, json=payload, headers=user["headers"])
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text


async def test_invisible_posts_cannot_be_viewed_shared_or_given_feedback(client):
    author, stranger = await register(client), await register(client)
    r = await client.post(
        "/posts", json={"caption": "followers only", "visibility": "followers"}, headers=author["headers"]
    )
    post = r.json()["id"]
    for path, body in (
        ("/interactions/views", {"watched_ms": 20_000}),
        ("/interactions/shares", {}),
        ("/interactions/feedback", {"kind": "hide"}),
    ):
        r = await client.post(path, json={"post_id": post, **body}, headers=stranger["headers"])
        assert r.status_code == 404 and r.json()["error"]["code"] == "post_not_found", path


async def test_feedback_hide_is_recorded_per_user(client, svc):
    author, a, b = await register(client), await register(client), await register(client)
    p1, p2 = await create_post(client, author), await create_post(client, author)
    r = await client.post("/interactions/feedback", json={"post_id": p1, "kind": "hide"}, headers=a["headers"])
    assert r.status_code == 201 and r.json() == {"post_id": p1, "kind": "hide"}
    r = await client.post("/interactions/feedback", json={"post_id": p1, "kind": "hide"}, headers=a["headers"])
    assert r.status_code == 200  # already recorded
    r = await client.post(
        "/interactions/feedback", json={"post_id": p2, "kind": "not_interested"}, headers=a["headers"]
    )
    assert r.status_code == 201
    ua, ub = UUID(a["user"]["id"]), UUID(b["user"]["id"])
    assert await feedback.hidden_for(svc, ua) == {UUID(p1)}
    assert await feedback.feedback_for(svc, ua) == {UUID(p1), UUID(p2)}
    assert await feedback.hidden_for(svc, ub) == set()
    r = await client.request(
        "DELETE", "/interactions/feedback", json={"post_id": p1, "kind": "hide"}, headers=a["headers"]
    )
    assert r.json() == {"removed": True}
    r = await client.request(
        "DELETE", "/interactions/feedback", json={"post_id": p1, "kind": "hide"}, headers=a["headers"]
    )
    assert r.json() == {"removed": False}
    assert await feedback.hidden_for(svc, ua) == set()


async def test_graphql_views_shares_feedback(client, worker):
    author, fan = await register(client), await register(client)
    post = await create_post(client, author)

    async def gql(query):
        return (await client.post("/graphql", json={"query": query}, headers=fan["headers"])).json()

    short = await gql(f'mutation {{ recordView(postId: "{post}", watchedMs: 500) {{ counted reason }} }}')
    assert short["data"]["recordView"] == {"counted": False, "reason": "too_short"}
    counted = await gql(f'mutation {{ recordView(postId: "{post}", watchedMs: 15000) {{ counted eventId }} }}')
    assert counted["data"]["recordView"]["counted"] is True
    shared = await gql(f'mutation {{ share(postId: "{post}", channel: "dm") {{ eventId counted }} }}')
    assert shared["data"]["share"]["eventId"] and shared["data"]["share"]["counted"] is True
    bad = await gql(f'mutation {{ share(postId: "{post}", channel: "fax") {{ eventId }} }}')
    assert bad["errors"][0]["extensions"]["code"] == "validation_error"
    assert (await gql(f'mutation {{ giveFeedback(postId: "{post}", kind: HIDE) }}'))["data"]["giveFeedback"] is True
    assert (await gql(f'mutation {{ giveFeedback(postId: "{post}", kind: HIDE) }}'))["data"]["giveFeedback"] is False
    q = f'{{ post(id: "{post}") {{ counters {{ views shares comments likes }} }} }}'

    async def counted_both():
        c = (await gql(q))["data"]["post"]["counters"]
        return c if c["views"] == 1 and c["shares"] == 1 else None

    assert await wait_for(counted_both, timeout=30, what="view and share counted") == {
        "views": 1,
        "shares": 1,
        "comments": 0,
        "likes": 0,
    }


async def test_six_reaction_types_one_of_each_per_user_and_removal(client, worker):
    author, fan = await register(client), await register(client)
    post = await create_post(client, author)
    types = ("like", "love", "laugh", "wow", "sad", "angry")
    for t in types * 2:  # each twice: still one of each
        r = await client.post("/interactions/reactions", json={"post_id": post, "type": t}, headers=fan["headers"])
        assert r.status_code == 202, r.text
    await client.request(
        "DELETE", "/interactions/reactions", json={"post_id": post, "type": "sad"}, headers=fan["headers"]
    )
    expected = {"likes": 1, "loves": 1, "laughs": 1, "wows": 1, "sads": 0, "angries": 1}
    await wait_for(lambda: _has(client, fan, post, **expected), timeout=30, what=str(expected))
    r = await client.post("/interactions/reactions", json={"post_id": post, "type": "meh"}, headers=fan["headers"])
    assert r.status_code == 422
