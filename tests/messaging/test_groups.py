"""Group chats (models/messaging/groups.py, send_to_conversation / unsend / mute in
models/messaging/messages.py) through the real API, PostgreSQL and Redis: roles, invite links,
leave and remove, the 256-member cap, replies, unsend, read receipts per member, mute, the
GraphQL face; and the realtime faces (/ws, Socket.IO, GraphQL conversationEvents) with sockets on
two API processes, a removed member's sockets hearing nothing more. Every refused change is
checked to have changed nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from models.core.events import Event, new_id, received
from models.messaging import messages, notifications
from streams.agents.notifications import notifications as notifications_agent
from tests.messaging.test_socketio import connected as sio_connected
from tests.support.client import code, gql
from tests.support.factories import clones, user
from tests.support.gql_ws import connected as gql_connected
from tests.support.realtime import next_message, open_ws, request, subscribed
from tests.support.waiting import wait_for

G = "/interactions/groups"
C = "/interactions/conversations"


async def group(client, owner: dict, *members: dict, name: str = "شلة الجامعة") -> dict:
    r = await client.post(
        G, json={"name": name, "member_ids": [str(m["id"]) for m in members]}, headers=owner["headers"]
    )
    assert r.status_code == 201, r.text
    return r.json()


async def say(client, u: dict, conv: str, body: str = "hi", **extra):
    return await client.post(f"{C}/{conv}/messages", json={"body": body, **extra}, headers=u["headers"])


async def members_of(client, u: dict, conv: str) -> dict[str, str]:
    r = await client.get(f"{C}/{conv}/members", headers=u["headers"])
    assert r.status_code == 200, r.text
    return {m["user"]["id"]: m["role"] for m in r.json()["items"]}


async def count(db, conv: str) -> int:
    return await db.fetchval("SELECT count(*) FROM messages WHERE conversation_id = $1::uuid", conv)


async def test_roles_invites_leave_remove_and_bad_input(client, db):
    o, a, b, c, s = [await user(client) for _ in range(5)]
    # too small, a block, then a group of three
    r = await client.post(G, json={"name": "x", "member_ids": [str(a["id"])]}, headers=o["headers"])
    assert code(r) == (400, "group_too_small")
    assert (await client.post(f"/users/{o['id']}/block", headers=s["headers"])).status_code in (200, 201, 204)
    r = await client.post(G, json={"name": "x", "member_ids": [str(a["id"]), str(s["id"])]}, headers=o["headers"])
    assert code(r) == (403, "blocked")
    g = await group(client, o, a, b)
    conv = g["id"]
    assert (g["kind"], g["name"], g["member_count"], g["role"], g["owner_id"]) == (
        "group",
        "شلة الجامعة",
        3,
        "owner",
        str(o["id"]),
    )

    # messages, the list, replies
    first = (await say(client, a, conv, "أهلاً")).json()
    r = await say(client, b, conv, "reply", reply_to_id=first["id"])
    assert r.status_code == 201 and r.json()["reply_to_id"] == first["id"]
    dm = await client.post(
        "/interactions/messages", json={"to_user_id": str(b["id"]), "body": "dm"}, headers=a["headers"]
    )
    before = await count(db, conv)
    assert code(await say(client, b, conv, "x", reply_to_id=dm.json()["id"])) == (400, "reply_not_in_conversation")
    assert await count(db, conv) == before
    r = await client.get(C, headers=o["headers"])
    item = next(i for i in r.json()["items"] if i["id"] == conv)
    assert (item["kind"], item["name"], item["peer"], item["unread"]) == ("group", "شلة الجامعة", None, 2)
    assert code(await say(client, s, conv)) == (404, "conversation_not_found")

    # roles: a plain member cannot add or remove; the owner makes a an admin; an admin cannot remove the owner
    assert code(await client.post(f"{G}/{conv}/members", json={"user_ids": [str(c["id"])]}, headers=a["headers"])) == (
        403,
        "not_group_admin",
    )
    assert code(await client.delete(f"{G}/{conv}/members/{b['id']}", headers=a["headers"])) == (
        403,
        "not_group_admin",
    )
    assert code(
        await client.put(f"{G}/{conv}/members/{a['id']}/role", json={"role": "admin"}, headers=b["headers"])
    ) == (
        403,
        "not_group_owner",
    )
    assert await members_of(client, o, conv) == {str(o["id"]): "owner", str(a["id"]): "member", str(b["id"]): "member"}
    r = await client.put(f"{G}/{conv}/members/{a['id']}/role", json={"role": "admin"}, headers=o["headers"])
    assert r.status_code == 200 and r.json()["role"] == "admin"
    r = await client.post(f"{G}/{conv}/members", json={"user_ids": [str(c["id"])]}, headers=a["headers"])
    assert r.status_code == 200 and r.json()["member_count"] == 4
    assert code(await client.delete(f"{G}/{conv}/members/{o['id']}", headers=a["headers"])) == (
        403,
        "insufficient_role",
    )
    assert code(await client.delete(f"{G}/{conv}/members/{s['id']}", headers=o["headers"])) == (
        404,
        "member_not_found",
    )
    assert set((await members_of(client, o, conv)).values()) == {"owner", "admin", "member"}

    # unsend: not someone else's, not after 10 minutes; within: the body is gone from history
    assert code(await client.delete(f"/interactions/messages/{first['id']}", headers=b["headers"])) == (
        403,
        "not_your_message",
    )
    await db.execute("UPDATE messages SET created_at = now() - interval '11 minutes' WHERE id = $1::uuid", first["id"])
    assert code(await client.delete(f"/interactions/messages/{first['id']}", headers=a["headers"])) == (
        409,
        "unsend_window_passed",
    )
    assert await db.fetchval("SELECT body FROM messages WHERE id = $1::uuid", first["id"]) == "أهلاً"
    late = (await say(client, a, conv, "oops")).json()
    r = await client.delete(f"/interactions/messages/{late['id']}", headers=a["headers"])
    assert r.status_code == 200 and r.json()["unsent"] is True and r.json()["body"] == ""
    assert (await client.delete(f"/interactions/messages/{late['id']}", headers=a["headers"])).status_code == 200
    hist = (await client.get(f"{C}/{conv}/messages", headers=c["headers"])).json()["items"]
    assert [(m["body"], m["unsent"]) for m in hist][0] == ("", True)
    assert await db.fetchval("SELECT body FROM messages WHERE id = $1::uuid", late["id"]) == ""

    # read receipts per member
    r = await client.post(
        f"/interactions/messages/{conv}/read", json={"up_to_message_id": late["id"]}, headers=c["headers"]
    )
    assert r.status_code == 200 and r.json()["unread"] == 0
    got = {
        m["user"]["id"]: m["read_up_to"]
        for m in (await client.get(f"{C}/{conv}/members", headers=o["headers"])).json()["items"]
    }
    assert got[str(c["id"])] == late["id"] and got[str(a["id"])] == late["id"]  # the sender read their own

    # remove: the member can no longer send, read or see the history; nothing was stored
    assert (await client.delete(f"{G}/{conv}/members/{b['id']}", headers=o["headers"])).status_code == 204
    before = await count(db, conv)
    assert code(await say(client, b, conv, "still here?")) == (403, "not_a_member")
    assert code(await client.get(f"{C}/{conv}/messages", headers=b["headers"])) == (403, "not_a_member")
    assert await count(db, conv) == before
    assert str(b["id"]) not in await members_of(client, o, conv)

    # invite links: admins only; a bad code; the removed member rejoins by the link
    assert code(await client.post(f"{G}/{conv}/invite", headers=c["headers"])) == (403, "not_group_admin")
    r = await client.post(f"{G}/{conv}/invite", headers=a["headers"])
    assert r.status_code == 201
    invite = r.json()["invite_code"]
    assert code(await client.post(f"{G}/join", json={"invite_code": "nope"}, headers=b["headers"])) == (
        404,
        "invite_not_found",
    )
    r = await client.post(f"{G}/join", json={"invite_code": invite}, headers=b["headers"])
    assert r.status_code == 200 and r.json()["member_count"] == 4 and "invite_code" not in r.json()
    assert (await say(client, b, conv, "back")).status_code == 201

    # mute
    until = (datetime.now(UTC) + timedelta(hours=8)).isoformat()
    r = await client.put(f"{C}/{conv}/mute", json={"muted_until": until}, headers=c["headers"])
    assert r.status_code == 200 and r.json()["muted_until"]
    item = next(i for i in (await client.get(C, headers=c["headers"])).json()["items"] if i["id"] == conv)
    assert item["muted_until"] == r.json()["muted_until"]

    # the 257th member: 409 group_full, nobody added; the same by the invite link
    more = await clones(db, o["id"], 252)  # 4 + 252 = 256
    r = await client.post(f"{G}/{conv}/members", json={"user_ids": [str(u) for u in more]}, headers=o["headers"])
    assert r.status_code == 200 and r.json()["member_count"] == 256
    r = await client.post(f"{G}/{conv}/members", json={"user_ids": [str(s["id"])]}, headers=o["headers"])
    assert code(r) == (403, "blocked")
    r = await client.post(
        f"{G}/{conv}/members", json={"user_ids": [str((await clones(db, o["id"], 1))[0])]}, headers=o["headers"]
    )
    assert code(r) == (409, "group_full")
    d = await user(client)
    assert code(await client.post(f"{G}/join", json={"invite_code": invite}, headers=d["headers"])) == (
        409,
        "group_full",
    )
    assert len(await members_of(client, o, conv)) == 256

    # the owner leaves: the admin owns the group
    assert (await client.post(f"{G}/{conv}/leave", headers=o["headers"])).status_code == 204
    assert (await client.get(f"{G}/{conv}", headers=a["headers"])).json()["owner_id"] == str(a["id"])
    assert (await members_of(client, a, conv))[str(a["id"])] == "owner"


CREATE = """mutation($i: CreateGroupInput!) { createGroup(input: $i) { id kind name memberCount role } }"""
SEND = """mutation($i: ConversationMessageInput!) { sendConversationMessage(input: $i) { id body replyToId unsent } }"""


async def test_graphql_face(client):
    o, a, b = [await user(client) for _ in range(3)]
    r = await gql(client, o, CREATE, {"i": {"name": "fam", "memberIds": [str(a["id"]), str(b["id"])]}})
    g = r["data"]["createGroup"]
    assert (g["kind"], g["memberCount"], g["role"]) == ("group", 3, "owner")
    m = (await gql(client, a, SEND, {"i": {"conversationId": g["id"], "body": "hello"}}))["data"][
        "sendConversationMessage"
    ]
    reply = await gql(client, b, SEND, {"i": {"conversationId": g["id"], "body": "hey", "replyToId": m["id"]}})
    assert reply["data"]["sendConversationMessage"]["replyToId"] == m["id"]
    r = await gql(client, b, "mutation($m: ID!) { unsendMessage(messageId: $m) { id } }", {"m": m["id"]})
    assert r["errors"][0]["extensions"]["code"] == "not_your_message"
    r = await gql(client, a, "mutation($m: ID!) { unsendMessage(messageId: $m) { body unsent } }", {"m": m["id"]})
    assert r["data"]["unsendMessage"] == {"body": "", "unsent": True}
    r = await gql(
        client,
        o,
        "query($c: ID!) { conversationMembers(conversationId: $c) { role user { id } readUpTo } }",
        {"c": g["id"]},
    )
    assert sorted(x["role"] for x in r["data"]["conversationMembers"]) == ["member", "member", "owner"]
    r = await gql(
        client,
        a,
        "mutation($c: ID!, $u: ID!) { removeGroupMember(conversationId: $c, userId: $u) }",
        {"c": g["id"], "u": str(b["id"])},
    )
    assert r["errors"][0]["extensions"]["code"] == "not_group_admin"
    r = await gql(client, o, "query { conversations { items { id kind name peer { id } } } }")
    assert {"id": g["id"], "kind": "group", "name": "fam", "peer": None} in r["data"]["conversations"]["items"]


CONVERSATION = """subscription($c: ID!) { conversationEvents(conversationId: $c) {
  __typename
  ... on MessageNew { message { id body } }
  ... on MessageUnsent { messageId }
  ... on MemberChanged { userIds change }
} }"""


async def event_of(c, typename: str) -> dict:
    """The operation's next conversationEvents of that type (typing and receipts are skipped)."""
    while True:
        msg = await c.of("c")
        if msg["type"] != "next" or msg["payload"]["data"]["conversationEvents"]["__typename"] == typename:
            return msg


