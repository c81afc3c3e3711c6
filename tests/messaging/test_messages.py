"""Direct messages (models/messaging/messages.py) through the real API: who may write to whom (dm_policy and
blocks), durable keyset-paginated history and conversation list, live delivery and read receipts
over a real websocket, idempotent sends, and the GraphQL face."""

from __future__ import annotations

import asyncio
from uuid import UUID

import orjson
import redis.asyncio as aioredis
import websockets

from models.core.events import new_id
from models.engagement import FollowChange
from models.social import circles
from tests.support.client import code
from tests.support.factories import user
from tests.support.realtime import next_message, subscribed
from tests.support.waiting import wait_for


async def send(client, sender: dict, to: dict, body: str = "hi", **extra):
    return await client.post(
        "/interactions/messages", json={"to_user_id": str(to["id"]), "body": body, **extra}, headers=sender["headers"]
    )


def held(r) -> bool:
    """The send was held in a message request (docs/messages.md#message-requests) instead of today's 403."""
    return r.status_code == 202 and r.json()["request"] is True and r.json()["conversation_id"] is None


async def set_policy(client, u: dict, policy: str) -> None:
    r = await client.put("/interactions/messages/settings", json={"dm_policy": policy}, headers=u["headers"])
    assert r.status_code == 200 and r.json() == {"dm_policy": policy}


async def test_who_may_message_whom(client, svc):
    a, b, c, d, x = [await user(client) for _ in range(5)]
    assert (await send(client, a, b)).status_code == 201  # default: everyone
    r = await client.get("/interactions/messages/settings", headers=b["headers"])
    assert r.json() == {"dm_policy": "everyone"}

    await set_policy(client, b, "followers")
    assert held(await send(client, c, b))
    await svc.store.apply_follows([FollowChange(c["id"], b["id"], True, new_id())])
    assert (await send(client, c, b)).status_code == 201
    # b following d is not d following b
    await svc.store.apply_follows([FollowChange(b["id"], d["id"], True, new_id())])
    assert held(await send(client, d, b))

    await set_policy(client, b, "circles")
    assert held(await send(client, c, b))  # a follower, not in a circle
    crew = await circles.create_circle(svc, viewer_id=b["id"], owner_id=b["id"], name="crew")
    await circles.add_member(svc, viewer_id=b["id"], owner_id=b["id"], circle_id=UUID(crew["id"]), member_id=d["id"])
    assert (await send(client, d, b)).status_code == 201

    # whoever b wrote to may answer whatever b's policy
    assert held(await send(client, x, b))
    assert (await send(client, b, x)).status_code == 201
    assert (await send(client, x, b, "thanks")).status_code == 201

    # blocks hold both ways, whatever the policy
    r = await client.post(f"/users/{a['id']}/block", headers=x["headers"])
    assert r.status_code in (200, 201, 204), r.text
    assert code(await send(client, a, x)) == (403, "blocked")
    assert code(await send(client, x, a)) == (403, "blocked")

    assert code(await send(client, a, a)) == (400, "cannot_message_self")
    r = await client.post(
        "/interactions/messages", json={"to_user_id": str(new_id()), "body": "hi"}, headers=a["headers"]
    )
    assert code(r) == (404, "user_not_found")
    assert code(await send(client, a, b, "   ")) == (400, "empty_message")
    r = await client.put("/interactions/messages/settings", json={"dm_policy": "nobody"}, headers=a["headers"])
    assert r.status_code == 422


