"""Search (docs/search.md): users by username and display name (prefix and pg_trgm fuzzy), posts by
caption and hashtags (PostgreSQL full text over the `post_search` index), hashtags by prefix.

One function, `search`, for REST and GraphQL. Every answer is {"items", "next_cursor"}: users as
the post view's `author` object, posts as plain posts (the faces render them: post_view), hashtags
as {"tag", "post_count"}. What the viewer may not see is never returned: posts through
models/content/visibility (the same rule every read asks), blocked accounts (either way) and,
for posts, muted authors.

The index (`post_search`) is written only by the search_index agent (streams/agents/search_index.py)
from post events, and always from the post row as it is now, so redelivered or repeated events
change nothing. Moderation's removal leaves a tombstone (`removed`) that a late edit event cannot
bring back; only post.restored clears it. Text is normalised by models/core/text.normalize, the
same function for the indexed text and for the query (so "احمد" finds "أحمد").
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Table, Uuid, bindparam, func, text
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR

from models.content import visibility
from models.content.post_view import authors, load_posts
from models.content.posts import public
from models.core import cursors
from models.core.base import Base
from models.core.errors import DomainError
from models.core.text import hashtags as parse_hashtags
from models.core.text import normalize, normalize_tag
from models.discovery import hashtags

if TYPE_CHECKING:
    from infra.services import Services

TYPES = ("users", "posts", "hashtags")
MAX_QUERY = 200
MAX_ROUNDS = 4  # post pages refilled at most this often when visibility drops candidates

post_search = Table(
    "post_search",
    Base.metadata,
    Column("post_id", Uuid, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("doc", TSVECTOR, nullable=True),  # null while removed by moderation
    Column("removed", Boolean, nullable=False, server_default="false"),
    Column("indexed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_post_search_doc", "doc", postgresql_using="gin"),
)

# Normalised text -> lexemes under three configurations, OR-ed: 'simple' keeps every word as
# typed (normalised Arabic, names, hashtags), 'english' stems English ("cats" finds "cat"),
# 'arabic' (Snowball) strips Arabic prefixes and suffixes ("القاهره" finds "قاهره"). The query
# goes through the same three (docs/search.md: why).
_CONFIGS = ("simple", "english", "arabic")
DOC_SQL = " || ".join(f"to_tsvector('{c}', :t)" for c in _CONFIGS)
QUERY_SQL = " || ".join(f"plainto_tsquery('{c}', :q)" for c in _CONFIGS)


def invalid_query(message: str) -> DomainError:
    return DomainError(message, code="invalid_query")


def checked_query(q: str | None) -> str:
    q = (q or "").strip()
    if not q:
        raise invalid_query("q must not be empty")
    if len(q) > MAX_QUERY:
        raise invalid_query(f"q must be at most {MAX_QUERY} characters")
    return q


def checked_type(kind: str | None) -> str:
    if kind not in TYPES:
        raise DomainError(f"type must be one of {', '.join(TYPES)}", code="invalid_type")
    return kind


def indexed_text(caption: str | None, tags: Sequence[str] | None) -> str:
    """What a post is found by: its caption and its hashtags (as words), normalised."""
    tags = list(tags or []) or parse_hashtags(caption)
    return normalize(" ".join([(caption or "").replace("#", " "), *tags]))


# --- the index (written by the search_index agent) ---

_UPSERT = text(f"""
INSERT INTO post_search (post_id, doc, removed, indexed_at)
VALUES (:id, CASE WHEN :restore OR NOT coalesce((SELECT removed FROM post_search WHERE post_id = :id), false)
                  THEN {DOC_SQL} END, false, now())
ON CONFLICT (post_id) DO UPDATE
SET doc = CASE WHEN :restore OR NOT post_search.removed THEN excluded.doc ELSE post_search.doc END,
    removed = post_search.removed AND NOT :restore,
    indexed_at = now()
