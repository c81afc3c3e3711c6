"""Home and circle feeds (models/discovery/feeds.py) over REST against real PostgreSQL and Redis: layer
order, every filtering rule, keyset stability with inserts between pages, the 30 s cache and
own posts seen at once, stories and their expiry.

The feeds here run in an API of their own on Redis db 9, so the trending ranking a test
publishes is the only one there (no worker republishes it)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from uuid import UUID

import httpx
import pytest
import pytest_asyncio

from infra.services import Services
from infra.settings import get_settings
from models.content import feedback
from models.content.posts import Post
from models.core.base import utcnow
from models.core.events import new_id
from models.discovery import trending
from models.engagement import FollowChange
from models.media.videos import Video
from models.social import blocking, circles, mutes
from tests.support.factories import user
from tests.support.processes import start_api

REDIS_DB = 9


def _redis_db(env: dict) -> str:
    base, _, _ = env["REDIS_URL"].rpartition("/")
    return f"{base}/{REDIS_DB}"


@pytest.fixture(scope="module")
def feeds_api(stack_env, log_dir):
    proc, base = start_api({**stack_env, "REDIS_URL": _redis_db(stack_env)}, log_dir)
    yield base
    proc.stop()


@pytest_asyncio.fixture
async def fc(feeds_api):
    async with httpx.AsyncClient(base_url=feeds_api, timeout=15) as c:
        yield c


@pytest_asyncio.fixture
async def svc(stack_env):
    s = await Services.start(get_settings().model_copy(update={"redis_url": _redis_db(stack_env)}), relay=False)
    yield s
    await s.stop()


async def users(fc, n: int) -> list[dict]:
    return [await user(fc) for _ in range(n)]


async def follow(svc, follower: dict, *followees: dict) -> None:
    await svc.store.apply_follows([FollowChange(follower["id"], f["id"], True, new_id()) for f in followees])


async def insert_post(svc, author: dict, caption: str = "", *, at: datetime | None = None, **kw) -> str:
    post = Post(
        id=new_id(),
        author_id=author["id"],
        caption=caption,
        created_at=at or utcnow(),
        **{"visibility": "public", "kind": "post", **kw},
    )
    async with svc.sessions() as s, s.begin():
        s.add(post)
    return str(post.id)


async def feed(fc, u: dict, cursor: str | None = None, limit: int = 50, path: str = "/feeds/home") -> dict:
    r = await fc.get(path, params={"limit": limit, **({"cursor": cursor} if cursor else {})}, headers=u["headers"])
    assert r.status_code == 200, r.text
    return {**r.json(), "cache": r.headers["X-Feed-Cache"]}


def ids(page: dict, layer: str | None = None) -> list[str]:
    return [i["post"]["id"] for i in page["items"] if layer is None or i["layer"] == layer]


async def publish_trending(svc, post_ids: list[str]) -> None:
    cfg = trending.Config.from_settings(svc.settings)
    snap = {p: [float(100 - i), []] for i, p in enumerate(post_ids)}  # well above threshold, in this order
    await trending.publish(svc.redis, cfg, {0: snap}, 1, time.time())


async def test_layers_come_in_order_and_never_repeat(fc, svc):
    me, friend, owner, stranger = await users(fc, 4)
    await follow(svc, me, friend)
    c = await circles.create_circle(svc, viewer_id=owner["id"], owner_id=owner["id"], name="close")
    await circles.add_member(
        svc, viewer_id=owner["id"], owner_id=owner["id"], circle_id=UUID(c["id"]), member_id=me["id"]
    )
    r = await fc.post("/posts", json={"caption": "friend story", "kind": "story"}, headers=friend["headers"])
    assert r.status_code == 201 and r.json()["kind"] == "story"
    expires = datetime.fromisoformat(r.json()["expires_at"]) - datetime.fromisoformat(r.json()["created_at"])
    assert expires == timedelta(hours=24)
    friend_story = r.json()["id"]
    owner_story = await insert_post(
        svc, owner, "circle owner's story", kind="story", expires_at=utcnow() + timedelta(hours=1)
    )
    circle_post = await insert_post(svc, owner, "to the circle", visibility="circle", circle_id=UUID(c["id"]))
    friend_post = await insert_post(svc, friend, "friend post")
    stranger_post = await insert_post(svc, stranger, "trending")
    # Trending also ranks posts the earlier layers own: they must not come twice.
    await publish_trending(svc, [friend_post, stranger_post, circle_post, friend_story])

    page = await feed(fc, me)
    layers = [i["layer"] for i in page["items"]]
    assert layers == sorted(layers, key=["stories", "circles", "outer", "trending"].index)
    assert set(ids(page, "stories")) == {friend_story, owner_story}
    assert ids(page, "circles") == [circle_post]
    assert ids(page, "outer") == [friend_post]
    assert ids(page, "trending") == [stranger_post]
    assert page["next_cursor"] is None

    # The same scroll a page at a time: the same posts in the same order, none twice.
    seen, cursor = [], None
    while True:
        p = await feed(fc, me, cursor, limit=2)
        seen += ids(p)
        cursor = p["next_cursor"]
        if cursor is None:
            break
    assert seen == ids(page)


async def test_every_filtering_rule(fc, svc):
    me, friend, muted, blocked, blocker, fan_only, outsider = await users(fc, 7)
    await follow(svc, me, friend, muted, blocked, blocker, fan_only)
    await mutes.mute(svc, muter_id=me["id"], target_id=muted["id"])
    await blocking.block(svc, blocker_id=me["id"], target_id=blocked["id"])
    await blocking.block(svc, blocker_id=blocker["id"], target_id=me["id"])
    await follow(svc, me, blocked, blocker)  # even with the follow edges still there

    visible = await insert_post(svc, friend, "visible")
    followers_only = await insert_post(svc, fan_only, "for followers", visibility="followers")
    live_story = await insert_post(svc, friend, "story", kind="story", expires_at=utcnow() + timedelta(hours=2))
    hidden = await insert_post(svc, friend, "hidden by me")
    await feedback.give(svc, user_id=me["id"], post_id=UUID(hidden), kind="hide")
    expired = await insert_post(
        svc,
        friend,
        "old story",
        kind="story",
        expires_at=utcnow() - timedelta(seconds=1),
        at=utcnow() - timedelta(hours=24, seconds=1),
    )
    subscribers = await insert_post(svc, friend, "paid", visibility="subscribers")
    oc = await circles.create_circle(svc, viewer_id=friend["id"], owner_id=friend["id"], name="inner")
    not_member = await insert_post(svc, friend, "circle", visibility="circle", circle_id=UUID(oc["id"]))
    videos = {}
    for status in ("processing", "in_review", "rejected", "ready"):
        vid = new_id()
        async with svc.sessions() as s, s.begin():
            s.add(Video(id=vid, owner_id=friend["id"], status=status, size=1))
        videos[status] = await insert_post(svc, friend, f"video {status}", video_id=vid)
    from_muted = await insert_post(svc, muted, "muted")
    from_blocked = await insert_post(svc, blocked, "blocked")
    from_blocker = await insert_post(svc, blocker, "blocker")
    # the same posts ranked as trending do not get in that way either
    await publish_trending(
        svc,
        [
            hidden,
            expired,
            subscribers,
            not_member,
            videos["rejected"],
            from_muted,
            from_blocked,
            from_blocker,
            await insert_post(svc, outsider, "outsider"),
        ],
    )

    page = await feed(fc, me)
    shown = set(ids(page))
    assert ids(page, "stories") == [live_story]
    assert set(ids(page, "outer")) == {visible, followers_only, videos["ready"]}
    for post in (
        hidden,
        expired,
        subscribers,
        not_member,
        from_muted,
        from_blocked,
        from_blocker,
        videos["processing"],
        videos["in_review"],
        videos["rejected"],
    ):
        assert post not in shown
    # an expired story exists for nobody, not even its author
    r = await fc.get(f"/posts/{expired}", headers=friend["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "post_not_found"


async def test_pages_are_stable_when_posts_arrive_between_them(fc, svc):
    me, author = await user(fc), await user(fc)
    await follow(svc, me, author)
    t0 = utcnow() - timedelta(hours=1)
    older = [await insert_post(svc, author, f"p{i}", at=t0 + timedelta(seconds=i)) for i in range(23)]
    # two posts with the same created_at: the id breaks the tie
    twin_at = t0 + timedelta(seconds=30)
    older += [
        await insert_post(svc, author, "twin a", at=twin_at),
        await insert_post(svc, author, "twin b", at=twin_at),
    ]
    await publish_trending(svc, [])
    seen, cursor, arrived = [], None, []
    while True:
        page = await feed(fc, me, cursor, limit=4)
        assert page["cache"] == "miss"
        seen += ids(page, "outer")
        cursor = page["next_cursor"]
        if cursor is None:
            break
        r = await fc.post("/posts", json={"caption": "new"}, headers=author["headers"])  # lands above every cursor
        arrived.append(r.json()["id"])
    assert len(seen) == len(set(seen))  # no duplicate
    assert set(seen) == set(older)  # no gap, and nothing that arrived meanwhile
    assert seen == [older[24], older[23]] + older[22::-1]  # (created_at, id) descending
    fresh = await feed(fc, author)  # a new scroll starts with the new posts
    assert ids(fresh, "outer")[: len(arrived)] == arrived[::-1]


async def test_pages_are_cached_30s_but_your_own_post_shows_at_once(fc, svc):
    me, friend = await user(fc), await user(fc)
    await follow(svc, me, friend)
    first = await insert_post(svc, friend, "first")
    page = await feed(fc, me)
    assert page["cache"] == "miss" and ids(page) == [first]
    keys = [k async for k in svc.redis.scan_iter(f"feed:page:{me['id']}:*")]
    assert len(keys) == 1 and 0 < await svc.redis.ttl(keys[0]) <= 30

    later = await insert_post(svc, friend, "later")
    again = await feed(fc, me)
    assert again["cache"] == "hit" and ids(again) == [first]  # others' posts wait for the cache

    r = await fc.post("/posts", json={"caption": "mine"}, headers=me["headers"])
    mine = r.json()["id"]
    after = await feed(fc, me)
    assert after["cache"] == "miss" and ids(after)[:1] == [mine] and later in ids(after)

    # a hide holds at once, even on a cached page
    cached = await feed(fc, me)
    assert cached["cache"] == "hit" and later in ids(cached)
    await feedback.give(svc, user_id=me["id"], post_id=UUID(later), kind="hide")
    assert later not in ids(await feed(fc, me))


async def test_circle_feed_is_for_members_only(fc, svc):
    owner, member, outsider = await user(fc), await user(fc), await user(fc)
    c = await circles.create_circle(svc, viewer_id=owner["id"], owner_id=owner["id"], name="crew")
    cid = UUID(c["id"])
    await circles.add_member(svc, viewer_id=owner["id"], owner_id=owner["id"], circle_id=cid, member_id=member["id"])
    posts = [await insert_post(svc, owner, f"c{i}", visibility="circle", circle_id=cid) for i in range(3)]
    await insert_post(svc, owner, "public, not in the circle feed")
    got, cursor = [], None
    while True:
        page = await feed(fc, member, cursor, limit=2, path=f"/feeds/circle/{cid}")
        got += ids(page)
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert got == posts[::-1]
    assert ids(await feed(fc, owner, path=f"/feeds/circle/{cid}")) == posts[::-1]
    r = await fc.get(f"/feeds/circle/{cid}", headers=outsider["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "circle_not_found"
    # a cursor of one feed is not a cursor of another, and a forged one is refused
    first = await feed(fc, member, None, limit=1, path=f"/feeds/circle/{cid}")
    for bad in (first["next_cursor"], first["next_cursor"][:-2] + "AA", "not-a-cursor"):
        r = await fc.get("/feeds/home", params={"cursor": bad}, headers=member["headers"])
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"


async def test_graphql_home_feed_and_stories(fc, svc):
    me, friend = await user(fc), await user(fc)
    await follow(svc, me, friend)
    q = 'mutation { createStory(input: {caption: "gql story"}) { id kind expiresAt } }'
    r = await fc.post("/graphql", json={"query": q}, headers=friend["headers"])
    story = r.json()["data"]["createStory"]
    assert story["kind"] == "story" and story["expiresAt"]
    post = await insert_post(svc, friend, "post")
    q = "{ homeFeed(limit: 10) { items { layer post { id kind } } nextCursor } }"
    r = await fc.post("/graphql", json={"query": q}, headers=me["headers"])
    items = r.json()["data"]["homeFeed"]["items"]
    assert [(i["layer"], i["post"]["id"]) for i in items][:2] == [("stories", story["id"]), ("outer", post)]
