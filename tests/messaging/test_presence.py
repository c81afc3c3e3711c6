"""Presence (models/messaging/presence.py) through the real API and real websockets: online while a socket
is connected, across several sockets, offline with last_seen_at after the last closes, a dead
socket's entry expiring, who may see it (follows, conversations, the hide setting, blocks), the
presence push to conversation partners and the `presence:<id>` websocket topic, and GraphQL."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

import orjson
import websockets

from models.core.events import new_id
from models.engagement import FollowChange
from tests.support.factories import user
from tests.support.realtime import next_message, subscribed
from tests.support.waiting import equals, wait_for


async def talk(client, a: dict, b: dict) -> None:
    r = await client.post(
        "/interactions/messages", json={"to_user_id": str(b["id"]), "body": "hi"}, headers=a["headers"]
    )
    assert r.status_code == 201, r.text


async def seen_by(client, viewer: dict, target: dict):
    return await client.get(f"/users/{target['id']}/presence", headers=viewer["headers"])


@asynccontextmanager
async def socket(api, u: dict, redis):
    async with websockets.connect(api.replace("http", "ws") + "/ws?token=" + u["access_token"]) as ws:
        assert orjson.loads(await ws.recv())["type"] == "authenticated"
        await wait_for(lambda: subscribed(redis, u["id"]), what="the hub subscribed the user's channel")
        yield ws


async def _online(client, viewer, target, want: bool):
    r = await seen_by(client, viewer, target)
    return r.json() if r.status_code == 200 and r.json()["online"] is want else None


async def test_online_across_sockets_offline_after_the_last_and_dead_entries_expire(client, api, redis):
    a, b = await user(client), await user(client)
    await talk(client, a, b)  # b may see a: they talk
    r = await seen_by(client, b, a)
    assert r.status_code == 200 and r.json() == {"user_id": str(a["id"]), "online": False, "last_seen_at": None}

    key = f"presence:conn:{a['id']}"
    async with socket(api, a, redis):
        await wait_for(lambda: _online(client, b, a, True), what="a online")
        async with socket(api, a, redis):
            assert await redis.zcard(key) == 2
        await wait_for(lambda: equals(redis.zcard(key), 1), what="the second socket's entry gone")
        assert (await seen_by(client, b, a)).json()["online"] is True  # one device left
    gone = await wait_for(lambda: _online(client, b, a, False), what="a offline")
    assert gone["last_seen_at"] is not None
    assert (await seen_by(client, a, a)).json()["online"] is False  # self sees the same

    # a socket whose replica died stops refreshing: once its entry's time passes, it no longer counts
    async with socket(api, a, redis):
        await wait_for(lambda: _online(client, b, a, True), what="a online again")
        (conn,) = await redis.zrange(key, 0, -1)
        await redis.zadd(key, {conn: time.time() - 1})  # as if not refreshed for PRESENCE_TTL
        assert (await seen_by(client, b, a)).json()["online"] is False


async def test_who_may_see_presence(client, svc):
    a, follower_of_a, followed_by_a, partner, stranger = [await user(client) for _ in range(5)]
    await talk(client, partner, a)
    await svc.store.apply_follows(
        [
            FollowChange(a["id"], followed_by_a["id"], True, new_id()),
            FollowChange(follower_of_a["id"], a["id"], True, new_id()),
        ]
    )
    assert (await seen_by(client, a, a)).status_code == 200
    assert (await client.get("/users/me/presence", headers=a["headers"])).json()["user_id"] == str(a["id"])
    assert (await seen_by(client, followed_by_a, a)).status_code == 200
    assert (await seen_by(client, partner, a)).status_code == 200
    for viewer in (follower_of_a, stranger):  # following a is not enough
        r = await seen_by(client, viewer, a)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "presence_not_visible")

    # hidden: nobody else sees it, the user still does
    r = await client.put("/users/me/presence-settings", json={"visible": False}, headers=a["headers"])
    assert r.status_code == 200 and r.json() == {"visible": False}
    assert (await client.get("/users/me/presence-settings", headers=a["headers"])).json() == {"visible": False}
    for viewer in (followed_by_a, partner):
        assert (await seen_by(client, viewer, a)).status_code == 404
    assert (await seen_by(client, a, a)).status_code == 200
    await client.put("/users/me/presence-settings", json={"visible": True}, headers=a["headers"])
    assert (await seen_by(client, partner, a)).status_code == 200

    # a block either way hides it
    r = await client.post(f"/users/{a['id']}/block", headers=partner["headers"])
    assert r.status_code in (200, 201, 204), r.text
    assert (await seen_by(client, partner, a)).status_code == 404
    assert (await seen_by(client, a, partner)).status_code == 404

    r = await client.get(f"/users/{new_id()}/presence", headers=a["headers"])
    assert (r.status_code, r.json()["error"]["code"]) == (404, "user_not_found")
    r = await client.get("/users/nope/presence", headers=a["headers"])
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_id")
    assert (await client.get(f"/users/{a['id']}/presence")).status_code == 401
    r = await client.put("/users/me/presence-settings", json={"visible": "maybe"}, headers=a["headers"])
    assert r.status_code in (400, 422)


async def test_partners_hear_presence_changes_and_may_subscribe(client, api, redis):
    a, b, c = [await user(client) for _ in range(3)]
    await talk(client, b, a)
    async with socket(api, b, redis) as wb, socket(api, c, redis) as wc:
        # the topic presence:<a> is for those who may see a's presence
        await wc.send(orjson.dumps({"type": "subscribe", "topic": f"presence:{a['id']}"}).decode())
        assert (await next_message(wc, "error", timeout=10))["code"] == "presence_not_visible"
        await wb.send(orjson.dumps({"type": "subscribe", "topic": f"presence:{a['id']}"}).decode())
        assert (await next_message(wb, "subscribed", timeout=10))["topic"] == f"presence:{a['id']}"

        async with socket(api, a, redis):
            on = await next_message(wb, "presence", timeout=10)
            assert on["user_id"] == str(a["id"]) and on["online"] is True
            # heard twice: on b's own channel (a partner) and on the presence:<a> topic
            assert (await next_message(wb, "presence", timeout=10))["online"] is True
        off = await next_message(wb, "presence", timeout=10)
        assert off["user_id"] == str(a["id"]) and off["online"] is False and off["last_seen_at"]


async def test_graphql_presence(client):
    a, b = await user(client), await user(client)
    await talk(client, a, b)

    async def gql(u, q, **variables):
        return (await client.post("/graphql", json={"query": q, "variables": variables}, headers=u["headers"])).json()

    got = await gql(b, "query($id: ID!) { presence(userId: $id) { userId online lastSeenAt } }", id=str(a["id"]))
    assert got["data"]["presence"] == {"userId": str(a["id"]), "online": False, "lastSeenAt": None}
    hidden = await gql(a, "mutation { setPresenceVisible(visible: false) { visible } }")
    assert hidden["data"]["setPresenceVisible"] == {"visible": False}
    assert (await gql(a, "{ presenceSettings { visible } }"))["data"]["presenceSettings"] == {"visible": False}
    denied = await gql(b, "query($id: ID!) { presence(userId: $id) { online } }", id=str(a["id"]))
    assert denied["errors"][0]["extensions"]["code"] == "presence_not_visible"
