"""The first pipeline end to end: API -> broker -> counters agent -> store -> REST and websocket."""

from __future__ import annotations

import asyncio

import orjson
import websockets

from tests.support.factories import create_post, likes, register
from tests.support.waiting import equals, wait_for


async def test_like_visible_over_rest_and_pushed_over_websocket(client, worker, api):
    author, fan = await register(client), await register(client)
    post_id = await create_post(client, author)
    ws_url = api.replace("http", "ws") + f"/ws?token={fan['access_token']}"
    async with websockets.connect(ws_url) as ws:
        assert orjson.loads(await ws.recv())["type"] == "authenticated"
        await ws.send(orjson.dumps({"type": "subscribe", "topic": f"post:{post_id}"}).decode())
        assert orjson.loads(await ws.recv()) == {"type": "subscribed", "topic": f"post:{post_id}"}
        r = await client.post(
            "/interactions/reactions", json={"post_id": post_id, "type": "like"}, headers=fan["headers"]
        )
        assert r.status_code == 202 and r.json()["event_id"]
        # How fast is `make bench`'s business (row 5, p50 ~10 ms); here only that it arrives.
        push = orjson.loads(await asyncio.wait_for(ws.recv(), 30.0))
    assert push["type"] == "counter.updated" and push["post_id"] == post_id
    assert push["counters"]["likes"] == 1
    assert await likes(client, fan, post_id) == 1


async def test_websocket_auth_by_first_message_and_rejection(client, api):
    user = await register(client)
    base = api.replace("http", "ws") + "/ws"
    async with websockets.connect(base) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": user["access_token"]}).decode())
        assert orjson.loads(await ws.recv())["type"] == "authenticated"
        await ws.send('{"type":"subscribe","topic":"users:everything"}')
        assert orjson.loads(await ws.recv())["code"] == "bad_topic"
    async with websockets.connect(base + "?token=not-a-jwt") as ws:
        msg = orjson.loads(await ws.recv())
        assert msg["type"] == "error" and msg["code"] == "invalid_token"
        await ws.wait_closed()
        assert ws.close_code == 4401


async def test_same_event_twice_counts_once(client, worker):
    author, fan = await register(client), await register(client)
    post_id = await create_post(client, author)
    headers = {**fan["headers"], "Idempotency-Key": "like-once-123"}
    first = await client.post("/interactions/reactions", json={"post_id": post_id}, headers=headers)
    retry = await client.post("/interactions/reactions", json={"post_id": post_id}, headers=headers)
    assert first.status_code == retry.status_code == 202
    assert first.json()["event_id"] == retry.json()["event_id"]  # the retry is the same event
    await wait_for(lambda: likes(client, fan, post_id), what="like applied")
    # a second fan's like proves the first was fully processed before we look again
    other = await register(client)
    await client.post("/interactions/reactions", json={"post_id": post_id}, headers=other["headers"])
    await wait_for(lambda: equals(likes(client, fan, post_id), 2), what="two likes")


async def test_idempotency_key_with_other_body_is_rejected(client):
    author, fan = await register(client), await register(client)
    p1, p2 = await create_post(client, author), await create_post(client, author)
    headers = {**fan["headers"], "Idempotency-Key": "k-1"}
    assert (await client.post("/interactions/reactions", json={"post_id": p1}, headers=headers)).status_code == 202
    r = await client.post("/interactions/reactions", json={"post_id": p2}, headers=headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "idempotency_key_reused"


async def test_like_unlike_like_counts_one(client, worker):
    author, fan = await register(client), await register(client)
    post_id = await create_post(client, author)
    body = {"post_id": post_id, "type": "like"}
    for method in ("POST", "DELETE", "POST"):
        r = await client.request(method, "/interactions/reactions", json=body, headers=fan["headers"])
        assert r.status_code == 202
    await wait_for(lambda: equals(likes(client, fan, post_id), 1), what="likes == 1")
    # and unlike after that ends at 0
    await client.request("DELETE", "/interactions/reactions", json=body, headers=fan["headers"])
    await wait_for(lambda: equals(likes(client, fan, post_id), 0), what="likes == 0")


async def test_graphql_face_uses_the_same_pipeline(client, worker):
    author, fan = await register(client), await register(client)
    post_id = await create_post(client, author, caption="gql")

    async def gql(query: str, user=fan):
        r = await client.post("/graphql", json={"query": query}, headers=user["headers"])
        return r.json()

    me = await gql("{ me { id email profile { displayName avatar } } }")
    assert me["data"]["me"] == {
        "id": fan["user"]["id"],
        "email": fan["user"]["email"],
        "profile": {"displayName": fan["user"]["username"], "avatar": None},
    }
    res = await gql(f'mutation {{ react(postId: "{post_id}", type: LOVE) {{ eventId }} }}')
    assert res["data"]["react"]["eventId"]
    q = f'{{ post(id: "{post_id}") {{ caption counters {{ likes loves }} }} }}'
    post = await wait_for(lambda: _gql_loves(gql, q), what="love counted via GraphQL")
    assert post == {"caption": "gql", "counters": {"likes": 0, "loves": 1}}
    missing = await gql('{ post(id: "00000000-0000-0000-0000-000000000000") { id } }')
    assert missing["errors"][0]["extensions"]["code"] == "post_not_found"
    bad = await gql('{ post(id: "nope") { id } }')
    assert bad["errors"][0]["extensions"]["code"] == "invalid_id"
    anon = (await client.post("/graphql", json={"query": "{ me { id } }"})).json()
    assert anon["errors"][0]["extensions"]["code"] == "unauthorized"


async def _gql_loves(gql, q):
    data = (await gql(q))["data"]["post"]
    return data if data["counters"]["loves"] == 1 else None


async def test_post_creation_retry_with_idempotency_key_makes_one_post(client):
    user = await register(client)
    headers = {**user["headers"], "Idempotency-Key": "post-abc"}
    first = await client.post("/posts", json={"caption": "once"}, headers=headers)
    retry = await client.post("/posts", json={"caption": "once"}, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert first.json() == retry.json()
    other = await client.post("/posts", json={"caption": "twice?"}, headers=headers)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
