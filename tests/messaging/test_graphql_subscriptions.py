"""GraphQL subscriptions over graphql-transport-ws at /graphql (api/routes/graphql_ws.py) with a real
protocol client over a real socket: authentication in connection_init, the protocol's close codes
for bad input, and each field fed by the real pushes (a like through the worker, a DM, the
notifications agent, presence), the visibility rules of REST included."""

from __future__ import annotations

import orjson
import websockets

from streams.agents.notifications import notifications as notifications_agent
from tests.messaging.test_notifications import like
from tests.support.factories import create_post, user
from tests.support.gql_ws import connected, raw
from tests.support.realtime import subscribed
from tests.support.waiting import wait_for

COUNTERS = "subscription($p: ID!) { postCounters(postId: $p) { likes loves views comments } }"


def code_of(msg: dict) -> str:
    assert msg["type"] == "error", msg
    return msg["payload"][0]["extensions"]["code"]


async def test_token_in_connection_init_and_refused_connections(client, api):
    u = await user(client)
    async with connected(api, {"token": u["access_token"]}) as c:
        await c.send({"type": "ping"})
        assert await c.recv() == {"type": "pong"}
    async with connected(api, {"Authorization": f"Bearer {u['access_token']}"}) as c:
        await c.send({"type": "ping", "payload": {"t": 1}})
        assert (await c.recv())["type"] == "pong"

    for payload in ({"token": "not-a-jwt"}, {"Authorization": "Basic abc"}, None):
        async with raw(api) as c:
            await c.send({"type": "connection_init", "payload": payload})
            code, reason = await c.closed()
            assert code == 4403 and reason.split(":")[0] in ("invalid_token", "unauthorized"), (payload, reason)

    async with websockets.connect(api.replace("http", "ws") + "/graphql") as ws:  # no subprotocol offered
        await ws.wait_closed()
        assert ws.close_code == 4406


async def test_protocol_errors_close_with_the_protocols_codes(client, api):
    u = await user(client)
    init = {"type": "connection_init", "payload": {"token": u["access_token"]}}
    sub = {"id": "1", "type": "subscribe", "payload": {"query": "subscription { notifications { id } }"}}
    cases = [
        ([sub], 4401, "unauthorized"),  # subscribe before connection_init
        ([init, init], 4429, "too_many_init"),
        ([init, sub, sub], 4409, "Subscriber for 1 already exists"),
        ([init, "{not json"], 4400, "bad_request"),
        ([init, '["a", "list"]'], 4400, "bad_request"),
        ([init, {"type": "shout"}], 4400, "bad_request"),
        ([init, {"type": "subscribe", "id": "", "payload": {"query": "x"}}], 4400, "bad_request"),
        ([init, {"type": "subscribe", "id": "2", "payload": "subscription { x }"}], 4400, "bad_request"),
        ([init, "x" * 70_000], 1009, "message_too_large"),
    ]
    for messages, want_code, want_reason in cases:
        async with raw(api) as c:
            for m in messages:
                await c.send(m)
            code, reason = await c.closed()
            assert (code, reason.split(":")[0]) == (want_code, want_reason), (messages[-1], code, reason)


async def test_operation_errors_leave_the_socket_open(client, api):
    u = await user(client)
    async with connected(api, {"token": u["access_token"]}) as c:
        await c.subscribe("q", "{ messageSettings { dmPolicy } }")
        msg = await c.of("q")
        assert code_of(msg) == "operation_not_supported"
        await c.subscribe("bad", "subscription { noSuchField }")
        assert code_of(await c.of("bad")) == "graphql_validation_failed"
        await c.subscribe("syntax", "subscription {")
        assert code_of(await c.of("syntax")) == "graphql_validation_failed"
        await c.subscribe("id", COUNTERS, p="not-a-uuid")
        assert code_of(await c.of("id")) == "invalid_id"
        await c.send({"type": "ping"})
        assert await c.recv() == {"type": "pong"}  # still open, nothing else sent


async def test_a_like_pushes_post_counters_and_complete_stops_one_operation(client, api, worker):
    author, fan = await user(client), await user(client)
    post = await create_post(client, author)
    async with connected(api, {"token": fan["access_token"]}) as c:
        await c.subscribe("a", COUNTERS, p=post)
        await c.subscribe("b", COUNTERS, p=post)
        await c.send({"type": "ping"})  # subscribes are handled in order: answered once both are live
        assert (await c.recv())["type"] == "pong"
        r = await client.post("/interactions/reactions", json={"post_id": post, "type": "like"}, headers=fan["headers"])
        assert r.status_code == 202
        for op in ("a", "b"):
            msg = await c.of(op, timeout=30)
            assert msg == {
                "id": op,
                "type": "next",
                "payload": {"data": {"postCounters": {"likes": 1, "loves": 0, "views": 0, "comments": 0}}},
            }
        # completing "a" leaves "b" subscribed to the same post
        await c.complete("a")
        r = await client.post(
            "/interactions/reactions", json={"post_id": post, "type": "love"}, headers=author["headers"]
        )
        assert r.status_code == 202
        msg = await c.recv(timeout=30)
        assert msg["id"] == "b" and msg["payload"]["data"]["postCounters"]["loves"] == 1


