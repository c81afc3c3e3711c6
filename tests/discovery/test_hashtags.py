"""#Hashtags (docs/hashtags.md): normalisation, the index kept by the `hashtags` agent fed events
without a broker (created, edited, deleted, removed / restored by moderation, redelivered), tag
pages over REST and GraphQL (Arabic spelling variants, visibility, blocks, mutes, hides, cursors,
sort=top), prefix search with counts, trending tags, /feeds/trending?hashtag= normalised; then
the whole path through the real broker and worker."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from uuid import UUID, uuid4

import asyncpg
import pytest

from models.core import text
from models.core.events import Event, Received, new_id, received
from models.discovery import hashtags as tags
from models.discovery import trending
from models.engagement import FollowChange
from streams.agents.counters import counters as counters_agent
from streams.agents.hashtags import hashtag_engagement
from streams.agents.hashtags import hashtags as hashtags_agent
from tests.support.client import code, gql
from tests.support.factories import user
from tests.support.processes import REPO
from tests.support.waiting import wait_for


def ev(etype: str, payload: dict) -> Received:
    return received(Event(etype, {k: str(v) if isinstance(v, UUID) else v for k, v in payload.items()}))


async def post(client, who: dict, caption: str, visibility: str = "public") -> dict:
    r = await client.post("/posts", json={"caption": caption, "visibility": visibility}, headers=who["headers"])
    assert r.status_code == 201, r.text
    return r.json()


def created(p: dict) -> Received:
    return ev(
        "post.created",
        {"post_id": p["id"], "author_id": p["author_id"], "visibility": p["visibility"], "caption": p["caption"]},
    )


async def page(client, who: dict | None, tag: str, **params) -> list[str]:
    r = await client.get(f"/hashtags/{quote(tag)}/posts", params=params, headers=who["headers"] if who else {})
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


async def count(svc, tag: str) -> int | None:
    found = (await tags.search_tags(svc, tag, cursor=None, limit=5))["items"]
    return next((i["post_count"] for i in found if i["tag"] == text.normalize_tag(tag)), None)


# ------------------------------------------------------------------ without the stack


def test_normalisation_of_tags():
    for typed in ("#أحمد", "احمد", "#إحمد", "آحمد", "#أَحْمَد", "#احـــمد"):
        assert tags.normalize_tag(typed) == "احمد"
    assert tags.normalize_tag("#Cairo") == tags.normalize_tag("CAIRO") == "cairo"
    assert tags.normalize_tag("#مدرسة") == "مدرسه" and tags.normalize_tag("مستشفى") == "مستشفي"
    assert tags.normalize_tag("#٢٠٢٦") == "2026"
    for bad in ("", "#", "   ", "a b", "a-b", "x" * 101, "#tag!"):
        with pytest.raises(Exception) as exc:
            tags.normalize_tag(bad)
        assert getattr(exc.value, "code", None) == "invalid_hashtag" and exc.value.status == 400


def test_scores():
    assert tags.engagement_score({"likes": 2, "loves": 1, "comments": 1, "shares": 1, "views": 4}) == 3 + 2 + 3 + 2
    assert tags.tag_score(3, 0, expected=1.0, threshold=3.0) == 4.0  # (3 - 1)^2 / 1
    assert tags.tag_score(2, 0, expected=1.0, threshold=3.0) == 0.0  # below the threshold
    assert tags.tag_score(6, 6, expected=1.0, threshold=3.0) == 0.0  # no growth over the window before
    assert tags.tag_score(10, 4, expected=1.0, threshold=3.0) == 9.0  # (10 - 4)^2 / 4
    at = datetime(2026, 1, 1, 10, 17, 42, tzinfo=UTC)
    assert tags.bucket_of(at, timedelta(minutes=10)) == datetime(2026, 1, 1, 10, 10, tzinfo=UTC)


# ------------------------------------------------------------------ migration 0022 on existing rows


async def test_migration_parses_old_posts_and_fills_the_index(stack_env):
    base = stack_env["DATABASE_URL"]
    name = f"hashtags_{uuid4().hex[:8]}"
    conn = await asyncpg.connect(base)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = base.rsplit("/", 1)[0] + "/" + name

    def migrate(to: str) -> None:
        env = {**stack_env, "DATABASE_URL": url}
        subprocess.run([sys.executable, "-m", "infra.migrate", to], env=env, cwd=REPO, check=True, capture_output=True)

    migrate("0020")
    db = await asyncpg.connect(url)
    try:
        author = uuid4()
        await db.execute(
            "INSERT INTO users (id, email, username, password_hash, role, created_at) "
            "VALUES ($1, 'old@example.com', 'old', 'x', 'user', now())",
            author,
        )
        old, fresh, private = new_id(), new_id(), new_id()
        rows = [  # a post from before 0014 (no parsed tags), one already parsed, a followers-only one
            (old, "#أحمد and #Cairo", [], "public"),
            (fresh, "#احمد", ["احمد"], "public"),
            (private, "#إحمد", ["احمد"], "followers"),
        ]
        for pid, caption, stored, vis in rows:
            await db.execute(
                "INSERT INTO posts (id, author_id, caption, visibility, hashtags, created_at) "
                "VALUES ($1, $2, $3, $4, $5, now())",
                pid,
                author,
                caption,
                vis,
                stored,
            )
        migrate("0022")
        assert await db.fetchval("SELECT hashtags FROM posts WHERE id = $1", old) == ["احمد", "cairo"]
        index = {(r["tag"], r["post_id"]) for r in await db.fetch("SELECT tag, post_id FROM hashtag_posts")}
        assert index == {("احمد", old), ("cairo", old), ("احمد", fresh), ("احمد", private)}
        counts = {r["tag"]: r["post_count"] for r in await db.fetch("SELECT tag, post_count FROM hashtags")}
        assert counts == {"احمد": 2, "cairo": 1}  # public posts only
    finally:
        await db.close()
        conn = await asyncpg.connect(base)
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await conn.close()


# ------------------------------------------------------------------ the agent fed without a broker


async def test_index_pages_counts_and_bad_input(client, svc):
    s = uuid4().hex[:6]
    author, follower, stranger, other = [await user(client) for _ in range(4)]
    await svc.store.apply_follows([FollowChange(follower["id"], author["id"], True, new_id())])
    a1 = await post(client, author, f"first #أحمد_{s} #Cairo{s}")
    a2 = await post(client, author, f"second #إحمد_{s}")
    a3 = await post(client, author, f"friends only #احمد_{s}", "followers")
    b1 = await post(client, other, f"#أَحْمَد_{s} by another")
    assert a1["hashtags"] == [f"احمد_{s}", f"cairo{s}"]  # stored normalised by publishing
    events = [created(p) for p in (a1, a2, a3, b1)]
    await hashtags_agent(events, svc)
    await hashtags_agent(events[::-1], svc)  # redelivered, reordered: the same index
    tag = f"#أحمد_{s}"

    newest = [b1["id"], a3["id"], a2["id"], a1["id"]]
    assert await page(client, follower, tag) == newest
    assert await page(client, stranger, f"احمد_{s}") == [b1["id"], a2["id"], a1["id"]]  # followers-only skipped
    assert await page(client, None, f"آحمد_{s}") == [b1["id"], a2["id"], a1["id"]]  # anonymous: a stranger
    assert await count(svc, f"احمد_{s}") == 3  # public posts only
    assert await count(svc, f"#CAIRO{s}") == 1

    # cursors: pages of 1 cover the list once, in order
    seen, cursor = [], None
    while True:
        r = await client.get(
            f"/hashtags/{quote(tag)}/posts",
            params={"limit": 1, **({"cursor": cursor} if cursor else {})},
            headers=follower["headers"],
        )
        body = r.json()
        seen += [i["id"] for i in body["items"]]
        assert body["items"] and body["items"][0]["author"]["id"] and "counters" in body["items"][0]  # post views
        if not (cursor := body["next_cursor"]):
            break
    assert seen == newest

    # blocks (either way), mutes and hides
    r = await client.post(f"/users/{other['id']}/mute", headers=follower["headers"])
    assert r.status_code in (200, 201, 204), r.text
    r = await client.post(
        "/interactions/feedback", json={"post_id": a2["id"], "kind": "hide"}, headers=follower["headers"]
    )
    assert r.status_code == 201
    assert await page(client, follower, tag) == [a3["id"], a1["id"]]
    r = await client.post(f"/users/{stranger['id']}/block", headers=author["headers"])
    assert r.status_code in (200, 201, 204), r.text
    assert await page(client, stranger, tag) == [b1["id"]]

    # bad input: an invalid tag is 400, a tag nobody used an empty page, a wrong cursor 400
    for bad in ("a b", "x" * 101, "tag!"):
        r = await client.get(f"/hashtags/{quote(bad)}/posts")
        assert code(r) == (400, "invalid_hashtag"), bad
    assert await page(client, None, f"nobody_{s}") == []
    assert code(await client.get(f"/hashtags/{quote(tag)}/posts", params={"cursor": "zz"})) == (400, "invalid_cursor")
    assert code(await client.get(f"/hashtags/{quote(tag)}/posts", params={"sort": "old"})) == (422, "validation_error")
    new_cursor = (await client.get(f"/hashtags/{quote(tag)}/posts", params={"limit": 1})).json()["next_cursor"]
    r = await client.get(f"/hashtags/{quote(tag)}/posts", params={"sort": "top", "cursor": new_cursor})
    assert code(r) == (400, "invalid_cursor")  # a cursor of the other order

    # an edit that drops the tag, a deletion, a removal by moderation and its restoration
    r = await client.patch(f"/posts/{a1['id']}", json={"caption": "no tag now"}, headers=author["headers"])
    assert r.status_code == 200, r.text
    await hashtags_agent(
        [
            ev(
                "post.edited",
                {
                    **_ids(a1),
                    "caption": "no tag now",
                    "visibility": "public",
                    "edited_at": datetime.now(UTC).isoformat(),
                },
            )
        ],
        svc,
    )
    assert await page(client, None, tag) == [b1["id"], a2["id"]]
    assert await count(svc, tag) == 2 and await count(svc, f"cairo{s}") is None  # no posts: not listed
    assert (await client.delete(f"/posts/{a2['id']}", headers=author["headers"])).status_code == 204
    gone = ev("post.deleted", _ids(a2))
    await hashtags_agent([gone], svc)
    await hashtags_agent([gone], svc)  # redelivered
    assert await page(client, None, tag) == [b1["id"]] and await count(svc, tag) == 1
    removed = ev("post.removed", {**_ids(b1), "decision_id": uuid4()})
    await hashtags_agent(
        [
            removed,
            ev(
                "post.edited",
                {
                    **_ids(b1),
                    "caption": b1["caption"],
                    "visibility": "public",
                    "edited_at": datetime.now(UTC).isoformat(),
                },
            ),
        ],
        svc,
    )
    assert await page(client, None, tag) == [] and await count(svc, tag) is None  # an edit does not bring it back
    await hashtags_agent([ev("post.restored", _ids(b1))], svc)
    assert await page(client, None, tag) == [b1["id"]] and await count(svc, tag) == 1


def _ids(p: dict) -> dict:
    return {"post_id": p["id"], "author_id": p["author_id"]}


async def test_top_search_trending_and_graphql(client, svc):
    s = uuid4().hex[:6]
    author = await user(client)
    fans = [await user(client) for _ in range(3)]
    quiet = await post(client, author, f"#Souk{s} quiet")
    loud = await post(client, author, f"#souk{s} loud")
    third = await post(client, author, f"#souk{s}x #souk{s}y2 #souk{s}y")
    other = await post(client, author, f"#souk{s}x again")
    await hashtags_agent([created(p) for p in (quiet, loud, third, other)], svc)
    # sort=top: the counters agent stores the likes, the engagement agent re-reads them
    likes = [ev("reaction.added", {"post_id": loud["id"], "user_id": f["id"], "type": "like"}) for f in fans]
    likes.append(ev("reaction.added", {"post_id": quiet["id"], "user_id": fans[0]["id"], "type": "like"}))
    await counters_agent(likes, svc)
    await hashtag_engagement(likes, svc)
    await hashtag_engagement(likes, svc)  # redelivered: each fan once per tag and window
    assert await page(client, None, f"souk{s}", sort="top") == [loud["id"], quiet["id"]]
    assert await page(client, None, f"souk{s}", sort="new") == [loud["id"], quiet["id"]]
    r = await client.get(f"/hashtags/souk{s}/posts", params={"sort": "top", "limit": 1})
    nxt = await client.get(
        f"/hashtags/souk{s}/posts", params={"sort": "top", "limit": 1, "cursor": r.json()["next_cursor"]}
    )
    assert [i["id"] for i in nxt.json()["items"]] == [quiet["id"]] and nxt.json()["next_cursor"] is None

    # prefix search: most posts first, then by tag; paged; normalised prefix
    found = await tags.search_tags(svc, f"#SOUK{s}", cursor=None, limit=2)
    assert found["items"] == [{"tag": f"souk{s}", "post_count": 2}, {"tag": f"souk{s}x", "post_count": 2}]
    rest = await tags.search_tags(svc, f"souk{s}", cursor=found["next_cursor"], limit=2)
    assert rest["items"] == [{"tag": f"souk{s}y", "post_count": 1}, {"tag": f"souk{s}y2", "post_count": 1}]
    assert rest["next_cursor"] is None
    assert (await tags.search_tags(svc, f"souk{s}y", cursor=None, limit=5))["items"][0]["tag"] == f"souk{s}y"
    with pytest.raises(Exception) as exc:
        await tags.search_tags(svc, "#", cursor=None, limit=2)
    assert exc.value.code == "invalid_hashtag"  # type: ignore[attr-defined]

    # trending tags: the three fans and the author in the window; nobody in the one before
    await svc.redis.delete(tags.TRENDING_KEY)
    r = await client.get("/hashtags/trending", params={"limit": 100})
    assert r.status_code == 200 and r.json()["window"] == "1h"
    mine = [i for i in r.json()["items"] if i["tag"] == f"souk{s}"]
    assert mine == [{"tag": f"souk{s}", "score": 9.0, "users": 4, "post_count": 2}]  # (4 - 1)^2 / 1
    assert code(await client.get("/hashtags/trending", params={"window": "7d"})) == (400, "invalid_window")

    q = """query($t: String!, $c: String) {
      hashtagPosts(tag: $t, sort: TOP, limit: 1, cursor: $c) { items { id hashtags author { username } } nextCursor }
      trendingHashtags(limit: 100) { window items { tag users postCount score } } }"""
    data = (await gql(client, fans[0], q, {"t": f"#Souk{s}"}))["data"]
    assert [i["id"] for i in data["hashtagPosts"]["items"]] == [loud["id"]]
    assert {"tag": f"souk{s}", "users": 4, "postCount": 2, "score": 9.0} in data["trendingHashtags"]["items"]
    data = (await gql(client, fans[0], q, {"t": f"souk{s}", "c": data["hashtagPosts"]["nextCursor"]}))["data"]
    assert [i["id"] for i in data["hashtagPosts"]["items"]] == [quiet["id"]]
    bad = await gql(client, fans[0], q, {"t": "no tag"})
    assert bad["errors"][0]["extensions"]["code"] == "invalid_hashtag"


async def test_feeds_trending_normalises_its_hashtag(client, svc):
    s = uuid4().hex[:6]
    author, viewer = await user(client), await user(client)
    p = await post(client, author, f"#أحمد{s}")
    gen = await trending.publish(
        svc.redis,
        trending.Config(window=3600, step=600, half_life=7200, expected=1.0, threshold=3.0, max_posts=100, ttl=60),
        {0: {p["id"]: [5.0, [f"احمد{s}"]]}},
        1,
        time.time(),
    )
    cursor = trending._encode_cursor(gen, 0)  # this generation, whatever the worker publishes meanwhile
    got = []
    for typed in (f"#أحمد{s}", f"احمد{s}", f"#إحمـد{s}"):
        r = await client.get("/feeds/trending", params={"hashtag": typed, "cursor": cursor}, headers=viewer["headers"])
        assert r.status_code == 200, r.text
        got.append([i["post"]["id"] for i in r.json()["items"]])
    assert got == [[p["id"]]] * 3


# ------------------------------------------------------------------ through the broker and worker


async def test_through_the_worker(client, worker, svc):
    s = uuid4().hex[:6]
    author = await user(client)
    fans = [await user(client) for _ in range(3)]
    p = await post(client, author, f"#مدرسة{s} live")
    tag = f"مدرسه{s}"

    async def listed():
        return await page(client, None, f"#مدرسة{s}") == [p["id"]]

    await wait_for(listed, timeout=60, interval=0.3, what="the post on its tag page")
    assert await count(svc, tag) == 1
    for f in fans:
        r = await client.post(
            "/interactions/reactions", json={"post_id": p["id"], "type": "like"}, headers=f["headers"]
        )
        assert r.status_code == 202

    async def trending_now():
        await svc.redis.delete(tags.TRENDING_KEY)
        r = await client.get("/hashtags/trending", params={"limit": 100})
        return [i for i in r.json()["items"] if i["tag"] == tag]

    found = await wait_for(trending_now, timeout=60, interval=0.3, what="the tag trending")
    assert found[0]["users"] == 4 and found[0]["post_count"] == 1

    assert (await client.delete(f"/posts/{p['id']}", headers=author["headers"])).status_code == 204

    async def dropped():
        return await count(svc, tag) is None and await page(client, None, tag) == []

    await wait_for(dropped, timeout=60, interval=0.3, what="the deleted post out of the index and the count")
