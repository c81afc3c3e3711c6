"""Message requests (models/messaging/requests.py) through the real API, PostgreSQL and Redis:
a first message from someone the recipient's dm_policy does not admit is held (202), listed,
pushed, capped, accepted into the conversation or declined without telling the sender; blocks
still answer 403; bad input answers stable codes and changes nothing; the GraphQL face."""

from __future__ import annotations

import asyncio
import dataclasses

import redis.asyncio as aioredis

from models.core.errors import DomainError
from models.core.events import new_id
from models.messaging import requests
from tests.support.client import code, gql
from tests.support.factories import user
from tests.support.gql_ws import connected
from tests.support.realtime import next_message, open_ws, subscribed
from tests.support.waiting import wait_for


async def send(client, sender: dict, to: dict, body: str = "hi", **extra):
    return await client.post(
        "/interactions/messages", json={"to_user_id": str(to["id"]), "body": body, **extra}, headers=sender["headers"]
    )


async def picky(client) -> dict:
    """A user who admits only followers: strangers' first messages become requests."""
    u = await user(client)
    r = await client.put("/interactions/messages/settings", json={"dm_policy": "followers"}, headers=u["headers"])
    assert r.status_code == 200
    return u


async def inbox(client, u: dict) -> list[dict]:
    r = await client.get("/interactions/message-requests", headers=u["headers"])
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def sent(client, u: dict) -> list[dict]:
    r = await client.get("/interactions/message-requests/sent", headers=u["headers"])
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def conversations(client, u: dict) -> list[dict]:
    return (await client.get("/interactions/conversations", headers=u["headers"])).json()["items"]


async def decide(client, u: dict, request_id: str, verb: str):
    return await client.post(f"/interactions/message-requests/{request_id}/{verb}", headers=u["headers"])


async def test_a_request_is_held_pushed_capped_and_accepted(client, api, stack_env):
    a, b, c = await user(client), await picky(client), await user(client)
    redis = aioredis.from_url(stack_env["REDIS_URL"])
    wa, wb = await open_ws(api, a["access_token"]), await open_ws(api, b["access_token"])
    try:
        for u in (a, b):
            await wait_for(lambda u=u: subscribed(redis, u["id"]), what="the hub subscribed the user's channel")
        r = await send(client, a, b, "hello", client_id="q-1")
        assert r.status_code == 202, r.text
        first = r.json()
        assert first["request"] is True and first["pending"] is True and first["conversation_id"] is None
        assert first["body"] == "hello" and first["attachment"] is None
        pushed = await next_message(wb, "message_request.new")
        assert pushed["request_id"] == first["request_id"] and pushed["sender"]["id"] == str(a["id"])
        assert pushed["message"]["id"] == first["id"]
        assert (await next_message(wa, "message_request.sent"))["message"]["id"] == first["id"]

        # a retry answers the held message; the same client_id for something else is refused
        again = await send(client, a, b, "hello", client_id="q-1")
        assert (again.status_code, again.json()["id"]) == (202, first["id"])
        assert code(await send(client, a, b, "other", client_id="q-1")) == (422, "idempotency_key_reused")
        assert code(await send(client, a, await user(client), "hello", client_id="q-1")) == (
            422,
            "idempotency_key_reused",
        )

        # up to DM_REQUEST_MAX_MESSAGES (5) held; the sixth is refused and nothing changes
        for i in range(2, 6):
            assert (await send(client, a, b, f"m{i}")).status_code == 202
        assert code(await send(client, a, b, "one too many")) == (409, "message_request_full")
        [req] = await inbox(client, b)
        assert req["id"] == first["request_id"] and req["sender"]["id"] == str(a["id"])
        assert [m["body"] for m in req["messages"]] == ["hello", "m2", "m3", "m4", "m5"]
        assert req["message_count"] == 5 and all(m["pending"] for m in req["messages"])
        [mine] = await sent(client, a)
        assert mine["recipient"]["id"] == str(b["id"]) and mine["status"] == "pending"
        # nothing reached a conversation
        assert await conversations(client, a) == [] and await conversations(client, b) == []

        # only the recipient answers a request
        assert code(await decide(client, c, req["id"], "accept")) == (404, "message_request_not_found")
        assert code(await decide(client, a, req["id"], "accept")) == (404, "message_request_not_found")
        assert code(await decide(client, b, str(new_id()), "accept")) == (404, "message_request_not_found")
        assert (await decide(client, b, "not-an-id", "accept")).status_code == 400
        assert len(await inbox(client, b)) == 1

        r = await decide(client, b, req["id"], "accept")
        assert r.status_code == 200, r.text
        accepted = r.json()
        assert accepted["status"] == "accepted" and accepted["conversation_id"]
        for ws in (wa, wb):
            live = await next_message(ws, "message_request.accepted")
            assert live["conversation_id"] == accepted["conversation_id"]
    finally:
        await asyncio.gather(wa.close(), wb.close())
        await redis.aclose()

    # the held messages are the conversation's history, with their ids; read by the recipient
    conv = accepted["conversation_id"]
    r = await client.get(f"/interactions/conversations/{conv}/messages", headers=b["headers"])
    assert [m["id"] for m in r.json()["items"]] == [m["id"] for m in reversed(req["messages"])]
    [listed] = await conversations(client, b)
    assert (listed["id"], listed["unread"], listed["last_message"]["body"]) == (conv, 0, "m5")
    assert await inbox(client, b) == [] and await sent(client, a) == []
    # the sender is admitted from now on; a retry of a held send answers the delivered message
    r = await send(client, a, b, "free now")
    assert r.status_code == 201 and r.json()["request"] is False and r.json()["conversation_id"] == conv
    r = await send(client, a, b, "hello", client_id="q-1")
    assert (r.status_code, r.json()["id"], r.json()["conversation_id"]) == (201, first["id"], conv)
    assert (await conversations(client, b))[0]["unread"] == 1
    # answering again: the same answer; declining an accepted request: refused
    assert (await decide(client, b, req["id"], "accept")).json() == accepted
    assert code(await decide(client, b, req["id"], "decline")) == (409, "message_request_accepted")


