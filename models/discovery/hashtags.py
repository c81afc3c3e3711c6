"""#Hashtags: the post <-> tag index, per-tag post counts, tag pages, prefix search and trending
tags (docs/hashtags.md).

A tag is stored in its normalised form (models/core/text.py: NFC, alef forms -> ا, ى -> ي,
ة -> ه, no diacritics or tatweel, ASCII digits, case-folded): posts store their caption's tags so
(publishing, editing), this index holds the same strings, and every tag a client sends goes
through `normalize_tag` first, so "#أحمد", "احمد" and "#إحمد" are one tag.

Write side (streams/agents/hashtags.py): every content.posts event about a post makes the index
agree with the post row (`sync`): the post's tags if it exists, is a post (not a story) and was
not removed by moderation (`post.removed` until `post.restored`), else none; then the counts of
every tag it touched are recounted. Re-reading the row instead of applying the event's payload
makes the agent idempotent and insensitive to order and redelivery. Engagement events re-read
the post's counters (`refresh_scores`) and record who used which tag when (`record_activity`).

Counts and trending include public posts only (a followers-only post is listed on its tag page
for those who may see it, but does not reveal itself through a count).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast
from uuid import UUID

import orjson
from sqlalchemy import DateTime, Float, Index, Integer, String, Text, Uuid, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from models.content import post_view
from models.content.posts import Post, public
from models.content.visibility import visible_among
from models.core import cursors
from models.core import text as words
from models.core.base import Base, utcnow
from models.core.errors import DomainError
from models.discovery import feeds

if TYPE_CHECKING:
    from infra.services import Services

# sort=top: lifetime engagement from the counters store with trending's weights
# (models/discovery/trending.WEIGHTS: reaction 1, comment 2, share 3, view 0.5).
SCORE_WEIGHTS = {"reactions": 1.0, "comments": 2.0, "shares": 3.0, "views": 0.5}
SORTS = ("new", "top")
TRENDING_KEY = "hashtags:trending"  # the ranked list (top TRENDING_TAGS_MAX), TRENDING_REFRESH seconds
TRENDING_TAGS_MAX = 100


class HashtagPost(Base):
    """One row per (tag, post) of every listed post, whatever its visibility."""

    __tablename__ = "hashtag_posts"
    tag: Mapped[str] = mapped_column(Text, primary_key=True)
    post_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    author_id: Mapped[UUID] = mapped_column(Uuid)
    visibility: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    __table_args__ = (
        Index("ix_hashtag_posts_top", "tag", "score", "post_id"),
        Index("ix_hashtag_posts_post_id", "post_id"),
    )


class Hashtag(Base):
    """Per tag: how many public posts carry it (rows with 0 are deleted)."""

    __tablename__ = "hashtags"
    tag: Mapped[str] = mapped_column(Text, primary_key=True)
    post_count: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (
        Index("ix_hashtags_prefix", "tag", postgresql_ops={"tag": "text_pattern_ops"}),
        Index("ix_hashtags_count", "post_count", "tag"),
    )


class HashtagRemoved(Base):
    """Posts moderation removed (post.removed) and did not restore: not listed."""

    __tablename__ = "hashtag_removed_posts"
    post_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)


class HashtagActivity(Base):
    """Who used a tag in which TRENDING_STEP bucket (posted with it, or reacted, commented,
    shared or watched a public post with it): one row per (tag, bucket, user), so a user counts
    once per tag however much they do."""

    __tablename__ = "hashtag_activity"
    tag: Mapped[str] = mapped_column(Text, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    user_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    __table_args__ = (Index("ix_hashtag_activity_bucket", "bucket"),)


def normalize_tag(tag: str | None) -> str:
    """A tag as a client sends it ("#أحمد", "Cairo") -> its stored form; 400 invalid_hashtag if
    it is empty, longer than 100 characters or holds anything but letters, digits and _."""
    t = words.normalize_tag(tag or "")
    if t is None:
        raise DomainError("a hashtag is 1-100 letters, digits or _", code="invalid_hashtag")
    return t


# ------------------------------------------------------------------ the index (write side)

_CURRENT = text("""
SELECT p.author_id, p.visibility, p.kind, p.hashtags,
       EXISTS (SELECT 1 FROM hashtag_removed_posts r WHERE r.post_id = p.id) AS removed