async def test_history_and_conversation_list_are_durable_and_paged(client):
    a, b, c, d = [await user(client) for _ in range(4)]
    sent = []
    for i in range(7):
        sender, to = (a, b) if i % 2 == 0 else (b, a)
        r = await send(client, sender, to, f"m{i}")
        assert r.status_code == 201
        sent.append(r.json())
    conv = sent[0]["conversation_id"]
    assert {m["conversation_id"] for m in sent} == {conv}
    got, cursor = [], None
    while True:
        r = await client.get(
            f"/interactions/conversations/{conv}/messages",
            params={"limit": 3, **({"cursor": cursor} if cursor else {})},
            headers=b["headers"],
        )
        assert r.status_code == 200
        got += [m["body"] for m in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert got == [f"m{i}" for i in range(6, -1, -1)]
    # not a member: the conversation does not exist for you
    r = await client.get(f"/interactions/conversations/{conv}/messages", headers=c["headers"])
    assert code(r) == (404, "conversation_not_found")

    # newest activity first, unread counts per side
    await send(client, c, a, "from c")
    await send(client, d, a, "from d")
    await send(client, b, a, "b again")
    items, cursor = [], None
    while True:
        r = await client.get(
            "/interactions/conversations",
            params={"limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=a["headers"],
        )
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert [i["peer"]["id"] for i in items] == [str(b["id"]), str(d["id"]), str(c["id"])]
    assert [i["unread"] for i in items] == [4, 1, 1]
    assert items[0]["last_message"]["body"] == "b again"


async def test_live_delivery_typing_and_read_receipts_over_websockets(client, api, stack_env):
    a, b = await user(client), await user(client)
    redis = aioredis.from_url(stack_env["REDIS_URL"])
    base = api.replace("http", "ws") + "/ws?token="
    try:
        async with (
            websockets.connect(base + a["access_token"]) as wa,
            websockets.connect(base + b["access_token"]) as wb,
        ):
            for ws in (wa, wb):
                assert orjson.loads(await ws.recv())["type"] == "authenticated"
            for u in (a, b):
                await wait_for(lambda u=u: subscribed(redis, u["id"]), what="the hub subscribed the user's channel")
            r = await send(client, a, b, "live!")
            assert r.status_code == 201
            pushed = await next_message(wb, "message.new")
            assert pushed["message"]["id"] == r.json()["id"] and pushed["message"]["body"] == "live!"
            assert (await next_message(wa, "message.new"))["message"]["id"] == r.json()[
                "id"
            ]  # the sender's other devices

            conv = r.json()["conversation_id"]
            await wa.send(orjson.dumps({"type": "typing", "conversation_id": conv}).decode())
            assert (await next_message(wb, "typing")) == {
                "type": "typing",
                "conversation_id": conv,
                "user_id": str(a["id"]),
            }

            r = await client.post(
                f"/interactions/messages/{conv}/read", json={"up_to_message_id": r.json()["id"]}, headers=b["headers"]
            )
            assert r.status_code == 200 and r.json()["unread"] == 0
            receipt = await next_message(wa, "message.read")
            assert receipt["reader_id"] == str(b["id"]) and receipt["up_to_message_id"] == pushed["message"]["id"]
    finally:
        await redis.aclose()
    r = await client.get("/interactions/conversations", headers=a["headers"])
    assert r.json()["items"][0]["peer_read_up_to"] == pushed["message"]["id"]
    # a receipt for a message of another conversation, or by a non-member, is refused
    other = (await send(client, a, await user(client))).json()["id"]
    r = await client.post(f"/interactions/messages/{conv}/read", json={"up_to_message_id": other}, headers=b["headers"])
    assert code(r) == (404, "message_not_found")


async def test_sends_are_idempotent(client):
    a, b = await user(client), await user(client)
    first = await send(client, a, b, "once", client_id="c-1")
    again = await send(client, a, b, "once", client_id="c-1")
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert code(await send(client, a, b, "other body", client_id="c-1")) == (422, "idempotency_key_reused")
    # concurrent retries of one send store one message
    many = await asyncio.gather(*(send(client, a, b, "burst", client_id="c-2") for _ in range(6)))
    assert len({r.json()["id"] for r in many}) == 1
    # the Idempotency-Key header works the same way
    h = {**a["headers"], "Idempotency-Key": "k-9"}
    r1 = await client.post("/interactions/messages", json={"to_user_id": str(b["id"]), "body": "hdr"}, headers=h)
    r2 = await client.post("/interactions/messages", json={"to_user_id": str(b["id"]), "body": "hdr"}, headers=h)
    assert r1.json()["id"] == r2.json()["id"]
    conv = first.json()["conversation_id"]
    r = await client.get(f"/interactions/conversations/{conv}/messages", headers=b["headers"])
    assert [m["body"] for m in r.json()["items"]] == ["hdr", "burst", "once"]
    r = await client.get("/interactions/conversations", headers=b["headers"])
    assert r.json()["items"][0]["unread"] == 3


async def test_graphql_send_list_and_read(client):
    a, b = await user(client), await user(client)

    async def gql(u, q, **variables):
        r = await client.post("/graphql", json={"query": q, "variables": variables}, headers=u["headers"])
        return r.json()

    sent = await gql(
        a,
        'mutation($to: ID!) { sendMessage(input: {toUserId: $to, body: "yo", clientId: "g1"}) '
        "{ id conversationId body } }",
        to=str(b["id"]),
    )
    msg = sent["data"]["sendMessage"]
    convs = await gql(b, "{ conversations { items { id unread peer { id username } lastMessage { body } } } }")
    assert convs["data"]["conversations"]["items"][0]["unread"] == 1
    hist = await gql(
        b, "query($c: ID!) { messages(conversationId: $c) { items { id body } nextCursor } }", c=msg["conversationId"]
    )
    assert hist["data"]["messages"]["items"] == [{"id": msg["id"], "body": "yo"}]
    read = await gql(
        b,
        "mutation($c: ID!, $m: ID!) { markConversationRead(conversationId: $c, upToMessageId: $m) { unread } }",
        c=msg["conversationId"],
        m=msg["id"],
    )
    assert read["data"]["markConversationRead"]["unread"] == 0
    await gql(b, 'mutation { setMessageSettings(dmPolicy: "followers") { dmPolicy } }')
    denied = await gql(
        await user(client),
        'mutation($to: ID!) { sendMessage(input: {toUserId: $to, body: "x"}) { id conversationId request pending } }',
        to=str(b["id"]),
    )
    assert denied["data"]["sendMessage"] | {"id": None} == {
        "id": None,
        "conversationId": None,
        "request": True,
        "pending": True,
    }
