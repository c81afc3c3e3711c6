"""Home and circle feeds (docs/feeds.md).

Home: the seed's layers, each exhausted before the next: stories (unexpired, from people you
follow, owners of circles you belong to, and you) -> circles (posts shared to circles you belong
to or own) -> outer (posts of people you follow and yours, circle posts and stories excluded)
-> trending (the Redis ranking, models/discovery/trending.py, to fill). The three first are keysets on
(created_at, id), newest first; their domains do not overlap by construction. Trending skips what
the other layers own (stories, circle posts, posts of people you follow or yourself) and whatever
the cursor's Bloom filter has seen: the authors shown in outer (so an unfollow mid-scroll cannot
bring their posts back) and the trending posts shown (so a ranking replaced mid-scroll restarts
without repeats).

Filtering: blocked (either way) and muted authors, hidden posts, expired stories and posts whose
video is not ready (processing, NSFW review or rejected) are removed in SQL. What is left goes
through models.content.visibility.can_see unless the layer already proved it (public posts; followers-only
posts of people you follow; posts of circles you belong to; your own): `_settled`.

Cursor: zlib-compressed JSON {f: feed, l: layer, k: [created_at µs, id], t: trending cursor,
b: Bloom filter}, HMAC-signed (a forged cursor is invalid_cursor), base64url. New posts land
above every cursor, so later pages neither repeat nor skip.

Cache: a page is kept FEED_CACHE_TTL (30 s) in Redis under (user, feed generation, cursor,
limit). Writing a post bumps its author's generation (models/content/posts.generation_key), so the author's next
read misses the cache and sees the post at once; others see it within 30 s. A cached page is
re-checked on every read against the reader's hides, mutes and blocks and against deleted and
removed posts (one indexed query), so a hide, block or deletion holds at once, and expired stories drop out.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast
from uuid import UUID

import orjson
from sqlalchemy import Uuid, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from models.content import posts
from models.content.posts import Post, public
from models.content.visibility import visible_among
from models.core import cursors
from models.core.base import utcnow
from models.core.errors import DomainError, NotFound
from models.discovery import trending
from models.engagement import FollowLink
from models.social.circles import Circle, CircleMember

if TYPE_CHECKING:
    from infra.services import Services

LAYERS = ("stories", "circles", "outer", "trending")
BLOOM_BITS, BLOOM_HASHES = 4096, 4
FOLLOWING_PAGE = 5000


class InvalidCursor(DomainError):
    status, code = 400, "invalid_cursor"


# ------------------------------------------------------------------ cursor


def _bloom_positions(item: str) -> list[int]:
    digest = hashlib.blake2b(item.encode(), digest_size=4 * BLOOM_HASHES).digest()
    return [int.from_bytes(digest[i * 4 : (i + 1) * 4], "big") % BLOOM_BITS for i in range(BLOOM_HASHES)]


@dataclass
class Bloom:
    """Fixed size, so the cursor stays bounded; a false positive only skips a trending post."""

    bits: bytearray = field(default_factory=lambda: bytearray(BLOOM_BITS // 8))

    def add(self, item: str) -> None:
        for p in _bloom_positions(item):
            self.bits[p // 8] |= 1 << (p % 8)

    def __contains__(self, item: str) -> bool:
        return all(self.bits[p // 8] & (1 << (p % 8)) for p in _bloom_positions(item))


@dataclass
class Cursor:
    feed: str  # "home" or "circle:<id>"
    layer: int = 0
    key: tuple[datetime, UUID] | None = None  # last (created_at, id) taken in this layer
    trending: str | None = None  # models.discovery.trending's cursor
    bloom: Bloom = field(default_factory=Bloom)


def _signer(svc: Services) -> bytes:
    return hmac.new(svc.settings.jwt_secret.encode(), b"feed-cursor", hashlib.sha256).digest()


def encode_cursor(svc: Services, c: Cursor) -> str:
    body = {
        "f": c.feed,
        "l": c.layer,
        "t": c.trending,
        "k": [int(c.key[0].timestamp() * 1_000_000), str(c.key[1])] if c.key else None,
        "b": base64.b64encode(bytes(c.bloom.bits)).decode() if any(c.bloom.bits) else None,
    }
    raw = zlib.compress(orjson.dumps(body), 6)
    sig = hmac.new(_signer(svc), raw, hashlib.sha256).digest()[:8]
    return cursors.encode(sig + raw)


def decode_cursor(svc: Services, cursor: str, feed: str) -> Cursor:
    try:
        blob = cursors.decode(cursor)
        sig, raw = blob[:8], blob[8:]
        if not hmac.compare_digest(sig, hmac.new(_signer(svc), raw, hashlib.sha256).digest()[:8]):
            raise ValueError("bad signature")
        body = orjson.loads(zlib.decompress(raw))
        if body["f"] != feed:
            raise ValueError("cursor of another feed")
        key = None
        if body["k"]:
            key = (datetime.fromtimestamp(body["k"][0] / 1_000_000, UTC), UUID(body["k"][1]))
        bloom = Bloom(bytearray(base64.b64decode(body["b"]))) if body.get("b") else Bloom()
        if len(bloom.bits) != BLOOM_BITS // 8 or not 0 <= int(body["l"]) < len(LAYERS):
            raise ValueError("bad state")
        return Cursor(feed=feed, layer=int(body["l"]), key=key, trending=body.get("t"), bloom=bloom)
    except (ValueError, KeyError, TypeError, IndexError, zlib.error, orjson.JSONDecodeError):
        raise InvalidCursor("cursor is not valid") from None


# ------------------------------------------------------------------ who the viewer is


@dataclass
class Viewer:
    id: UUID
    following: set[UUID]
    excluded: set[UUID]  # blocked either way, or muted by the viewer
    hidden: set[UUID]
    circles: set[UUID]  # member or owner
    circle_owners: set[UUID]  # owners of the circles the viewer belongs to

    def authors(self, *extra: set[UUID]) -> list[UUID]:
        return list((self.following.union(*extra) | {self.id}) - self.excluded)


async def following(svc: Services, user_id: UUID) -> set[UUID]:
    """Whom `user_id` follows, through the engagement store's interface; cached FEED_CACHE_TTL
    (follows are applied by an agent anyway, so a feed reads them eventually)."""
    key, ttl = f"feed:following:{user_id}", svc.settings.feed_cache_ttl
    if ttl:
        raw = cast(bytes | None, await svc.redis.get(key))
        if raw is not None:
            return {UUID(bytes=raw[i : i + 16]) for i in range(0, len(raw), 16)}
    out: list[UUID] = []
    after: FollowLink | None = None
    while True:
        links = await svc.store.list_following(user_id, after=after, limit=FOLLOWING_PAGE)
        out.extend(link.user_id for link in links)
        if len(links) < FOLLOWING_PAGE:
            break
        after = links[-1]
    if ttl:
        await svc.redis.set(key, b"".join(u.bytes for u in out), ex=ttl)
    return set(out)


_RELATIONS = text("""
SELECT 'x', blocked_id, NULL::uuid FROM blocks WHERE blocker_id = :me
UNION ALL SELECT 'x', blocker_id, NULL FROM blocks WHERE blocked_id = :me
UNION ALL SELECT 'x', muted_id, NULL FROM mutes WHERE muter_id = :me
UNION ALL SELECT 'h', post_id, NULL FROM post_feedback WHERE user_id = :me AND kind = 'hide'
UNION ALL SELECT 'c', m.circle_id, c.owner_id FROM circle_members m JOIN circles c ON c.id = m.circle_id
          WHERE m.user_id = :me