FROM posts p WHERE p.id = :id
""")
_RECOUNT = text("""
WITH c AS (
  SELECT t.tag, (SELECT count(*) FROM hashtag_posts h WHERE h.tag = t.tag AND h.visibility = 'public') AS n
  FROM unnest(CAST(:tags AS text[])) AS t(tag)
), up AS (
  INSERT INTO hashtags (tag, post_count, updated_at) SELECT tag, n, now() FROM c WHERE n > 0
  ON CONFLICT (tag) DO UPDATE SET post_count = excluded.post_count, updated_at = excluded.updated_at
)
DELETE FROM hashtags WHERE tag IN (SELECT tag FROM c WHERE n = 0)
""").bindparams(bindparam("tags", type_=ARRAY(Text())))

_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtext('hashtag:' || t)) FROM unnest(CAST(:tags AS text[])) AS t ORDER BY t"
).bindparams(bindparam("tags", type_=ARRAY(Text())))


async def sync(svc: Services, post_ids: Iterable[UUID]) -> set[str]:
    """Make the index agree with each post's row; recount the tags touched. Returns them."""
    touched: set[str] = set()
    async with svc.sessions() as s, s.begin():
        for post_id in sorted(set(post_ids)):
            # Two syncs of one post (a redelivery racing its first delivery, two workers) take
            # turns: the second deletes what the first committed instead of colliding with it.
            # Posts in id order, then tags in tag order: every transaction locks in one order.
            await s.execute(
                text("SELECT pg_advisory_xact_lock(hashtext('hashtag-post:' || :id))"), {"id": str(post_id)}
            )
            row = (await s.execute(_CURRENT, {"id": post_id})).first()
            want = list(row.hashtags or []) if row and row.kind == "post" and not row.removed else []
            old = await s.execute(
                text("DELETE FROM hashtag_posts WHERE post_id = :id RETURNING tag, score"), {"id": post_id}
            )
            before = {r.tag: r.score for r in old}
            touched |= set(before) | set(want)
            if row is not None and want:
                score = max(before.values(), default=0.0)
                await s.execute(
                    text(
                        "INSERT INTO hashtag_posts (tag, post_id, author_id, visibility, score) "
                        "SELECT t, :id, :author, :vis, :score FROM unnest(CAST(:tags AS text[])) AS t"
                    ).bindparams(bindparam("tags", type_=ARRAY(Text()))),
                    {"id": post_id, "author": row.author_id, "vis": row.visibility, "score": score, "tags": want},
                )
        if touched:
            # Batches of other partitions recount the same tags concurrently: one at a time per
            # tag (locks in tag order: no deadlock), so each count sees the other's committed rows.
            await s.execute(_LOCK, {"tags": sorted(touched)})
            await s.execute(_RECOUNT, {"tags": sorted(touched)})
    return touched


async def set_removed(svc: Services, post_id: UUID, removed: bool) -> None:
    """post.removed / post.restored: the marker `sync` reads (call sync after)."""
    async with svc.sessions() as s, s.begin():
        if removed:
            await s.execute(
                text("INSERT INTO hashtag_removed_posts (post_id) VALUES (:id) ON CONFLICT DO NOTHING"), {"id": post_id}
            )
        else:
            await s.execute(text("DELETE FROM hashtag_removed_posts WHERE post_id = :id"), {"id": post_id})


def engagement_score(counters: dict[str, int]) -> float:
    """sort=top's score of a post from its counters (models/content/reactions.counters_of_kinds)."""
    reactions = sum(v for k, v in counters.items() if k not in ("views", "shares", "comments"))
    return (
        reactions * SCORE_WEIGHTS["reactions"]
        + counters.get("comments", 0) * SCORE_WEIGHTS["comments"]
        + counters.get("shares", 0) * SCORE_WEIGHTS["shares"]
        + counters.get("views", 0) * SCORE_WEIGHTS["views"]
    )


async def tags_of(svc: Services, post_ids: Sequence[UUID], *, public_only: bool = False) -> dict[UUID, list[str]]:
    """The indexed tags of each post (posts without any are absent)."""
    if not post_ids:
        return {}
    q = "SELECT post_id, tag FROM hashtag_posts WHERE post_id = ANY(:ids)"
    if public_only:
        q += " AND visibility = 'public'"
    async with svc.sessions() as s:
        rows = (
            await s.execute(text(q).bindparams(bindparam("ids", type_=ARRAY(Uuid()))), {"ids": list(post_ids)})
        ).all()
    out: dict[UUID, list[str]] = {}
    for r in rows:
        out.setdefault(r.post_id, []).append(r.tag)
    return out


async def refresh_scores(svc: Services, post_ids: Sequence[UUID]) -> None:
    """Re-read the counters of indexed posts and store their sort=top score."""
    ids = list(await tags_of(svc, list(dict.fromkeys(post_ids))))
    if not ids:
        return
    found = await post_view.counters(svc, ids)  # the flat counters of GET /posts/{id}/counters
    async with svc.sessions() as s, s.begin():
        for post_id in ids:
            await s.execute(
                text("UPDATE hashtag_posts SET score = :score WHERE post_id = :id AND score <> :score"),
                {"id": post_id, "score": engagement_score(found.get(post_id, {}))},
            )


