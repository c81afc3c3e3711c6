"""The realtime core (api/realtime/core.py) through its /ws face, with a real `websockets` client
against real API processes, Redis and PostgreSQL: sockets closed when their session ends, topics
authorized like REST reads and re-checked, the caps, bad input, the token kept out of the logs,
and two API replicas serving the same event once each."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
import websockets

from models.accounts import sessions
from models.core.events import new_id
from models.engagement import FollowChange
from tests.support.factories import register, user
from tests.support.processes import start_api
from tests.support.realtime import closed_with, next_message, open_ws, request, ws_url
from tests.support.waiting import wait_for

RECHECK = 0.3


@pytest.fixture(scope="module")
def small(stack_env, log_dir):
    """A second API process on the same stack, with small caps and a short re-check."""
    proc, base = start_api(
        stack_env,
        log_dir,
        REALTIME_MAX_TOPICS="2",
        REALTIME_MAX_SOCKETS_PER_USER="2",
        REALTIME_MAX_MESSAGES_PER_SECOND="10",
        REALTIME_MAX_MESSAGE_BYTES="1024",
        REALTIME_RECHECK=str(RECHECK),
        LOG_LEVEL="INFO",
    )
    yield proc, base
    proc.stop()


async def dm(client, sender: dict, to: dict, body: str) -> None:
    r = await client.post(
        "/interactions/messages", json={"to_user_id": str(to["id"]), "body": body}, headers=sender["headers"]
    )
    assert r.status_code == 201, r.text


async def post(client, author: dict, visibility: str = "public") -> str:
    r = await client.post("/posts", json={"caption": "x", "visibility": visibility}, headers=author["headers"])
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def counter(redis, post_id: str, likes: int) -> None:
    """What the counters agent publishes when a post's counters move (models/content/reactions.py)."""
    msg = {"type": "counter.updated", "post_id": post_id, "counters": {"likes": likes}}
    await redis.publish(f"post:{post_id}", orjson.dumps(msg))


async def login(client, u: dict) -> dict:
    r = await client.post("/auth/login", json={"email": u["user"]["email"], "password": u["password"]})
    assert r.status_code == 200, r.text
    return r.json()


# ------------------------------------------------------------------ sessions end -> sockets close


async def test_logout_closes_the_socket_and_a_later_message_never_reaches_it(client, api):
    a, b = await user(client), await user(client)
    other_device = await login(client, a)
    ws, kept = await open_ws(api, a["access_token"]), await open_ws(api, other_device["access_token"])
    try:
        await dm(client, b, a, "before")
        assert (await next_message(ws, "message.new", 10))["message"]["body"] == "before"
        assert (await next_message(kept, "message.new", 10))["message"]["body"] == "before"

        assert (await client.post("/auth/logout", headers=a["headers"])).status_code == 204
        await dm(client, b, a, "after logout")  # the case: this body reached the socket

        code, got = await closed_with(ws)
        assert code == 4403
        assert got[-1] == {"type": "error", "code": "session_revoked", "message": "this session has been signed out"}
        assert not [m for m in got if m["type"] == "message.new"]
        assert ws.close_reason == "session_revoked"
        # the user's other session is another socket: it stays and hears the message
        assert (await next_message(kept, "message.new", 10))["message"]["body"] == "after logout"
    finally:
        await ws.close()
        await kept.close()
    # the revoked token opens no new socket
    code, got = await closed_with(await websockets.connect(ws_url(api) + "?token=" + a["access_token"]))
    assert code == 4401 and got[-1]["code"] == "session_revoked"


async def test_revoked_session_and_refresh_token_reuse_close_their_sockets(client, api):
    u = await register(client)
    second = await login(client, u)
    ws = await open_ws(api, second["access_token"])
    sid = next(
        s["id"] for s in (await client.get("/auth/sessions", headers=u["headers"])).json()["items"] if not s["current"]
    )
    assert (await client.delete(f"/auth/sessions/{sid}", headers=u["headers"])).status_code == 204
    code, got = await closed_with(ws)
    assert (code, got[-1]["code"]) == (4403, "session_revoked")

    ws = await open_ws(api, u["access_token"])
    r = await client.post("/auth/refresh", json={"refresh_token": u["refresh_token"]})
    assert r.status_code == 200
    r = await client.post("/auth/refresh", json={"refresh_token": u["refresh_token"]})  # reused: theft signal
    assert r.status_code == 401
    code, got = await closed_with(ws)
    assert (code, got[-1]["code"], ws.close_reason) == (4403, "refresh_token_reused", "refresh_token_reused")


async def test_every_session_of_a_user_ends_at_once_on_every_replica(client, api, small, svc):
    """The hook for password change and suspension: announce_ended(session_id=None)."""
    _, base2 = small
    u = await user(client)
    other = await user(client)
    on_a, on_b = await open_ws(api, u["access_token"]), await open_ws(base2, (await login(client, u))["access_token"])
    bystander = await open_ws(api, other["access_token"])
    await sessions.announce_ended(svc, u["id"], None, "account_suspended")
    for ws in (on_a, on_b):
        code, got = await closed_with(ws)
        assert (code, got[-1]["code"]) == (4403, "account_suspended")
    assert await request(bystander, {"type": "ping"}) == {"type": "pong"}
    await bystander.close()