UNION ALL SELECT 'c', id, owner_id FROM circles WHERE owner_id = :me
""")


async def viewer(svc: Services, user_id: UUID) -> Viewer:
    """What the layers filter by, in one round trip (the same rows models.social.blocks, mutes,
    feedback.hidden_for and circles read) plus the follow list."""

    async def relations():
        async with svc.sessions() as s:
            return (await s.execute(_RELATIONS, {"me": user_id})).all()

    rows, follows = await asyncio.gather(relations(), following(svc, user_id))
    of = lambda kind: {r[1] for r in rows if r[0] == kind}  # noqa: E731
    owners = {r[2] for r in rows if r[0] == "c" and r[2] != user_id}
    return Viewer(user_id, follows, of("x"), of("h"), of("c"), owners)


# ------------------------------------------------------------------ keyset layers

_COMMON = """
  AND (p.expires_at IS NULL OR p.expires_at > now())
  AND p.author_id <> ALL(:excluded) AND p.id <> ALL(:hidden)
  AND (p.video_id IS NULL OR p.author_id = :me
       OR EXISTS (SELECT 1 FROM videos v WHERE v.id = p.video_id AND v.status = 'ready'))"""
_KEYSET = " AND (p.created_at, p.id) < (:k_at, :k_id)"
_ORDER = " ORDER BY p.created_at DESC, p.id DESC LIMIT :n"
_SELECT = "SELECT p.* FROM posts p WHERE "
_WHERE = {
    "stories": "p.kind = 'story' AND p.author_id = ANY(:authors)",
    "circles": "p.kind = 'post' AND p.visibility = 'circle' AND p.circle_id = ANY(:circles)",
    "outer": "p.kind = 'post' AND p.visibility <> 'circle' AND p.author_id = ANY(:authors)",
    "circle": "p.visibility = 'circle' AND p.circle_id = ANY(:circles)",
}
_UUIDS = ARRAY(Uuid())
# Plain rows, not ORM objects: they have every attribute public() and can_see read.
_QUERIES = {
    (name, paged): text(_SELECT + where + _COMMON + (_KEYSET if paged else "") + _ORDER).bindparams(
        *(
            bindparam(n, type_=_UUIDS)
            for n in ("authors", "circles", "excluded", "hidden")
            if f":{n}" in where + _COMMON
        )
    )
    for name, where in _WHERE.items()
    for paged in (False, True)
}


async def _rows(
    svc: Services,
    layer: str,
    v: Viewer,
    authors: list[UUID],
    circles: list[UUID],
    key: tuple[datetime, UUID] | None,
    n: int,
) -> list[Post]:
    params = {"excluded": list(v.excluded), "hidden": list(v.hidden), "me": v.id, "n": n}
    params.update({"authors": authors} if ":authors" in _WHERE[layer] else {"circles": circles})
    if key:
        params.update(k_at=key[0], k_id=key[1])
    async with svc.sessions() as s:
        # plain rows standing in for Post (see _QUERIES)
        return cast(list[Post], list((await s.execute(_QUERIES[(layer, key is not None)], params)).all()))


def _settled(v: Viewer, post: Post) -> bool:
    """Visible without asking can_see: the layer's SQL already removed blocks (read from the
    blocks table, fresher than can_see's cache), mutes, hides, expired stories and videos that
    are not ready, and these visibilities need nothing else of this viewer."""
    return post.visibility != posts.REMOVED and (
        post.author_id == v.id
        or post.visibility == "public"
        or (post.visibility == "followers" and post.author_id in v.following)
        or (post.visibility == "circle" and post.circle_id in v.circles)
    )


async def _visible(svc: Services, v: Viewer, rows: list[Post]) -> list[bool]:
    """can_see for every post the SQL could not settle (subscribers, a circle story of a circle
    you are not in, ...), batched: a constant number of round trips whatever their number."""
    unsettled = [p for p in rows if not _settled(v, p)]
    answers = iter(await visible_among(svc, v.id, unsettled))
    return [True if _settled(v, p) else next(answers) for p in rows]


async def _fill_keyset(
    svc: Services,
    layer: str,
    v: Viewer,
    authors: list[UUID],
    circles: list[UUID],
    c: Cursor,
    items: list[dict],
    limit: int,
    label: str,
) -> bool:
    """Take visible posts of one layer into `items`, advancing c.key; True when the layer is done."""
    while len(items) < limit:
        batch = max(2 * (limit - len(items)), 10)
        rows = await _rows(svc, layer, v, authors, circles, c.key, batch)
        for post, visible in zip(rows, await _visible(svc, v, rows)):
            c.key = (post.created_at, post.id)
            if visible:
                items.append({"layer": label, "post": public(post)})
                if layer == "outer":
                    c.bloom.add(f"a:{post.author_id}")
                if len(items) == limit:
                    return False
        if len(rows) < batch:
            return True
    return False


async def _fill_trending(svc: Services, v: Viewer, c: Cursor, items: list[dict], limit: int) -> bool:
    own = v.following | {v.id}
    restarted = False
    while len(items) < limit:
        try:
            page = await trending.page(svc, v.id, cursor=c.trending, limit=limit - len(items))
        except trending.CursorExpired:
            if restarted:
                return True
            c.trending, restarted = None, True  # a new ranking; the Bloom filter keeps out repeats
            continue
        for item in page["items"]:
            post = item["post"]
            author = UUID(post["author_id"])
            if (
                post.get("kind") == "story"
                or post["visibility"] == "circle"
                or author in own
                or author in v.excluded
                or UUID(post["id"]) in v.hidden
                or f"a:{author}" in c.bloom
                or f"t:{post['id']}" in c.bloom
            ):
                continue
            c.bloom.add(f"t:{post['id']}")
            items.append({"layer": "trending", "post": post})
        c.trending = page["next_cursor"]
        if c.trending is None:
            return True
    return False


# ------------------------------------------------------------------ cache


async def _cache_key(svc: Services, user_id: UUID, feed: str, cursor: str | None, limit: int) -> str:
    gen = cast(bytes | None, await svc.redis.get(posts.generation_key(user_id))) or b"0"
    digest = hashlib.sha256((cursor or "").encode()).hexdigest()[:24]
    return f"feed:page:{user_id}:{gen.decode()}:{feed}:{limit}:{digest}"


_RECHECK = text("""
SELECT post_id FROM post_feedback WHERE user_id = :me AND kind = 'hide' AND post_id = ANY(:ids)
UNION ALL SELECT muted_id FROM mutes WHERE muter_id = :me AND muted_id = ANY(:authors)
UNION ALL SELECT blocked_id FROM blocks WHERE blocker_id = :me AND blocked_id = ANY(:authors)
UNION ALL SELECT blocker_id FROM blocks WHERE blocked_id = :me AND blocker_id = ANY(:authors)
UNION ALL SELECT x.id FROM unnest(:ids) AS x(id)
  WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.id = x.id AND p.visibility <> 'removed')
