"""The render-ready post view (models/content/post_view.py) over the real API, PostgreSQL, Redis and
the engagement store: its shape in feeds and GET /posts/{id}, the viewer's state, and a page of 5
and a page of 20 costing the same number of SQL statements, over REST and over GraphQL
(X-SQL-Statements, counted per request by infra/db.py)."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest_asyncio

from models.accounts.badges import UserBadge
from models.content.posts import generation_key
from models.core.events import new_id
from models.engagement import FollowChange, ReactionChange
from models.media.videos import Video
from tests.support.client import code, gql
from tests.support.factories import create_post, user

POSTS = 45  # more than a 20-page's first batch (40 rows), so both pages read one layer once

GQL_HOME = """query($limit: Int) { homeFeed(limit: $limit) { nextCursor items { layer post {
  id kind caption hashtags mentions visibility createdAt editedAt authorId videoId circleId expiresAt
  author { id username displayName avatarUrl badges verified }
  media { kind status thumbnailUrl playbackUrl durationS width height images { id width height } }
  counters { likes loves laughs wows sads angries comments shares views }
  viewer { reaction bookmarked followingAuthor }
  remix { type sourcePostId startMs endMs } } } } }"""


async def _statements(r) -> int:
    assert r.status_code == 200, r.text
    n = int(r.headers["X-SQL-Statements"])
    assert n > 0  # the counter sees this request's statements
    return n


@pytest_asyncio.fixture(scope="module")
async def world(api, stack_env):
    """An author with POSTS public posts, the newest carrying a ready video; a viewer who follows
    the author, liked and bookmarked the newest text post."""
    import httpx

    from infra.services import Services
    from infra.settings import get_settings

    svc = await Services.start(get_settings(), relay=False)
    async with httpx.AsyncClient(base_url=api, timeout=30) as c:
        author, viewer, stranger = await user(c), await user(c), await user(c)
        ids: list[str] = []
        for start in range(0, POSTS - 2, 8):
            ids += await asyncio.gather(
                *(create_post(c, author, f"post {i} #Cairo #مِصر") for i in range(start, min(start + 8, POSTS - 2)))
            )
        liked = await create_post(c, author, "the newest text post #Cairo #مِصر")  # after all of those
        video_id = new_id()
        async with svc.sessions() as s, s.begin():
            s.add(
                Video(
                    id=video_id,
                    owner_id=author["id"],
                    status="ready",
                    size=1,
                    playlist_key=f"videos/{video_id}/hls/master.m3u8",
                    thumbnail_key=f"videos/{video_id}/thumb.jpg",
                    duration=12.5,
                    width=720,
                    height=1280,
                )
            )
            s.add(UserBadge(user_id=author["id"], badge="verified"))
        r = await c.post("/posts", json={"caption": "my video", "video_id": str(video_id)}, headers=author["headers"])
        assert r.status_code == 201, r.text
        video_post = r.json()["id"]
        await svc.store.apply_follows([FollowChange(viewer["id"], author["id"], True, new_id())])
        await svc.store.apply_reactions([ReactionChange(UUID(liked), viewer["id"], "like", True, new_id())])
        assert (await c.put(f"/posts/{liked}/bookmark", headers=viewer["headers"])).status_code == 204
    yield {"author": author, "viewer": viewer, "stranger": stranger, "liked": liked, "video_post": video_post}
    await svc.stop()


async def test_feed_items_are_render_ready_views(client, world):
    author, viewer = world["author"], world["viewer"]
    r = await client.get("/feeds/home", params={"limit": 5}, headers=viewer["headers"])
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["layer"] for i in items] == ["outer"] * 5  # the envelope and `layer` stay
    video, text_post = items[0]["post"], items[1]["post"]
    assert video["id"] == world["video_post"]
    assert video["media"]["kind"] == "video" and video["media"]["status"] == "ready"
    assert video["media"]["duration_s"] == 12.5 and (video["media"]["width"], video["media"]["height"]) == (720, 1280)
    # a public post's ready video plays without a token; the path is the API's HLS route
    assert video["media"]["playback_url"].endswith(f"/media/{video['video_id']}/hls/master.m3u8")
    assert video["media"]["images"] == []
    assert text_post["id"] == world["liked"]
    assert text_post["media"] is None
    assert text_post["author"] == {
        "id": str(author["id"]),
        "username": author["user"]["username"],
        "display_name": author["user"]["username"],
        "avatar_url": None,
        "badges": ["verified"],
        "verified": True,
    }
    assert text_post["author_id"] == str(author["id"])  # existing fields stay
    assert text_post["hashtags"] == ["cairo", "مصر"]  # parsed at creation, normalised
    assert text_post["counters"]["likes"] == 1 and text_post["counters"]["views"] == 0
    assert text_post["viewer"] == {"reaction": "like", "bookmarked": True, "following_author": True}
    assert items[2]["post"]["viewer"] == {"reaction": None, "bookmarked": False, "following_author": True}
    assert text_post["remix"] is None and text_post["edited_at"] is None


async def test_media_links_are_signed_unless_the_post_is_public(client, world, svc):
    from urllib.parse import parse_qs, urlparse

    from models.media.videos import verify

    author, viewer = world["author"], world["viewer"]
    video_id = new_id()
    async with svc.sessions() as s, s.begin():
        s.add(
            Video(
                id=video_id,
                owner_id=author["id"],
                status="ready",
                size=1,
                playlist_key=f"videos/{video_id}/hls/master.m3u8",
                thumbnail_key=f"videos/{video_id}/thumb.jpg",
            )
        )
    body = {"caption": "for followers", "video_id": str(video_id), "visibility": "followers"}
    post = (await client.post("/posts", json=body, headers=author["headers"])).json()["id"]
    media = (await client.get(f"/posts/{post}", headers=viewer["headers"])).json()["media"]
    for url in (media["playback_url"], media["thumbnail_url"]):
        token = parse_qs(urlparse(url).query)["t"][0]
        assert verify(svc.settings, video_id, token)
    public = (await client.get(f"/posts/{world['video_post']}", headers=viewer["headers"])).json()["media"]
    assert "?t=" not in public["playback_url"] and "?t=" not in public["thumbnail_url"]


async def test_get_post_is_the_same_view(client, world):
    r = await client.get(f"/posts/{world['liked']}", headers=world["viewer"]["headers"])
    assert r.status_code == 200, r.text
    post = r.json()
    assert post["viewer"]["reaction"] == "like" and post["counters"]["likes"] == 1
    assert post["author"]["verified"] is True
    # the counters are the object GET /posts/{id}/counters answers
    counters = await client.get(f"/posts/{world['liked']}/counters", headers=world["viewer"]["headers"])
    assert post["counters"] == counters.json()
    # someone else sees their own state, not the viewer's
    other = (await client.get(f"/posts/{world['liked']}", headers=world["stranger"]["headers"])).json()
    assert other["viewer"] == {"reaction": None, "bookmarked": False, "following_author": False}


async def test_bad_ids_and_invisible_posts(client, world):
    viewer = world["viewer"]
    assert code(await client.get("/posts/not-a-uuid", headers=viewer["headers"])) == (400, "invalid_id")
    assert code(await client.get(f"/posts/{new_id()}", headers=viewer["headers"])) == (404, "post_not_found")
    r = await client.post(
        "/posts", json={"caption": "friends only", "visibility": "followers"}, headers=world["stranger"]["headers"]
    )
    hidden = r.json()["id"]
    assert code(await client.get(f"/posts/{hidden}", headers=viewer["headers"])) == (404, "post_not_found")


async def test_rest_page_costs_the_same_statements_for_5_and_20(client, world, redis):
    headers = world["viewer"]["headers"]
    await redis.incr(generation_key(world["viewer"]["id"]))  # the viewer's cached pages miss
    await _statements(await client.get("/feeds/home", params={"limit": 3}, headers=headers))  # warm caches
    five = await client.get("/feeds/home", params={"limit": 5}, headers=headers)
    twenty = await client.get("/feeds/home", params={"limit": 20}, headers=headers)
    assert len(five.json()["items"]) == 5 and len(twenty.json()["items"]) == 20
    assert five.headers["X-Feed-Cache"] == twenty.headers["X-Feed-Cache"] == "miss"
    assert await _statements(five) == await _statements(twenty)
    # served from the feed cache: still constant (the posts are re-read and rendered)
    five = await client.get("/feeds/home", params={"limit": 5}, headers=headers)
    twenty = await client.get("/feeds/home", params={"limit": 20}, headers=headers)
    assert five.headers["X-Feed-Cache"] == twenty.headers["X-Feed-Cache"] == "hit"
    assert await _statements(five) == await _statements(twenty)
    # the grid of the author, same rule
    grid = f"/users/{world['author']['id']}/posts"
    assert await _statements(await client.get(grid, params={"limit": 5}, headers=headers)) == await _statements(
        await client.get(grid, params={"limit": 20}, headers=headers)
    )


async def test_graphql_page_costs_the_same_statements_and_matches_rest(client, world):
    viewer = world["viewer"]

    async def page(limit: int):
        r = await client.post(
            "/graphql", json={"query": GQL_HOME, "variables": {"limit": limit}}, headers=viewer["headers"]
        )
        body = r.json()
        assert "errors" not in body, body
        return body["data"]["homeFeed"]["items"], await _statements(r)

    await page(4)  # warm caches
    (five, n5), (twenty, n20) = await page(5), await page(20)
    assert len(five) == 5 and len(twenty) == 20
    assert n5 == n20
    by_id = {i["post"]["id"]: i["post"] for i in twenty}
    liked, video = by_id[world["liked"]], by_id[world["video_post"]]
    assert liked["viewer"] == {"reaction": "LIKE", "bookmarked": True, "followingAuthor": True}
    assert liked["author"]["verified"] is True and liked["author"]["badges"] == ["verified"]
    assert liked["counters"]["likes"] == 1 and liked["hashtags"] == ["cairo", "مصر"]
    assert liked["media"] is None and video["media"]["kind"] == "video" and video["media"]["durationS"] == 12.5
    rest = (await client.get(f"/posts/{world['video_post']}", headers=viewer["headers"])).json()
    assert video["media"]["playbackUrl"] == rest["media"]["playback_url"]


async def test_graphql_post_by_id_has_the_view_fields(client, world):
    data = await gql(
        client,
        world["viewer"],
        "query($id: ID!) { post(id: $id) { id author { username } viewer { reaction bookmarked } "
        "counters { likes } } }",
        {"id": world["liked"]},
    )
    assert data["data"]["post"]["viewer"] == {"reaction": "LIKE", "bookmarked": True}
    assert data["data"]["post"]["author"]["username"] == world["author"]["user"]["username"]
