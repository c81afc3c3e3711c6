"""Notifications: the agent fed events directly (no broker) against the real PostgreSQL and Redis
(aggregation, redelivery, self / blocked / muted, windows, kinds, read state, paging), then end
to end through the real broker and worker with a websocket push."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

import orjson
import websockets

from models.content.posts import Post
from models.core.base import utcnow
from models.core.events import Event, Received, new_id, received
from models.messaging import notifications
from models.social import blocking, mutes
from streams.agents.notifications import notifications as notifications_agent
from tests.support.factories import create_post, user
from tests.support.realtime import subscribed
from tests.support.waiting import wait_for


async def post_of(svc, author: dict) -> UUID:
    pid = new_id()
    async with svc.sessions() as s, s.begin():
        s.add(Post(id=pid, author_id=author["id"], caption="", visibility="public", kind="post", created_at=utcnow()))
    return pid


def ev(etype: str, payload: dict, at: datetime | None = None) -> Received:
    e = Event(etype, {k: str(v) if isinstance(v, UUID) else v for k, v in payload.items()}, ts=at or datetime.now(UTC))
    return received(e)


def like(post: UUID, u: dict, added: bool = True, rtype: str = "like", at=None) -> dict:
    return ev(
        "reaction.added" if added else "reaction.removed", {"post_id": post, "user_id": u["id"], "type": rtype}, at
    )


async def mine(svc, u: dict) -> list[dict]:
    return (await notifications.list_for(svc, u["id"], limit=100))["items"]


async def test_likes_aggregate_into_one_notification_and_redelivery_never_double_counts(client, svc):
    author, *fans = [await user(client) for _ in range(14)]
    post = await post_of(svc, author)
    batch = [like(post, f) for f in fans[:10]]
    await notifications_agent(batch, svc)
    await notifications_agent(batch, svc)  # the whole batch redelivered
    await notifications_agent(batch[3:] + [like(post, f) for f in fans[10:]] + batch[:2], svc)
    # one fan reacting again, in another way, and taking a like back: still one actor
    await notifications_agent([like(post, fans[0], added=False), like(post, fans[0], rtype="love")], svc)
    [n] = await mine(svc, author)
    assert (n["kind"], n["target_id"], n["post_id"]) == ("reaction", str(post), str(post))
    assert n["actor_count"] == 13 and n["event_count"] == 14
    assert [a["id"] for a in n["actors"]] == [str(fans[0]["id"]), str(fans[12]["id"]), str(fans[11]["id"])]
    assert n["text"] == f"{fans[0]['user']['username']} and 12 others reacted to your post"
    assert not n["read"]


async def test_no_notification_to_yourself_nor_from_blocked_or_muted(client, svc):
    author, blocked, blocker, muted, fan = [await user(client) for _ in range(5)]
    post = await post_of(svc, author)
    await blocking.block(svc, blocker_id=author["id"], target_id=blocked["id"])
    await blocking.block(svc, blocker_id=blocker["id"], target_id=author["id"])
    await mutes.mute(svc, muter_id=author["id"], target_id=muted["id"])
    await notifications_agent([like(post, u) for u in (author, blocked, blocker, muted)], svc)
    assert await mine(svc, author) == []
    await notifications_agent([like(post, fan)], svc)
    [n] = await mine(svc, author)
    assert n["actor_count"] == 1 and n["text"] == f"{fan['user']['username']} reacted to your post"


async def test_windows_kinds_and_read_state(client, svc):
    author, a, b, c = [await user(client) for _ in range(4)]
    post = await post_of(svc, author)
    window = svc.settings.notification_window
    await notifications_agent([like(post, a, at=utcnow() - 2 * window), like(post, b)], svc)
    assert [n["actor_count"] for n in await mine(svc, author)] == [1, 1]  # two windows, two notifications

    comment = new_id()
    created = {
        "comment_id": comment,
        "post_id": post,
        "author_id": a["id"],
        "post_author_id": author["id"],
        "body": "@x",
        "mentions": [str(b["id"]), str(author["id"])],
        "new_mentions": [str(b["id"]), str(author["id"])],
    }
    reply = {
        "comment_id": new_id(),
        "post_id": post,
        "author_id": c["id"],
        "post_author_id": author["id"],
        "parent_id": str(comment),
        "parent_author_id": str(a["id"]),
        "body": "re",
        "mentions": [],
        "new_mentions": [],
    }
    await notifications_agent([ev("comment.created", created), ev("comment.created", reply)], svc)
    await notifications_agent(
        [
            ev("follow.added", {"follower_id": a["id"], "followee_id": author["id"]}),
            ev("follow.added", {"follower_id": b["id"], "followee_id": author["id"]}),
            ev("follow.removed", {"follower_id": c["id"], "followee_id": author["id"]}),
        ],
        svc,
    )
    conv = new_id()
    msgs = [
        ev(
            "message.sent",
            {"message_id": new_id(), "conversation_id": conv, "sender_id": c["id"], "recipient_id": author["id"]},
        )
        for _ in range(3)
    ]
    await notifications_agent(msgs, svc)

    by_kind = {}
    for n in await mine(svc, author):
        by_kind.setdefault(n["kind"], []).append(n)
    # the post's author gets one notice per comment (comment beats mention); the mentioned user a mention
    assert by_kind["comment"][0]["actor_count"] == 2 and "mention" not in by_kind
    assert [n["kind"] for n in await mine(svc, b)] == ["mention"]
    assert [(n["kind"], n["target_id"]) for n in await mine(svc, a)] == [("reply", str(comment))]
    assert by_kind["follow"][0]["text"] == f"{b['user']['username']} and {a['user']['username']} started following you"
    assert by_kind["message"][0]["text"] == f"{c['user']['username']} sent you 3 messages"

    page = await notifications.list_for(svc, author["id"], limit=2)
    assert page["unread_count"] == 5
    rest = await notifications.list_for(svc, author["id"], cursor=page["next_cursor"], limit=10)
    listed = [n["id"] for n in page["items"] + rest["items"]]
    assert len(listed) == len(set(listed)) == 5 and rest["next_cursor"] is None

    done = await notifications.mark_read(svc, author["id"], ids=[UUID(by_kind["comment"][0]["id"])])
    assert done == {"updated": 1, "unread_count": 4}
    assert (await notifications.mark_read(svc, author["id"], everything=True))["unread_count"] == 0
    # a new actor on a read notification makes it unread again and moves it to the top
    await notifications_agent([ev("follow.added", {"follower_id": c["id"], "followee_id": author["id"]})], svc)
    top = (await mine(svc, author))[0]
    assert (top["kind"], top["actor_count"], top["read"]) == ("follow", 3, False)
    assert await notifications.unread_count(svc, author["id"]) == 1


async def test_end_to_end_through_the_worker_with_a_live_push(client, worker, api, svc):
    author, fan, friend = [await user(client) for _ in range(3)]
    post = await create_post(client, author)
    async with websockets.connect(api.replace("http", "ws") + f"/ws?token={author['access_token']}") as ws:
        assert orjson.loads(await ws.recv())["type"] == "authenticated"
        await wait_for(lambda: subscribed(svc.redis, author["id"]), what="the author's channel subscribed")
        r = await client.post("/interactions/reactions", json={"post_id": post, "type": "like"}, headers=fan["headers"])
        assert r.status_code == 202
        while True:
            msg = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
            if msg["type"] == "notification":
                break
        assert msg["notification"]["kind"] == "reaction" and msg["notification"]["post_id"] == post
    r = await client.post(
        "/interactions/messages", json={"to_user_id": str(author["id"]), "body": "hello"}, headers=friend["headers"]
    )
    assert r.status_code == 201
    r = await client.post(f"/users/{author['id']}/follow", headers=friend["headers"])
    assert r.status_code == 202

    async def kinds():
        r = await client.get("/notifications", headers=author["headers"])
        return {n["kind"] for n in r.json()["items"]} == {"reaction", "message", "follow"} and r.json()

    page = await wait_for(kinds, timeout=30, what="three notifications")
    assert page["unread_count"] == 3
    r = await client.post("/notifications/read", json={"all": True}, headers=author["headers"])
    assert r.json() == {"updated": 3, "unread_count": 0}
    r = await client.post("/notifications/read", json={}, headers=author["headers"])
    assert r.status_code == 422
    r = await client.get("/notifications/unread-count", headers=author["headers"])
    assert r.json() == {"unread_count": 0}