# ------------------------------------------------------------------ topics: the REST read rules


async def test_a_post_you_cannot_see_is_post_not_found_and_a_follower_may_subscribe(client, api, svc):
    author, stranger, fan = await user(client), await user(client), await user(client)
    hidden = await post(client, author, "followers")
    assert (await client.get(f"/posts/{hidden}", headers=stranger["headers"])).status_code == 404  # as REST says
    await svc.store.apply_follows([FollowChange(fan["id"], author["id"], True, new_id())])
    ws_s, ws_f = await open_ws(api, stranger["access_token"]), await open_ws(api, fan["access_token"])
    try:
        denied = await request(ws_s, {"type": "subscribe", "topic": f"post:{hidden}"})
        assert denied["type"] == "error" and denied["code"] == "post_not_found"
        missing = await request(ws_s, {"type": "subscribe", "topic": f"post:{uuid.uuid4()}"})
        assert missing["code"] == "post_not_found"  # the same answer: no oracle
        assert await request(ws_f, {"type": "subscribe", "topic": f"post:{hidden}"}) == {
            "type": "subscribed",
            "topic": f"post:{hidden}",
        }
    finally:
        await ws_s.close()
        await ws_f.close()


async def test_unfollow_and_block_stop_the_pushes(client, small, svc, redis):
    _, base = small
    author, fan = await user(client), await user(client)
    followers_post, public_post = await post(client, author, "followers"), await post(client, author)
    await svc.store.apply_follows([FollowChange(fan["id"], author["id"], True, new_id())])
    ws = await open_ws(base, fan["access_token"])
    try:
        for p in (followers_post, public_post):
            assert (await request(ws, {"type": "subscribe", "topic": f"post:{p}"}))["type"] == "subscribed"
        await counter(redis, followers_post, 1)
        assert (await next_message(ws, "counter.updated"))["post_id"] == followers_post

        await svc.store.apply_follows([FollowChange(fan["id"], author["id"], False, new_id())])
        await asyncio.sleep(RECHECK * 2)
        await counter(redis, followers_post, 2)
        await counter(redis, public_post, 1)  # published after: arrives after, on the same Redis connection
        ended = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ended == {
            "type": "subscription.ended",
            "topic": f"post:{followers_post}",
            "code": "post_not_found",
            "message": "no such post",
        }
        after = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert after["type"] == "counter.updated" and after["post_id"] == public_post  # not followers_post again
        await counter(redis, followers_post, 3)  # the subscription is gone: never pushed again
        await counter(redis, public_post, 2)
        after = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert (after["post_id"], after["counters"]["likes"]) == (public_post, 2)

        r = await client.post(f"/users/{fan['id']}/block", headers=author["headers"])
        assert r.status_code in (200, 201, 204), r.text
        await asyncio.sleep(RECHECK * 2)
        await counter(redis, public_post, 3)
        ended = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert (ended["type"], ended["topic"], ended["code"]) == (
            "subscription.ended",
            f"post:{public_post}",
            "post_not_found",
        )
        assert await request(ws, {"type": "ping"}) == {"type": "pong"}
    finally:
        await ws.close()


# ------------------------------------------------------------------ caps


async def test_topics_per_socket(client, small):
    _, base = small
    author, fan = await user(client), await user(client)
    posts = [await post(client, author) for _ in range(3)]
    ws = await open_ws(base, fan["access_token"])
    try:
        for p in posts[:2]:
            assert (await request(ws, {"type": "subscribe", "topic": f"post:{p}"}))["type"] == "subscribed"
        assert (await request(ws, {"type": "subscribe", "topic": f"post:{posts[0]}"}))["type"] == "subscribed"
        refused = await request(ws, {"type": "subscribe", "topic": f"post:{posts[2]}"})
        assert refused["type"] == "error" and refused["code"] == "too_many_topics"
        await request(ws, {"type": "unsubscribe", "topic": f"post:{posts[0]}"})
        assert (await request(ws, {"type": "subscribe", "topic": f"post:{posts[2]}"}))["type"] == "subscribed"
    finally:
        await ws.close()


async def test_sockets_per_user_count_across_replicas(client, api, small, redis):
    _, base2 = small
    u = await user(client)
    first = await open_ws(api, u["access_token"])  # the session API's cap is 10, small's is 2
    second = await open_ws(base2, u["access_token"])
    third = await websockets.connect(ws_url(base2))
    await third.send(orjson.dumps({"type": "auth", "token": u["access_token"]}).decode())
    code, got = await closed_with(third)
    assert (code, got[-1]["code"]) == (4429, "too_many_sockets")
    await first.close()  # a slot frees up, whichever replica held it
    await wait_for(lambda: _count_is(redis, u["id"], 1), what="the closed socket no longer counted")
    again = await open_ws(base2, u["access_token"])
    assert await request(again, {"type": "ping"}) == {"type": "pong"}
    await again.close()
    await second.close()