async def test_room_pushes_on_two_api_processes_and_a_removed_member_hears_nothing_more(client, api, api2, redis):
    o, a, b = [await user(client) for _ in range(3)]
    conv = (await group(client, o, a, b))["id"]
    wa = await open_ws(api, a["access_token"])  # a on the first process
    wb = await open_ws(api2, b["access_token"])  # b on the second
    try:
        async with (
            sio_connected(api2, o["access_token"]) as so,  # o's Socket.IO socket on the second
            gql_connected(api, {"token": b["access_token"]}) as gb,  # b's conversationEvents on the first
        ):
            await gb.subscribe("c", CONVERSATION, c=conv)
            await gb.send({"type": "ping"})
            assert (await gb.recv())["type"] == "pong"
            for u in (o, a, b):
                await wait_for(lambda u=u: subscribed(redis, u["id"]), what="sockets live")

            m = (await say(client, o, conv, "للجميع")).json()
            assert (await next_message(wa, "message.new", 10))["message"]["id"] == m["id"]
            assert (await next_message(wb, "message.new", 10))["message"]["body"] == "للجميع"
            assert (await so.event("message.new"))["message"]["id"] == m["id"]
            assert (await gb.of("c"))["payload"]["data"]["conversationEvents"] == {
                "__typename": "MessageNew",
                "message": {"id": m["id"], "body": "للجميع"},
            }

            # typing and read receipts reach the room, across processes
            await wa.send(orjson.dumps({"type": "typing", "conversation_id": conv}).decode())
            assert (await next_message(wb, "typing", 10))["user_id"] == str(a["id"])
            assert (await so.event("typing"))["user_id"] == str(a["id"])
            r = await client.post(
                f"/interactions/messages/{conv}/read", json={"up_to_message_id": m["id"]}, headers=b["headers"]
            )
            assert r.status_code == 200
            assert (await next_message(wa, "message.read", 10))["reader_id"] == str(b["id"])
            assert (await so.event("message.read"))["reader_id"] == str(b["id"])

            # unsend
            assert (await client.delete(f"/interactions/messages/{m['id']}", headers=o["headers"])).status_code == 200
            assert (await next_message(wb, "message.unsent", 10))["message_id"] == m["id"]
            assert (await so.event("message.unsent"))["message_id"] == m["id"]
            assert (await event_of(gb, "MessageUnsent"))["payload"]["data"]["conversationEvents"] == {
                "__typename": "MessageUnsent",
                "messageId": m["id"],
            }

            # b is removed: told once, then the GraphQL operation ends, and the next room message
            # never reaches b's socket (a direct message sent after it arrives first)
            assert (await client.delete(f"{G}/{conv}/members/{b['id']}", headers=o["headers"])).status_code == 204
            gone = await next_message(wb, "conversation.member", 10)
            assert (gone["user_ids"], gone["change"]) == ([str(b["id"])], "removed")
            assert (await event_of(gb, "MemberChanged"))["payload"]["data"]["conversationEvents"] == {
                "__typename": "MemberChanged",
                "userIds": [str(b["id"])],
                "change": "removed",
            }
            ended = await gb.of("c")
            assert ended["type"] == "error" and ended["payload"][0]["extensions"]["code"] == "not_a_member"

            after = (await say(client, o, conv, "without b")).json()
            assert (await next_message(wa, "message.new", 10))["message"]["id"] == after["id"]
            await client.post(
                "/interactions/messages", json={"to_user_id": str(b["id"]), "body": "marker"}, headers=o["headers"]
            )
            assert (await next_message(wb, "message.new", 10))["message"]["body"] == "marker"
            assert code(await say(client, b, conv, "let me in")) == (403, "not_a_member")
            # typing from a removed member is refused on the socket
            assert (await request(wb, {"type": "typing", "conversation_id": conv}))["code"] == "not_a_member"
    finally:
        await wa.close()
        await wb.close()