""").bindparams(bindparam("ids", type_=_UUIDS), bindparam("authors", type_=_UUIDS))


async def _recheck(svc: Services, user_id: UUID, page: dict) -> dict:
    """A cached page minus what the reader hid, muted or blocked since, deleted posts and
    expired stories."""
    posts = [i["post"] for i in page["items"]]
    if not posts:
        return page
    async with svc.sessions() as s:
        gone = {
            str(x)
            for x in (
                await s.execute(
                    _RECHECK,
                    {
                        "me": user_id,
                        "ids": [UUID(p["id"]) for p in posts],
                        "authors": list({UUID(p["author_id"]) for p in posts}),
                    },
                )
            ).scalars()
        }
    now = utcnow().isoformat()
    page["items"] = [
        i
        for i in page["items"]
        if i["post"]["id"] not in gone
        and i["post"]["author_id"] not in gone
        and not (i["post"].get("expires_at") and i["post"]["expires_at"] <= now)
    ]
    return page


async def _cached(svc: Services, user_id: UUID, feed: str, cursor: str | None, limit: int, build) -> dict:
    ttl = svc.settings.feed_cache_ttl
    if not ttl:
        return {**await build(), "cached": False}
    key = await _cache_key(svc, user_id, feed, cursor, limit)
    raw = await svc.redis.get(key)
    if raw is not None:
        return {**await _recheck(svc, user_id, orjson.loads(raw)), "cached": True}
    page = await build()
    await svc.redis.set(key, orjson.dumps(page), ex=ttl)
    return {**page, "cached": False}


# ------------------------------------------------------------------ the feeds


async def home(svc: Services, user_id: UUID, *, cursor: str | None = None, limit: int = 20) -> dict:
    """{"items": [{"layer", "post"}], "next_cursor", "cached"}: the layers in order (docs/feeds.md)."""

    async def build() -> dict:
        c = decode_cursor(svc, cursor, "home") if cursor else Cursor(feed="home")
        v = await viewer(svc, user_id)
        items: list[dict] = []
        while len(items) < limit:
            name = LAYERS[c.layer]
            if name == "trending":
                done = await _fill_trending(svc, v, c, items, limit)
            elif name == "stories":
                done = await _fill_keyset(svc, "stories", v, v.authors(v.circle_owners), [], c, items, limit, name)
            elif name == "circles":
                done = await _fill_keyset(svc, "circles", v, [], list(v.circles), c, items, limit, name)
            else:
                done = await _fill_keyset(svc, "outer", v, v.authors(), [], c, items, limit, name)
            if not done:
                break
            if c.layer == len(LAYERS) - 1:
                return {"items": items, "next_cursor": None}
            c.layer, c.key = c.layer + 1, None
        return {"items": items, "next_cursor": encode_cursor(svc, c)}

    if cursor:
        decode_cursor(svc, cursor, "home")  # a bad cursor is refused even when a page is cached
    return await _cached(svc, user_id, "home", cursor, limit, build)


async def circle(svc: Services, user_id: UUID, circle_id: UUID, *, cursor: str | None = None, limit: int = 20) -> dict:
    """Posts shared to one circle, newest first; members and the owner only (404 circle_not_found
    for anyone else, as for a circle that does not exist)."""
    feed = f"circle:{circle_id}"
    if cursor:
        decode_cursor(svc, cursor, feed)
    q = (
        select(Circle.id)
        .where(Circle.id == circle_id, Circle.owner_id == user_id)
        .union_all(
            select(CircleMember.circle_id).where(CircleMember.circle_id == circle_id, CircleMember.user_id == user_id)
        )
    )
    async with svc.sessions() as s:
        if (await s.execute(q)).first() is None:
            raise NotFound("no such circle", code="circle_not_found")

    async def build() -> dict:
        c = decode_cursor(svc, cursor, feed) if cursor else Cursor(feed=feed)
        v = await viewer(svc, user_id)
        items: list[dict] = []
        done = await _fill_keyset(svc, "circle", v, [], [circle_id], c, items, limit, "circle")
        return {"items": items, "next_cursor": None if done else encode_cursor(svc, c)}

    return await _cached(svc, user_id, feed, cursor, limit, build)
