"""Deleting a post: the REST and GraphQL faces and their bad inputs, the post.deleted event (outbox,
after commit), feed caches, the consumers fed events without a broker (notifications, the video's
files, the recommendation index, trending), then the whole path through the real broker and
worker, with `make reconcile` agreeing afterwards."""

from __future__ import annotations

import subprocess
import sys
import time
from uuid import UUID, uuid4

import pytest_asyncio
from sqlalchemy import text

from infra import vectors
from infra.services import Services
from infra.settings import get_settings
from infra.storage import storage_for
from infra.vectors import VIDEOS
from models.core.events import Event, Received, new_id, received
from models.core.topics import POSTS, validate_payload
from models.discovery import feeds, trending
from models.engagement import FollowChange
from models.media.videos import Video
from models.messaging import notifications
from streams.agents.embeddings import recs_embeddings
from streams.agents.notifications import notifications as notifications_agent
from streams.agents.post_media import post_media
from tests.support.broker import collect
from tests.support.client import code, gql
from tests.support.factories import create_post, user
from tests.support.processes import REPO
from tests.support.videos import video_with_files
from tests.support.waiting import wait_for


def ev(etype: str, payload: dict) -> Received:
    """The event as an agent receives it (typed, decoded by the runner's decoder)."""
    return received(Event(etype, {k: str(v) if isinstance(v, UUID) else v for k, v in payload.items()}))


def deleted(post_id, author_id, video_id=None, original_key=None) -> Received:
    return ev(
        "post.deleted",
        {"post_id": post_id, "author_id": author_id, "video_id": video_id, "original_key": original_key},
    )


async def stored(svc, keys: list[str]) -> list[str]:
    store = storage_for(svc.settings)
    return [k for k in keys if await store.exists(k)]


# ------------------------------------------------------------------ the faces


async def test_only_the_author_deletes_and_bad_inputs(client):
    author, other = await user(client), await user(client)
    post = await create_post(client, author, "to be deleted")
    kept = await create_post(client, author, "stays")

    r = await client.delete(f"/posts/{post}")
    assert code(r) == (401, "unauthorized")
    r = await client.delete("/posts/not-a-uuid", headers=author["headers"])
    assert code(r) == (400, "invalid_id")
    r = await client.delete(f"/posts/{post}", headers=other["headers"])  # someone else's: as if missing
    assert code(r) == (404, "post_not_found")
    assert (await client.get(f"/posts/{post}", headers=other["headers"])).status_code == 200

    r = await client.delete(f"/posts/{post}", headers=author["headers"])
    assert r.status_code == 204 and r.content == b""
    for who in (author, other):
        assert code(await client.get(f"/posts/{post}", headers=who["headers"])) == (404, "post_not_found")
    assert code(await client.delete(f"/posts/{post}", headers=author["headers"])) == (404, "post_not_found")
    r = await client.post("/interactions/reactions", json={"post_id": post, "type": "like"}, headers=other["headers"])
    assert code(r) == (404, "post_not_found")
    r = await client.post("/interactions/comments", json={"post_id": post, "body": "hi"}, headers=other["headers"])
    assert r.status_code == 404
    assert (await client.get(f"/posts/{kept}", headers=other["headers"])).status_code == 200

    r = await client.post("/posts", json={"caption": "story", "kind": "story"}, headers=author["headers"])
    story = r.json()["id"]
    assert (await client.delete(f"/posts/{story}", headers=author["headers"])).status_code == 204
    assert code(await client.get(f"/posts/{story}", headers=author["headers"])) == (404, "post_not_found")


async def test_graphql_delete_post(client):
    author, other = await user(client), await user(client)
    post = await create_post(client, author)
    q = "mutation($id: ID!) { deletePost(id: $id) }"
    out = await gql(client, other, q, {"id": post})
    assert out["errors"][0]["extensions"]["code"] == "post_not_found"
    out = await gql(client, author, q, {"id": "nope"})
    assert out["errors"][0]["extensions"]["code"] == "invalid_id"
    assert (await gql(client, author, q, {"id": post}))["data"] == {"deletePost": True}
    out = await gql(client, other, "query($id: ID!) { post(id: $id) { id } }", {"id": post})
    assert out["errors"][0]["extensions"]["code"] == "post_not_found"