def bucket_of(at: datetime, step: timedelta) -> datetime:
    """The start of the TRENDING_STEP bucket `at` falls into."""
    secs = step.total_seconds()
    return datetime.fromtimestamp(at.timestamp() // secs * secs, tz=UTC)


async def record_activity(svc: Services, uses: Iterable[tuple[str, UUID, datetime]]) -> int:
    """(tag, user, event time) -> one row per (tag, bucket, user); repeats are no-ops. Rows older
    than two windows and a step are dropped (no ranking reads them). Returns the rows added."""
    step, window = svc.settings.trending_step, svc.settings.trending_window
    rows = {(tag, bucket_of(at, step), user) for tag, user, at in uses}
    if not rows:
        return 0
    tags, buckets, users = (list(x) for x in zip(*sorted(rows)))
    async with svc.sessions() as s, s.begin():
        added = await s.execute(
            text(
                "INSERT INTO hashtag_activity (tag, bucket, user_id) "
                "SELECT * FROM unnest(CAST(:tags AS text[]), CAST(:buckets AS timestamptz[]), CAST(:users AS uuid[])) "
                "ON CONFLICT DO NOTHING"
            ).bindparams(
                bindparam("tags", type_=ARRAY(Text())),
                bindparam("buckets", type_=ARRAY(DateTime(timezone=True))),
                bindparam("users", type_=ARRAY(Uuid())),
            ),
            {"tags": tags, "buckets": buckets, "users": users},
        )
        await s.execute(text("DELETE FROM hashtag_activity WHERE bucket < :old"), {"old": utcnow() - 2 * window - step})
    return cast(int, getattr(added, "rowcount", 0) or 0)


# ------------------------------------------------------------------ tag pages

_PAGE = """
SELECT p.*, h.score AS tag_score FROM hashtag_posts h JOIN posts p ON p.id = h.post_id
WHERE h.tag = :tag AND p.author_id <> ALL(:excluded) AND p.id <> ALL(:hidden)
  AND (p.expires_at IS NULL OR p.expires_at > now())"""
_QUERIES = {
    (sort, paged): text(
        _PAGE
        + (
            ("" if not paged else " AND h.post_id < :k_id") + " ORDER BY h.post_id DESC LIMIT :n"
            if sort == "new"
            else ("" if not paged else " AND (h.score, h.post_id) < (:k_score, :k_id)")
            + " ORDER BY h.score DESC, h.post_id DESC LIMIT :n"
        )
    ).bindparams(bindparam("excluded", type_=ARRAY(Uuid())), bindparam("hidden", type_=ARRAY(Uuid())))
    for sort in SORTS
    for paged in (False, True)
}


def _encode(sort: str, score: float, post_id: UUID) -> str:
    return cursors.encode(sort.encode()[:1] + struct.pack(">d", score) + post_id.bytes)


def _decode(sort: str, cursor: str) -> tuple[float, UUID]:
    raw = cursors.decode(cursor)
    if len(raw) != 25 or raw[:1] != sort.encode()[:1]:
        raise cursors.invalid()
    return struct.unpack(">d", raw[1:9])[0], UUID(bytes=raw[9:])


async def tag_posts(
    svc: Services, viewer_id: UUID | None, tag: str, *, sort: str = "new", cursor: str | None = None, limit: int = 20
) -> dict:
    """A page of the posts of one tag the viewer may see: {"items": [post], "next_cursor"} with
    plain posts (models/content/posts.public; render with post_view.render_page(key=None)).
    sort "new": newest first (post id, UUIDv7); "top": highest engagement_score first.
    Authors blocked either way or muted and posts the viewer hid are left out; every item passed
    visibility (models/content/visibility). A tag without posts is an empty page."""
    if sort not in SORTS:
        raise DomainError("sort is new or top", code="validation_error", details=[{"field": "sort"}])
    tag = normalize_tag(tag)
    key = _decode(sort, cursor) if cursor else None
    v = await feeds.viewer(svc, viewer_id) if viewer_id is not None else None
    excluded, hidden = (list(v.excluded), list(v.hidden)) if v else ([], [])
    items: list[dict] = []
    more = True
    while len(items) < limit and more:
        n = limit * 2
        params: dict = {"tag": tag, "excluded": excluded, "hidden": hidden, "n": n}
        if key:
            params.update(k_score=key[0], k_id=key[1])
        async with svc.sessions() as s:
            rows = list((await s.execute(_QUERIES[(sort, key is not None)], params)).all())
        more = len(rows) == n
        ok = await visible_among(svc, viewer_id, cast(list[Post], rows))
        for i, (row, yes) in enumerate(zip(rows, ok)):
            key = (row.tag_score, row.id)
            if yes:
                items.append(public(cast(Post, row)))
            if len(items) == limit:
                more = more or i < len(rows) - 1
                break
    return {"items": items, "next_cursor": _encode(sort, *key) if more and key else None}


# ------------------------------------------------------------------ search and trending


async def search_tags(svc: Services, prefix: str, *, cursor: str | None, limit: int) -> dict:
    """Tags starting with `prefix` (normalised as tags are; a leading # is dropped), most posts
    first then by tag: {"items": [{"tag", "post_count"}], "next_cursor"}. An invalid prefix is
    400 invalid_hashtag."""
    p = normalize_tag(prefix)
    like = p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    q = "SELECT tag, post_count FROM hashtags WHERE tag LIKE :like"
    params: dict = {"like": like, "n": limit + 1}
    if cursor:
        try:
            count, after = orjson.loads(cursors.decode(cursor))
            params.update(k_count=int(count), k_tag=str(after))
        except (ValueError, TypeError):
            raise cursors.invalid() from None
        q += " AND (post_count < :k_count OR (post_count = :k_count AND tag > :k_tag))"
    q += " ORDER BY post_count DESC, tag LIMIT :n"
    async with svc.sessions() as s:
        rows = (await s.execute(text(q), params)).all()
    items = [{"tag": r.tag, "post_count": r.post_count} for r in rows[:limit]]
    more = len(rows) > limit
    last = items[-1] if items else None
    return {
        "items": items,
        "next_cursor": cursors.encode(orjson.dumps([last["post_count"], last["tag"]])) if more and last else None,
    }


_WINDOWS = text("""
WITH cur AS (
  SELECT tag, count(DISTINCT user_id) AS n FROM hashtag_activity
  WHERE bucket >= :w0 AND bucket <= :now GROUP BY tag
), prev AS (
  SELECT tag, count(DISTINCT user_id) AS n FROM hashtag_activity
  WHERE bucket >= :p0 AND bucket < :w0 AND tag IN (SELECT tag FROM cur WHERE n >= :threshold) GROUP BY tag
)
SELECT cur.tag, cur.n AS users, coalesce(prev.n, 0) AS previous,
       (SELECT post_count FROM hashtags h WHERE h.tag = cur.tag) AS post_count
FROM cur LEFT JOIN prev ON prev.tag = cur.tag WHERE cur.n >= :threshold
""")


def tag_score(users: int, previous: int, *, expected: float, threshold: float) -> float:
    """Trending's formula on distinct users: (observed - expected)^2 / expected with observed the
    users of the tag in the window and expected the users of the window before (at least
    TRENDING_EXPECTED); 0 below the threshold or without growth."""
    exp = max(float(previous), expected)
    if users < threshold or users <= exp:
        return 0.0
    return (users - exp) ** 2 / exp


async def trending_tags(svc: Services, *, limit: int = 20) -> dict:
    """Tags used by the most more distinct users in the last TRENDING_WINDOW than in the window
    before: {"items": [{"tag", "score", "users", "post_count"}]} best first; cached
    TRENDING_REFRESH seconds."""
    cfg = svc.settings
    cached = cast(bytes | None, await svc.redis.get(TRENDING_KEY))
    if cached is not None:
        return {"items": orjson.loads(cached)[:limit]}
    now = utcnow()
    window = cfg.trending_window
    # the buckets whose start lies within the last window (as trending's window.earliest)
    w0 = bucket_of(now - window + cfg.trending_step, cfg.trending_step)
    params = {"now": now, "w0": w0, "p0": w0 - window, "threshold": cfg.trending_threshold}
    async with svc.sessions() as s:
        rows = (await s.execute(_WINDOWS, params)).all()
    scored = [
        (tag_score(r.users, r.previous, expected=cfg.trending_expected, threshold=cfg.trending_threshold), r)
        for r in rows
    ]
    ranked = sorted(((sc, r) for sc, r in scored if sc > 0), key=lambda x: (-x[0], x[1].tag))[:TRENDING_TAGS_MAX]
    items = [{"tag": r.tag, "score": sc, "users": r.users, "post_count": r.post_count or 0} for sc, r in ranked]
    await svc.redis.set(TRENDING_KEY, orjson.dumps(items), ex=max(1, int(cfg.trending_refresh)))
    return {"items": items[:limit]}


def window_name(svc: Services, asked: str | None) -> str:
    """The trending window's name ("1h" for TRENDING_WINDOW = 1 h): the only one there is; asking
    for another is 400 invalid_window."""
    secs = int(svc.settings.trending_window.total_seconds())
    name = f"{secs // 3600}h" if secs % 3600 == 0 else f"{secs // 60}m" if secs % 60 == 0 else f"{secs}s"
    if asked not in (None, name):
        raise DomainError(
            f"the trending window is {name}", code="invalid_window", details=[{"field": "window", "allowed": [name]}]
        )
    return name
