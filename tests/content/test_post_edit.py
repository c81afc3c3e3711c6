"""Editing a post (models/content/editing.py) over the real API, PostgreSQL, Redis and the broker:
caption and visibility, edited_at, hashtags and mentions parsed again, only by the author, the
edit visible at once in cached feed pages, and its post.edited event after the commit."""

from __future__ import annotations

import orjson
from aiokafka import AIOKafkaConsumer

from models.core.events import new_id
from models.engagement import FollowChange
from tests.support.client import code, gql
from tests.support.factories import create_post, user
from tests.support.waiting import wait_for


async def test_edit_caption_and_visibility(client):
    author, friend, stranger = await user(client), await user(client), await user(client)
    post = await create_post(client, author, "first words")
    caption = f"#مِصرُ #القاهرة #Cairo ٢٠٢٦ hello @{friend['user']['username'].upper()} @nobody_known_here"
    r = await client.patch(f"/posts/{post}", json={"caption": caption}, headers=author["headers"])
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["caption"] == caption and view["edited_at"] is not None
    assert view["hashtags"] == ["مصر", "القاهره", "cairo"]
    assert view["mentions"] == [str(friend["id"])]  # unknown names are not mentions
    assert view["author"]["id"] == str(author["id"]) and view["viewer"]["reaction"] is None  # the post view
    # visibility: strangers lose it at once, as if it never existed
    r = await client.patch(f"/posts/{post}", json={"visibility": "followers"}, headers=author["headers"])
    assert r.json()["visibility"] == "followers" and r.json()["caption"] == caption
    assert code(await client.get(f"/posts/{post}", headers=stranger["headers"])) == (404, "post_not_found")


async def test_only_the_author_edits_and_bad_input(client):
    author, other = await user(client), await user(client)
    post = await create_post(client, author, "mine")
    assert code(await client.patch(f"/posts/{post}", json={"caption": "x"}, headers=other["headers"])) == (
        404,
        "post_not_found",
    )
    assert code(await client.patch("/posts/zzz", json={"caption": "x"}, headers=author["headers"])) == (
        400,
        "invalid_id",
    )
    assert code(await client.patch(f"/posts/{new_id()}", json={"caption": "x"}, headers=author["headers"])) == (
        404,
        "post_not_found",
    )
    for body in ({}, {"visibility": "circle"}, {"caption": "x", "circle_id": str(new_id())}, {"kind": "story"}):
        r = await client.patch(f"/posts/{post}", json=body, headers=author["headers"])
        assert r.status_code in (400, 422) and r.json()["error"]["code"] == "validation_error", (body, r.text)
    r = await client.patch(
        f"/posts/{post}", json={"visibility": "circle", "circle_id": str(new_id())}, headers=author["headers"]
    )
    assert code(r) == (404, "circle_not_found")
    assert (await client.get(f"/posts/{post}", headers=author["headers"])).json()["edited_at"] is None


async def test_an_edit_shows_at_once_in_cached_feed_pages(client, svc):
    author, reader = await user(client), await user(client)
    post = await create_post(client, author, "before")
    await svc.store.apply_follows([FollowChange(reader["id"], author["id"], True, new_id())])
    r = await client.get("/feeds/home", params={"limit": 7}, headers=reader["headers"])
    assert r.json()["items"][0]["post"]["caption"] == "before"
    r = await client.patch(f"/posts/{post}", json={"caption": "after #edit"}, headers=author["headers"])
    assert r.status_code == 200
    r = await client.get("/feeds/home", params={"limit": 7}, headers=reader["headers"])
    assert r.headers["X-Feed-Cache"] == "hit"
    first = r.json()["items"][0]["post"]
    assert first["id"] == post and first["caption"] == "after #edit" and first["hashtags"] == ["edit"]
    # made private to followers of... nobody but the author: gone from the cached page too
    await svc.store.apply_follows([FollowChange(reader["id"], author["id"], False, new_id())])
    await svc.redis.delete(f"feed:following:{reader['id']}")
    r = await client.patch(f"/posts/{post}", json={"visibility": "followers"}, headers=author["headers"])
    r = await client.get("/feeds/home", params={"limit": 7}, headers=reader["headers"])
    assert post not in [i["post"]["id"] for i in r.json()["items"]]


async def test_post_edited_event_and_graphql_edit(client, stack_env):
    author = await user(client)
    post = await create_post(client, author, "g")
    data = await gql(
        client,
        author,
        'mutation($id: ID!) { editPost(id: $id, input: {caption: "#Hi there"}) { id caption hashtags editedAt '
        "author { username } } }",
        {"id": post},
    )
    assert "errors" not in data, data
    edited = data["data"]["editPost"]
    assert edited["hashtags"] == ["hi"] and edited["editedAt"] and edited["author"]["username"]
    other = await user(client)
    denied = await gql(
        client, other, 'mutation($id: ID!) { editPost(id: $id, input: {caption: "x"}) { id } }', {"id": post}
    )
    assert denied["errors"][0]["extensions"]["code"] == "post_not_found"
    consumer = AIOKafkaConsumer(
        "content.posts",
        bootstrap_servers=stack_env["KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen: list[dict] = []

        async def edited_event():
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen.extend(orjson.loads(r.value) for r in records)
            return next((e for e in seen if e["type"] == "post.edited" and e["payload"]["post_id"] == post), None)

        event = await wait_for(edited_event, timeout=30)
        assert event["payload"]["caption"] == "#Hi there" and event["payload"]["hashtags"] == ["hi"]
        assert event["payload"]["author_id"] == str(author["id"])
    finally:
        await consumer.stop()