async def test_a_declined_sender_is_not_told(client, api, stack_env):
    a, b, d = await user(client), await picky(client), await user(client)
    held = (await send(client, a, b, "knock knock")).json()
    before = await sent(client, a)
    r = await decide(client, b, held["request_id"], "decline")
    assert r.status_code == 200 and r.json() == {
        "request_id": held["request_id"],
        "status": "declined",
        "conversation_id": None,
    }
    assert await inbox(client, b) == []
    # the sender sees exactly what they saw before
    assert await sent(client, a) == before
    redis = aioredis.from_url(stack_env["REDIS_URL"])
    wb = await open_ws(api, b["access_token"])
    try:
        await wait_for(lambda: subscribed(redis, b["id"]), what="the hub subscribed b's channel")
        r = await send(client, a, b, "anyone there?")
        assert r.status_code == 202 and r.json()["pending"] is True and r.json()["request"] is True
        assert set(r.json()) == set(held)
        # nothing reaches b: the next request b hears of is d's, sent afterwards
        r = await send(client, d, b, "from d")
        assert (await next_message(wb, "message_request.new"))["sender"]["id"] == str(d["id"])
    finally:
        await wb.close()
        await redis.aclose()
    [still] = [x for x in await sent(client, a) if x["id"] == held["request_id"]]
    assert [m["body"] for m in still["messages"]] == ["knock knock", "anyone there?"]
    assert still["status"] == "pending"
    assert [x["sender"]["id"] for x in await inbox(client, b)] == [str(d["id"])]
    # deciding again answers the same; a declined request cannot be accepted
    assert (await decide(client, b, held["request_id"], "decline")).json()["status"] == "declined"
    assert code(await decide(client, b, held["request_id"], "accept")) == (409, "message_request_declined")
    assert await conversations(client, a) == [] and await conversations(client, b) == []


async def test_blocks_still_refuse_and_hide_requests(client):
    a, b, f = await user(client), await picky(client), await user(client)
    # blocked either way: 403, and nothing is held
    r = await client.post(f"/users/{a['id']}/block", headers=b["headers"])
    assert r.status_code in (200, 201, 204), r.text
    assert code(await send(client, a, b)) == (403, "blocked")
    assert code(await send(client, b, a)) == (403, "blocked")
    assert await sent(client, a) == [] and await inbox(client, b) == []
    # a request whose sender is blocked afterwards leaves the inbox and cannot be accepted
    held = (await send(client, f, b, "hey")).json()
    assert [x["id"] for x in await inbox(client, b)] == [held["request_id"]]
    r = await client.post(f"/users/{f['id']}/block", headers=b["headers"])
    assert r.status_code in (200, 201, 204)
    assert await inbox(client, b) == []
    assert code(await decide(client, b, held["request_id"], "accept")) == (403, "blocked")
    assert await conversations(client, b) == []