async def test_the_event_is_published_after_commit(client, api, stack_env):
    author = await user(client)
    post = await create_post(client, author)
    assert (await client.delete(f"/posts/{post}", headers=author["headers"])).status_code == 204
    found = await collect(
        stack_env["KAFKA_BOOTSTRAP"],
        POSTS.name,
        lambda evs: any(e["type"] == "post.deleted" and e["payload"]["post_id"] == post for e in evs),
    )
    [e] = [e for e in found if e["type"] == "post.deleted" and e["payload"]["post_id"] == post]
    assert validate_payload("post.deleted", e["payload"]) == e["payload"]
    assert e["payload"]["author_id"] == str(author["id"]) and e["actor"] == str(author["id"])
    assert e["payload"]["kind"] == "post" and e["payload"]["video_id"] is None


async def test_a_cached_feed_page_drops_a_deleted_post(client, svc):
    author, fan = await user(client), await user(client)
    # the follow edge as the follows agent writes it (the feed reads the store)
    await svc.store.apply_follows([FollowChange(fan["id"], author["id"], True, new_id())])
    post = await create_post(client, author, "soon gone")

    async def shown():
        page = await feeds.home(svc, fan["id"])
        return post in [i["post"]["id"] for i in page["items"]] and page

    await wait_for(shown, what="the post in the follower's feed")
    assert (await feeds.home(svc, fan["id"]))["cached"] is True
    assert (await client.delete(f"/posts/{post}", headers=author["headers"])).status_code == 204
    page = await feeds.home(svc, fan["id"])
    assert page["cached"] is True  # the same cached page, re-checked on read
    assert post not in [i["post"]["id"] for i in page["items"]]
    r = await client.get("/feeds/home", headers=fan["headers"])
    assert post not in [i["post"]["id"] for i in r.json()["items"]]
    page = (await client.get("/feeds/home", headers=author["headers"])).json()
    assert post not in [i["post"]["id"] for i in page["items"]]


# ------------------------------------------------------------------ consumers, no broker


async def test_notifications_of_a_deleted_post_go_and_later_events_make_none(client, svc):
    author, fan, other_fan = await user(client), await user(client), await user(client)
    post = UUID(await create_post(client, author))
    kept = UUID(await create_post(client, author))
    like = lambda p, u: ev("reaction.added", {"post_id": p, "user_id": u["id"], "type": "like"})  # noqa: E731
    await notifications_agent([like(post, fan), like(kept, fan)], svc)
    assert {n["post_id"] for n in (await notifications.list_for(svc, author["id"]))["items"]} == {str(post), str(kept)}

    assert (await client.delete(f"/posts/{post}", headers=author["headers"])).status_code == 204
    gone = deleted(post, author["id"])
    await notifications_agent([gone], svc)
    await notifications_agent([gone], svc)  # redelivered: nothing left, nothing breaks
    page = await notifications.list_for(svc, author["id"])
    assert [n["post_id"] for n in page["items"]] == [str(kept)] and page["unread_count"] == 1
    # events about it applied after the deletion (another topic, another order) notify nobody
    comment = ev(
        "comment.created",
        {
            "comment_id": new_id(),
            "post_id": post,
            "author_id": other_fan["id"],
            "post_author_id": author["id"],
            "body": "late",
        },
    )
    await notifications_agent([like(post, other_fan), comment], svc)
    assert [n["post_id"] for n in (await notifications.list_for(svc, author["id"]))["items"]] == [str(kept)]


async def test_the_videos_files_leave_storage(client, svc):
    author = await user(client)
    vid, keys = await video_with_files(svc, author["id"])
    other_vid, other_keys = await video_with_files(svc, author["id"])
    r = await client.post("/posts", json={"caption": "clip", "video_id": str(vid)}, headers=author["headers"])
    assert r.status_code == 201, r.text
    post = r.json()["id"]
    assert (await client.get(f"/media/{vid}/status", headers=author["headers"])).status_code == 200

    assert (await client.delete(f"/posts/{post}", headers=author["headers"])).status_code == 204
    assert code(await client.get(f"/media/{vid}/status", headers=author["headers"])) == (404, "video_not_found")
    async with svc.sessions() as s:
        assert await s.get(Video, vid) is None
    await post_media([deleted(post, author["id"], vid, keys[0])], svc)
    assert await stored(svc, keys) == []
    assert await stored(svc, other_keys) == other_keys  # another video's files stay
    await post_media([deleted(post, author["id"], vid, keys[0])], svc)  # redelivered: a no-op