async def test_a_post_you_cannot_see_is_post_not_found(client, api):
    author, stranger = await user(client), await user(client)
    r = await client.post("/posts", json={"caption": "friends", "visibility": "followers"}, headers=author["headers"])
    assert r.status_code == 201
    hidden = r.json()["id"]
    async with connected(api, {"token": stranger["access_token"]}) as c:
        await c.subscribe("1", COUNTERS, p=hidden)
        msg = await c.of("1")
        assert code_of(msg) == "post_not_found" and msg["payload"][0]["path"] == ["postCounters"]
    async with connected(api, {"token": author["access_token"]}) as c:  # its author may
        await c.subscribe("1", COUNTERS, p=hidden)
        await c.send({"type": "ping"})
        assert await c.recv() == {"type": "pong"}


CONVERSATION = """subscription($c: ID!) { conversationEvents(conversationId: $c) {
  __typename
  ... on MessageNew { message { id body senderId } }
  ... on Typing { conversationId userId }
  ... on MessageRead { readerId upToMessageId }
} }"""


async def test_conversation_events_messages_typing_and_receipts(client, api, redis):
    a, b, stranger = await user(client), await user(client), await user(client)
    r = await client.post(
        "/interactions/messages", json={"to_user_id": str(b["id"]), "body": "hi"}, headers=a["headers"]
    )
    conv = r.json()["conversation_id"]
    async with connected(api, {"token": stranger["access_token"]}) as c:
        await c.subscribe("1", CONVERSATION, c=conv)
        assert code_of(await c.of("1")) == "conversation_not_found"
    async with (
        connected(api, {"token": b["access_token"]}) as c,
        websockets.connect(api.replace("http", "ws") + "/ws?token=" + a["access_token"]) as wa,
    ):
        await c.subscribe("conv", CONVERSATION, c=conv)
        # another operation on the same socket: it hears notifications, never the conversation's events
        await c.subscribe("notes", "subscription { notifications { kind } }")
        await c.send({"type": "ping"})
        assert (await c.recv())["type"] == "pong"
        r = await client.post(
            "/interactions/messages", json={"to_user_id": str(b["id"]), "body": "live"}, headers=a["headers"]
        )
        msg = await c.of("conv")
        assert msg["payload"]["data"]["conversationEvents"] == {
            "__typename": "MessageNew",
            "message": {"id": r.json()["id"], "body": "live", "senderId": str(a["id"])},
        }
        assert orjson.loads(await wa.recv())["type"] == "authenticated"
        await wait_for(lambda: subscribed(redis, a["id"]), what="a's socket live")
        await wa.send(orjson.dumps({"type": "typing", "conversation_id": conv}).decode())
        msg = await c.of("conv")
        assert msg["payload"]["data"]["conversationEvents"] == {
            "__typename": "Typing",
            "conversationId": conv,
            "userId": str(a["id"]),
        }
        up_to = r.json()["id"]
        r = await client.post(
            f"/interactions/messages/{conv}/read", json={"up_to_message_id": up_to}, headers=b["headers"]
        )
        assert r.status_code == 200
        msg = await c.of("conv")
        assert msg["payload"]["data"]["conversationEvents"] == {
            "__typename": "MessageRead",
            "readerId": str(b["id"]),
            "upToMessageId": up_to,
        }
        notes = [m["payload"]["data"]["notifications"] for m in c._held if m.get("id") == "notes"]
        assert all(n == {"kind": "message"} for n in notes), notes


async def test_notifications_and_presence(client, api, svc, redis):
    author, fan, partner = await user(client), await user(client), await user(client)
    post = await create_post(client, author)
    r = await client.post(
        "/interactions/messages", json={"to_user_id": str(author["id"]), "body": "hi"}, headers=partner["headers"]
    )
    assert r.status_code == 201  # partner may see author's presence: they talk
    async with connected(api, {"token": author["access_token"]}) as c:
        await c.subscribe("n", "subscription { notifications { kind postId actorCount text read } }")
        await c.send({"type": "ping"})
        assert (await c.recv())["type"] == "pong"
        await notifications_agent([like(post, fan)], svc)  # the agent, fed without a broker, publishes
        # the partner's message may notify the author first (the suite's worker runs that agent)
        kinds = []
        while "reaction" not in kinds and len(kinds) < 5:
            note = (await c.of("n"))["payload"]["data"]["notifications"]
            kinds.append(note["kind"])
        assert kinds[-1] == "reaction" and set(kinds) <= {"message", "reaction"}, kinds
        assert (note["postId"], note["actorCount"], note["read"]) == (post, 1, False)

    async with connected(api, {"token": fan["access_token"]}) as c:
        await c.subscribe("p", "subscription($u: ID!) { presence(userId: $u) { userId online } }", u=str(author["id"]))
        assert code_of(await c.of("p")) == "presence_not_visible"
    async with connected(api, {"token": partner["access_token"]}) as c:
        await c.subscribe(
            "p", "subscription($u: ID!) { presence(userId: $u) { userId online lastSeenAt } }", u=str(author["id"])
        )
        await c.send({"type": "ping"})
        assert (await c.recv())["type"] == "pong"
        async with connected(api, {"token": author["access_token"]}):
            msg = await c.of("p", timeout=15)
            assert msg["payload"]["data"]["presence"]["online"] is True
            assert msg["payload"]["data"]["presence"]["userId"] == str(author["id"])
        msg = await c.of("p", timeout=30)
        assert msg["payload"]["data"]["presence"]["online"] is False
        assert msg["payload"]["data"]["presence"]["lastSeenAt"]