async def _count_is(redis, user_id, n: int) -> bool:
    return await redis.zcard(f"presence:conn:{user_id}") == n


async def test_messages_per_second_and_message_size(client, small):
    _, base = small
    u = await user(client)
    ws = await open_ws(base, u["access_token"])
    for _ in range(40):
        await ws.send('{"type":"ping"}')
    replies = [orjson.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(40)]
    limited = [r for r in replies if r["type"] == "error"]
    assert limited and all(r["code"] == "rate_limited" for r in limited)
    assert len(replies) - len(limited) < 20  # the bucket (10) plus what refilled meanwhile
    await asyncio.sleep(1.5)  # refilled: the socket stayed usable
    assert await request(ws, {"type": "ping"}) == {"type": "pong"}

    await ws.send(orjson.dumps({"type": "ping", "pad": "x" * 2000}).decode())
    code, got = await closed_with(ws)
    assert (code, got[-1]["code"]) == (1009, "message_too_large")


# ------------------------------------------------------------------ bad input


async def test_bad_input_gets_a_stable_code_and_the_socket_stays(client, api):
    u, stranger = await user(client), await user(client)
    ws = await open_ws(api, u["access_token"])
    try:
        for raw, want in [
            ("{not json", "bad_request"),
            ("[1, 2]", "bad_request"),
            ('"subscribe"', "bad_request"),
            ('{"type": "dance"}', "bad_request"),
            ("{}", "bad_request"),
            ('{"type": "subscribe"}', "bad_topic"),
            ('{"type": "subscribe", "topic": 42}', "bad_topic"),
            ('{"type": "subscribe", "topic": "post:not-a-uuid"}', "bad_topic"),
            ('{"type": "unsubscribe", "topic": "users:everything"}', "bad_topic"),
            (f'{{"type": "subscribe", "topic": "presence:{stranger["id"]}"}}', "presence_not_visible"),
            ('{"type": "typing", "conversation_id": "nope"}', "bad_request"),
            (f'{{"type": "typing", "conversation_id": "{uuid.uuid4()}"}}', "conversation_not_found"),
        ]:
            await ws.send(raw)
            reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            assert reply["type"] == "error" and reply["code"] == want, (raw, reply)
            assert reply["message"]
        await ws.send(b'{"type": "ping"}')  # a binary frame is read like a text one
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}
    finally:
        await ws.close()


async def test_no_auth_or_a_bad_first_message_closes_with_4401(api):
    for first in ['{"type": "subscribe", "topic": "x"}', "garbage", '{"type": "auth", "token": "not-a-jwt"}']:
        ws = await websockets.connect(ws_url(api))
        await ws.send(first)
        code, got = await closed_with(ws)
        assert code == 4401 and got[-1]["type"] == "error", first
        assert got[-1]["code"] in ("unauthorized", "invalid_token")


async def test_a_token_in_the_query_string_is_accepted_and_never_logged(client, small):
    proc, base = small
    u = await register(client)
    async with websockets.connect(ws_url(base) + "?token=" + u["access_token"]) as ws:
        assert orjson.loads(await ws.recv())["type"] == "authenticated"
    await wait_for(lambda: "token=[redacted]" in proc.log.read_text(), what="the handshake logged, redacted")
    assert u["access_token"] not in proc.log.read_text()
    assert u["access_token"].split(".")[2] not in proc.log.read_text()  # not even the signature


# ------------------------------------------------------------------ several replicas


async def test_two_replicas_each_socket_gets_the_event_once(client, api, small, redis):
    """A socket on each of two API processes: one event published once reaches each exactly once
    (the faces helper extends this with a Socket.IO and a GraphQL socket)."""
    _, base2 = small
    author, a, b = await user(client), await user(client), await user(client)
    p = await post(client, author)
    on1, on2 = await open_ws(api, a["access_token"]), await open_ws(base2, b["access_token"])
    try:
        for ws in (on1, on2):
            assert (await request(ws, {"type": "subscribe", "topic": f"post:{p}"}))["type"] == "subscribed"
        await counter(redis, p, 1)
        await counter(redis, p, 2)  # a marker: had 1 arrived twice, the second read would be 1
        for ws in (on1, on2):
            assert [orjson.loads(await asyncio.wait_for(ws.recv(), 10))["counters"]["likes"] for _ in range(2)] == [
                1,
                2,
            ]

        # a direct message, sent through the first replica's REST, reaches the recipient's socket on the second once
        await dm(client, author, b, "hello across replicas")
        got = await next_message(on2, "message.new", 10)
        assert got["message"]["body"] == "hello across replicas"
        assert await request(on2, {"type": "ping"}) == {"type": "pong"}
    finally:
        await on1.close()
        await on2.close()