@pytest_asyncio.fixture
async def qdrant_svc(stack_env, tmp_path):
    # Its own Qdrant path: a worker of this test session may own the stack's.
    s = await Services.start(get_settings().model_copy(update={"qdrant_path": str(tmp_path / "qdrant")}), relay=False)
    yield s
    await s.stop()
    vectors.close_all()


async def test_the_recommendation_index_drops_the_post(qdrant_svc):
    svc = qdrant_svc
    author = uuid4()

    def created(caption: str) -> Received:
        pid = new_id()
        payload = {"post_id": str(pid), "author_id": str(author), "visibility": "public", "caption": caption}
        return received(Event("post.created", payload, id=pid))

    stays, goes, born_dead = created("koshary street food"), created("falafel in cairo"), created("fuul breakfast")
    await recs_embeddings([stays, goes], svc)
    vecs = vectors.shared(svc.settings)

    async def points() -> set[str]:
        ids = [str(e.id) for e in (stays, goes, born_dead)]
        return {p.id for p in await vecs.run(vecs.client.retrieve, VIDEOS, ids)}

    assert await points() == {str(stays.id), str(goes.id)}
    # one batch: a deletion, and a post created then deleted (keyed by post, so in this order)
    await recs_embeddings([deleted(goes.id, author), born_dead, deleted(born_dead.id, author)], svc)
    assert await points() == {str(stays.id)}


def test_trending_leaves_a_deleted_post_out():
    now = time.time()
    post, other = str(new_id()), str(new_id())
    window = (now - 600, now + 3000)
    items = [((f"{p}|r|{uuid4()}|like", window), [1.0, str(new_id())]) for p in (post, other) for _ in range(4)]
    assert trending.observed(items, window[0]) == {post: 4.0, other: 4.0}
    gone = trending.deleted_post(deleted(post, uuid4()))
    assert gone == post
    assert trending.observed(items, window[0], {gone}) == {other: 4.0}
    assert trending.deleted_post(ev("reaction.added", {"post_id": post, "user_id": uuid4(), "type": "like"})) is None


# ------------------------------------------------------------------ through the broker and worker


async def test_deletion_through_the_worker_and_reconcile_agrees(client, worker, svc, stack_env):
    author, fan = await user(client), await user(client)
    vid, keys = await video_with_files(svc, author["id"])
    r = await client.post("/posts", json={"caption": "clip #cairo", "video_id": str(vid)}, headers=author["headers"])
    post = r.json()["id"]
    r = await client.post("/interactions/reactions", json={"post_id": post, "type": "like"}, headers=fan["headers"])
    assert r.status_code == 202
    r = await client.post("/interactions/comments", json={"post_id": post, "body": "wow"}, headers=fan["headers"])
    assert r.status_code == 201

    async def notified():
        items = (await client.get("/notifications", headers=author["headers"])).json()["items"]
        return {n["kind"] for n in items if n["post_id"] == post} == {"reaction", "comment"}

    await wait_for(notified, timeout=30, what="the reaction and comment notifications")
    counters = (await client.get(f"/posts/{post}/counters", headers=fan["headers"])).json()
    assert counters["likes"] == 1

    assert (await client.delete(f"/posts/{post}", headers=author["headers"])).status_code == 204

    async def cleaned():
        items = (await client.get("/notifications", headers=author["headers"])).json()["items"]
        return not [n for n in items if n["post_id"] == post] and not await stored(svc, keys)

    await wait_for(cleaned, timeout=30, what="notifications and files of the deleted post gone")

    before = (await svc.store.get_counters([UUID(post)]))[UUID(post)]
    out = subprocess.run(
        [sys.executable, "-m", "jobs.reconcile_counters"],
        env=stack_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "counter(s) corrected" in out.stdout
    # the job found this post's counters agreeing with its edges: it left them as they were
    assert (await svc.store.get_counters([UUID(post)]))[UUID(post)] == before
    assert before.get("like") == 1
    async with svc.sessions() as s:
        [(active,)] = (
            await s.execute(
                text("SELECT count(*) FROM reaction_edges WHERE post_id = :p AND type = 'like' AND active"),
                {"p": UUID(post)},
            )
        ).all()
    assert active == 1
