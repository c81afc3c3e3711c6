"""Blocks and mutes: what a block refuses (follow, see, react, lists), that it holds the moment the
API answers, that it ends follows both ways through the stream, and the Redis cache protocol."""

from __future__ import annotations

from uuid import UUID, uuid4

from models.social import blocks, mutes
from tests.support.client import gql
from tests.support.factories import create_post, register, uid
from tests.support.waiting import equals, wait_for


async def test_blocked_user_cannot_follow_see_or_react(client):
    author, other = await register(client), await register(client)
    post = await create_post(client, author, caption="mine")
    # before the block everything works
    assert (await client.get(f"/posts/{post}", headers=other["headers"])).status_code == 200
    r = await client.post(f"/users/{uid(other)}/block", headers=author["headers"])
    assert r.status_code == 204
    # holds at once (no waiting): the same request right after the 204
    for method, path, body in (
        ("GET", f"/posts/{post}", None),
        ("GET", f"/posts/{post}/counters", None),
        ("POST", "/interactions/reactions", {"post_id": post}),
        ("DELETE", "/interactions/reactions", {"post_id": post}),
    ):
        r = await client.request(method, path, json=body, headers=other["headers"])
        assert r.status_code == 404 and r.json()["error"]["code"] == "post_not_found", (method, path, r.text)
    res = await gql(client, other, f'{{ post(id: "{post}") {{ id }} }}')
    assert res["errors"][0]["extensions"]["code"] == "post_not_found"
    res = await gql(client, other, f'mutation {{ react(postId: "{post}") {{ eventId }} }}')
    assert res["errors"][0]["extensions"]["code"] == "post_not_found"
    # following is refused both ways, over REST and GraphQL
    r = await client.post(f"/users/{uid(author)}/follow", headers=other["headers"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "blocked"
    r = await client.post(f"/users/{uid(other)}/follow", headers=author["headers"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "blocked"
    res = await gql(client, other, f'mutation {{ follow(userId: "{uid(author)}") {{ eventId }} }}')
    assert res["errors"][0]["extensions"]["code"] == "blocked"
    r = await client.get(f"/users/{uid(author)}/followers", headers=other["headers"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "blocked"
    # the author still sees their own post; a third user still sees it
    assert (await client.get(f"/posts/{post}", headers=author["headers"])).status_code == 200
    third = await register(client)
    assert (await client.get(f"/posts/{post}", headers=third["headers"])).status_code == 200
    # unblocking restores access at once
    assert (await client.delete(f"/users/{uid(other)}/block", headers=author["headers"])).status_code == 204
    assert (await client.get(f"/posts/{post}", headers=other["headers"])).status_code == 200
    assert (
        await client.post("/interactions/reactions", json={"post_id": post}, headers=other["headers"])
    ).status_code == 202


async def test_block_ends_follows_both_ways(client, worker):
    a, b = await register(client), await register(client)
    assert (await client.post(f"/users/{uid(b)}/follow", headers=a["headers"])).status_code == 202
    assert (await client.post(f"/users/{uid(a)}/follow", headers=b["headers"])).status_code == 202

    async def counts(user):
        return (await client.get(f"/users/{uid(user)}/follow-counts", headers=a["headers"])).json()

    await wait_for(lambda: equals(counts(a), {"followers": 1, "following": 1}), what="mutual follow")
    res = await gql(client, a, f'mutation {{ block(userId: "{uid(b)}") }}')
    assert res["data"]["block"] is True
    zero = {"followers": 0, "following": 0}
    await wait_for(lambda: equals(counts(a), zero), what="a's follows ended")
    assert await counts(b) == zero
    # unblocking does not bring the follows back
    assert (await client.delete(f"/users/{uid(b)}/block", headers=a["headers"])).status_code == 204
    assert (await client.post(f"/users/{uid(b)}/follow", headers=a["headers"])).status_code == 202
    await wait_for(lambda: equals(counts(b), {"followers": 1, "following": 0}), what="follow after unblock")
    assert await counts(a) == {"followers": 0, "following": 1}


async def test_block_and_mute_refusals_and_lists(client):
    me, x, y = await register(client), await register(client), await register(client)
    r = await client.post(f"/users/{uid(me)}/block", headers=me["headers"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "cannot_block_self"
    r = await client.post("/users/me/mute", headers=me["headers"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "cannot_mute_self"
    for path in ("block", "mute"):
        r = await client.post(f"/users/{uuid4()}/{path}", headers=me["headers"])
        assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    for _ in range(2):  # idempotent
        assert (await client.post(f"/users/{uid(x)}/mute", headers=me["headers"])).status_code == 204
    assert (await client.post(f"/users/{uid(y)}/mute", headers=me["headers"])).status_code == 204
    r = await client.get("/users/me/mutes", headers=me["headers"])
    assert [i["user"]["id"] for i in r.json()["items"]] == [uid(y), uid(x)]
    assert r.json()["items"][0]["user"]["username"] == y["user"]["username"]
    res = await gql(client, me, "{ mutes { items { user { id } createdAt } nextCursor } }")
    assert [i["user"]["id"] for i in res["data"]["mutes"]["items"]] == [uid(y), uid(x)]
    # a mute is not a block: x may still follow me and see my posts
    assert (await client.post(f"/users/{uid(me)}/follow", headers=x["headers"])).status_code == 202
    assert (await client.delete(f"/users/{uid(x)}/mute", headers=me["headers"])).status_code == 204
    r = await client.get("/users/me/mutes", headers=me["headers"])
    assert [i["user"]["id"] for i in r.json()["items"]] == [uid(y)]
    assert (await client.get("/users/me/blocks", headers=me["headers"])).json() == {"items": [], "next_cursor": None}


async def test_block_list_pages_are_stable_under_inserts(client):
    me = await register(client)
    targets = [await register(client) for _ in range(5)]
    for t in targets:
        assert (await client.post(f"/users/{uid(t)}/block", headers=me["headers"])).status_code == 204
    r = await client.get("/users/me/blocks?limit=2", headers=me["headers"])
    seen = [i["user"]["id"] for i in r.json()["items"]]
    cursor = r.json()["next_cursor"]
    for _ in range(2):  # blocks added between pages land before the cursor
        late = await register(client)
        assert (await client.post(f"/users/{uid(late)}/block", headers=me["headers"])).status_code == 204
    while cursor:
        r = await client.get(f"/users/me/blocks?limit=2&cursor={cursor}", headers=me["headers"])
        seen += [i["user"]["id"] for i in r.json()["items"]]
        cursor = r.json()["next_cursor"]
    assert seen == [uid(t) for t in reversed(targets)]
    r = await client.get("/users/me/blocks?cursor=bm90LWEtY3Vyc29y", headers=me["headers"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"


async def test_blocked_either_cache_never_serves_a_stale_allow(client, svc):
    a, b = await register(client), await register(client)
    ida, idb = uid(a), uid(b)
    a_id, b_id = UUID(ida), UUID(idb)
    assert not await blocks.blocked_either(svc, a_id, b_id)  # caches "0"
    assert await svc.redis.get(blocks.cache_key(a_id, b_id)) == b"0"
    # the block overwrites the cached "0" as part of answering
    assert (await client.post(f"/users/{idb}/block", headers=a["headers"])).status_code == 204
    assert await blocks.blocked_either(svc, b_id, a_id)
    # a reader that computed "0" before the block committed cannot overwrite it (SET NX)
    await svc.redis.set(blocks.cache_key(a_id, b_id), b"0", nx=True)
    assert await blocks.blocked_either(svc, a_id, b_id)
    # the reverse direction still blocks after a's unblock if b blocked a meanwhile
    assert (await client.post(f"/users/{ida}/block", headers=b["headers"])).status_code == 204
    assert (await client.delete(f"/users/{idb}/block", headers=a["headers"])).status_code == 204
    assert await blocks.blocked_either(svc, a_id, b_id)
    assert (await client.delete(f"/users/{ida}/block", headers=b["headers"])).status_code == 204
    assert not await blocks.blocked_either(svc, a_id, b_id)
    # ensure_not_blocked and muted_by are what other areas call
    await blocks.ensure_not_blocked(svc, a_id, b_id)
    await mutes.mute(svc, muter_id=a_id, target_id=b_id)
    assert await mutes.muted_by(svc, a_id) == {b_id} and await mutes.muted_by(svc, b_id) == set()