""")


async def index_posts(svc: Services, post_ids: Sequence[UUID], *, restore: bool = False) -> list[UUID]:
    """(Re-)index posts from their rows as they are now; a post whose row is gone is dropped.
    A removed post stays out unless `restore`. Returns the ids indexed."""
    ids = list(dict.fromkeys(post_ids))
    if not ids:
        return []
    rows = await load_posts(svc, ids)
    gone = [i for i in ids if i not in rows]
    async with svc.sessions() as s, s.begin():
        if gone:
            await s.execute(post_search.delete().where(post_search.c.post_id.in_(gone)))
        if rows:
            await s.execute(
                _UPSERT,
                [{"id": p.id, "t": indexed_text(p.caption, p.hashtags), "restore": restore} for p in rows.values()],
            )
    return list(rows)


async def restore_posts(svc: Services, post_ids: Sequence[UUID]) -> list[UUID]:
    """post.restored: back in results, re-indexed from the row."""
    return await index_posts(svc, post_ids, restore=True)


async def unindex_posts(svc: Services, post_ids: Sequence[UUID]) -> None:
    """post.deleted: the row goes (the post's own deletion cascades too)."""
    if post_ids:
        async with svc.sessions() as s, s.begin():
            await s.execute(post_search.delete().where(post_search.c.post_id.in_(list(post_ids))))


_REMOVE = text("""
INSERT INTO post_search (post_id, doc, removed, indexed_at)
SELECT id, NULL, true, now() FROM posts WHERE id = ANY(:ids)
ON CONFLICT (post_id) DO UPDATE SET doc = NULL, removed = true, indexed_at = now()
""").bindparams(bindparam("ids", type_=ARRAY(Uuid())))


async def remove_posts(svc: Services, post_ids: Sequence[UUID]) -> None:
    """post.removed (moderation): out of results, with a tombstone a later edit cannot undo."""
    if post_ids:
        async with svc.sessions() as s, s.begin():
            await s.execute(_REMOVE, {"ids": list(post_ids)})


# --- cursors: (score, id) keysets, the score as a float8 so it round-trips exactly ---


def _encode(score: float, row_id: UUID) -> str:
    return cursors.encode(struct.pack(">d", score) + row_id.bytes)


def _decode(cursor: str | None) -> tuple[float, UUID] | None:
    if cursor is None:
        return None
    raw = cursors.decode(cursor)
    if len(raw) != 24:
        raise cursors.invalid()
    return struct.unpack(">d", raw[:8])[0], UUID(bytes=raw[8:])


# --- users ---

_EXCLUDED = """
SELECT blocked_id FROM blocks WHERE blocker_id = :me
UNION ALL SELECT blocker_id FROM blocks WHERE blocked_id = :me
"""
_USERS = f"""
SELECT id, score FROM (
  SELECT u.id,
         (greatest(similarity(lower(u.username), :q), word_similarity(:q, search_norm(p.display_name)))
          + CASE WHEN lower(u.username) LIKE :prefix OR search_norm(p.display_name) LIKE :prefix THEN 1 ELSE 0 END
         )::float8 AS score
  FROM users u LEFT JOIN profiles p ON p.user_id = u.id
  WHERE (lower(u.username) LIKE :prefix OR search_norm(p.display_name) LIKE :prefix
         OR lower(u.username) % :q OR :q <% search_norm(p.display_name))
    AND (CAST(:me AS uuid) IS NULL OR u.id NOT IN ({_EXCLUDED}))
) x
WHERE CAST(:after_score AS float8) IS NULL OR (score, id) < (:after_score, CAST(:after_id AS uuid))
ORDER BY score DESC, id DESC
LIMIT :n
"""


def _like_prefix(q: str) -> str:
    return re.sub(r"([\\%_])", r"\\\1", q) + "%"


async def _users(svc: Services, viewer_id: UUID | None, q: str, after, limit: int, base_url: str) -> dict:
    nq = normalize(q).lstrip("@")
    params = {
        "q": nq,
        "prefix": _like_prefix(nq),
        "me": viewer_id,
        "after_score": after and after[0],
        "after_id": after and after[1],
        "n": limit + 1,
    }
    async with svc.sessions() as s:
        rows = list((await s.execute(text(_USERS), params)).all())
    more, rows = len(rows) > limit, rows[:limit]
    faces = await authors(svc, [r.id for r in rows], base_url=base_url)
    return {
        "items": [faces[r.id] for r in rows if r.id in faces],
        "next_cursor": _encode(rows[-1].score, rows[-1].id) if more else None,
    }


# --- posts ---

_POSTS = f"""
WITH q AS (SELECT {QUERY_SQL} AS tsq)
SELECT id, score FROM (
  SELECT p.id, ts_rank_cd(s.doc, q.tsq)::float8 AS score
  FROM post_search s JOIN posts p ON p.id = s.post_id, q
  WHERE s.doc @@ q.tsq AND NOT s.removed
    AND (p.expires_at IS NULL OR p.expires_at > now())
    AND (p.visibility = 'public' OR CAST(:me AS uuid) IS NOT NULL)
    AND (CAST(:me AS uuid) IS NULL OR p.author_id NOT IN (
          {_EXCLUDED} UNION ALL SELECT muted_id FROM mutes WHERE muter_id = :me))
) x
WHERE CAST(:after_score AS float8) IS NULL OR (score, id) < (:after_score, CAST(:after_id AS uuid))
ORDER BY score DESC, id DESC
LIMIT :n
"""


async def _posts(svc: Services, viewer_id: UUID | None, q: str, after, limit: int) -> dict:
    """Ranked matches, then the visibility rule on each page of candidates (followers-only,
    circle and subscriber posts, videos not ready yet); refilled until the page is full."""
    nq = normalize(q)
    items: list[dict] = []
    last = after
    exhausted = False
    for _ in range(MAX_ROUNDS):
        want = (limit + 1 - len(items)) * 2
        params = {"q": nq, "me": viewer_id, "after_score": last and last[0], "after_id": last and last[1], "n": want}
        async with svc.sessions() as s:
            rows = list((await s.execute(text(_POSTS), params)).all())
        found = await load_posts(svc, [r.id for r in rows])
        posts = [(r, found[r.id]) for r in rows if r.id in found]
        ok = await visibility.visible_among(svc, viewer_id, [p for _, p in posts])
        items += [{**public(p), "_at": (r.score, r.id)} for (r, p), yes in zip(posts, ok) if yes]
        if rows:
            last = (rows[-1].score, rows[-1].id)
        if len(items) > limit:
            break
        if len(rows) < want:
            exhausted = True
            break
    next_cursor = None
    if len(items) > limit:
        next_cursor = _encode(*items[limit - 1]["_at"])
    elif not exhausted and last is not None:
        next_cursor = _encode(*last)  # the rounds ran out first: a short page, then on from there
    items = items[:limit]
    for it in items:
        it.pop("_at")
    return {"items": items, "next_cursor": next_cursor}


# --- hashtags ---


async def _hashtags(svc: Services, q: str, cursor: str | None, limit: int) -> dict:
    """Tags starting with `q` ("#" optional), most posts first: the hashtag index's counts of
    public posts (models/discovery/hashtags.py). Text that cannot start a tag finds none."""
    if normalize_tag(q) is None:
        return {"items": [], "next_cursor": None}
    return await hashtags.search_tags(svc, q, cursor=cursor, limit=limit)


async def search(
    svc: Services,
    viewer_id: UUID | None,
    *,
    q: str | None,
    type: str | None,
    cursor: str | None = None,
    limit: int = 20,
    base_url: str = "",
) -> dict:
    """GET /search and GraphQL `search`: {"items", "next_cursor"}. 400 invalid_type, invalid_query
    (empty or over 200 characters), invalid_cursor."""
    kind = checked_type(type)
    query = checked_query(q)
    if kind == "hashtags":
        return await _hashtags(svc, query, cursor, limit)
    after = _decode(cursor)
    if kind == "users":
        return await _users(svc, viewer_id, query, after, limit, base_url)
    return await _posts(svc, viewer_id, query, after, limit)