async def test_a_muted_direct_conversation_and_group_messages_make_no_notification(client, svc):
    a, b, c = [await user(client) for _ in range(3)]
    # the pair's conversation without a message: a real message.sent would reach a running
    # worker's notifications agent at a time this test does not control
    async with svc.sessions() as s, s.begin():
        conv = str((await messages._conversation(s, a["id"], b["id"])).id)
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await client.put(f"{C}/{conv}/mute", json={"muted_until": until}, headers=b["headers"])).status_code == 200
    room = (await group(client, a, b, c))["id"]

    def sent(conversation: str, recipient=None) -> object:
        payload = {"message_id": str(new_id()), "conversation_id": conversation, "sender_id": str(a["id"])}
        if recipient is not None:
            payload["recipient_id"] = str(recipient)
        else:
            payload["kind"] = "group"
        return received(Event("message.sent", payload))

    await notifications_agent([sent(conv, b["id"]), sent(room), sent(room)], svc)
    assert [n for n in (await notifications.list_for(svc, b["id"]))["items"] if n["kind"] == "message"] == []
    assert (await client.put(f"{C}/{conv}/mute", json={"muted_until": None}, headers=b["headers"])).status_code == 200
    await notifications_agent([sent(conv, b["id"])], svc)
    got = [n for n in (await notifications.list_for(svc, b["id"]))["items"] if n["kind"] == "message"]
    assert [(n["target_id"], n["event_count"]) for n in got] == [(conv, 1)]