async def test_requests_a_sender_opens_per_day_are_capped(client, svc):
    """DM_REQUESTS_PER_DAY (20 in the API) lowered to 2 for the domain function itself; four
    first messages at once open exactly two requests."""
    capped = dataclasses.replace(svc, settings=svc.settings.model_copy(update={"dm_requests_per_day": 2}))
    a = await user(client)
    targets = [await picky(client) for _ in range(4)]
    outcomes = await asyncio.gather(
        *(requests.send(capped, sender_id=a["id"], to_user_id=t["id"], body="hi") for t in targets),
        return_exceptions=True,
    )
    opened = [t for t, o in zip(targets, outcomes) if isinstance(o, dict) and o["request"] is True]
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(opened) == 2 and len(refused) == 2, outcomes
    assert {(e.status, e.code) for e in refused} == {(429, "message_request_limit")}
    for t in targets:
        assert len(await inbox(client, t)) == (1 if t in opened else 0)
    assert len(await sent(client, a)) == 2
    # an open request still takes its further messages
    assert (await requests.send(capped, sender_id=a["id"], to_user_id=opened[0]["id"], body="again"))["request"]


async def test_graphql_face(client):
    a, b = await user(client), await picky(client)
    out = await gql(
        client,
        a,
        'mutation($to: ID!) { sendMessage(input: {toUserId: $to, body: "gql hi"}) { id request pending requestId } }',
        {"to": str(b["id"])},
    )
    held = out["data"]["sendMessage"]
    assert held["request"] is True and held["pending"] is True
    out = await gql(
        client,
        b,
        "{ messageRequests { items { id status messageCount sender { id } messages { id body pending } } "
        "nextCursor } }",
    )
    [req] = out["data"]["messageRequests"]["items"]
    assert req["id"] == held["requestId"] and req["sender"]["id"] == str(a["id"])
    assert req["messages"] == [{"id": held["id"], "body": "gql hi", "pending": True}]
    out = await gql(client, a, "{ sentMessageRequests { items { id status recipient { id } } } }")
    assert out["data"]["sentMessageRequests"]["items"] == [
        {"id": held["requestId"], "status": "pending", "recipient": {"id": str(b["id"])}}
    ]
    out = await gql(
        client,
        a,
        "mutation($r: ID!) { acceptMessageRequest(requestId: $r) { status } }",
        {"r": held["requestId"]},
    )
    assert out["errors"][0]["extensions"]["code"] == "message_request_not_found"
    out = await gql(
        client,
        b,
        "mutation($r: ID!) { acceptMessageRequest(requestId: $r) { requestId status conversationId } }",
        {"r": held["requestId"]},
    )
    decided = out["data"]["acceptMessageRequest"]
    assert decided["status"] == "accepted" and decided["conversationId"]
    out = await gql(
        client,
        b,
        "query($c: ID!) { messages(conversationId: $c) { items { id body request pending attachment { kind } } } }",
        {"c": decided["conversationId"]},
    )
    assert out["data"]["messages"]["items"] == [
        {"id": held["id"], "body": "gql hi", "request": False, "pending": False, "attachment": None}
    ]
    out = await gql(
        client,
        b,
        "mutation($r: ID!) { declineMessageRequest(requestId: $r) { status } }",
        {"r": held["requestId"]},
    )
    assert out["errors"][0]["extensions"]["code"] == "message_request_accepted"


async def test_graphql_subscription_hears_requests(client, api):
    a, b = await user(client), await picky(client)
    events = (
        "subscription { messageRequestEvents { __typename "
        "... on MessageRequestNew { requestId sender { id } message { id pending conversationId } } "
        "... on MessageRequestAccepted { requestId conversationId } } }"
    )
    async with connected(api, {"token": b["access_token"]}) as c:
        await c.subscribe("r", events)
        await c.send({"type": "ping"})
        assert (await c.recv())["type"] == "pong"
        held = (await send(client, a, b, "over graphql-ws")).json()
        new = (await c.of("r", timeout=15))["payload"]["data"]["messageRequestEvents"]
        assert new == {
            "__typename": "MessageRequestNew",
            "requestId": held["request_id"],
            "sender": {"id": str(a["id"])},
            "message": {"id": held["id"], "pending": True, "conversationId": None},
        }
        accepted = (await decide(client, b, held["request_id"], "accept")).json()
        event = (await c.of("r", timeout=15))["payload"]["data"]["messageRequestEvents"]
        assert event == {
            "__typename": "MessageRequestAccepted",
            "requestId": held["request_id"],
            "conversationId": accepted["conversation_id"],
        }
