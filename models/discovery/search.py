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

import orjson
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Table, Uuid, bindparam, func, text
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR

from models.content import visibility
from models.content.post_view import authors, load_posts
from models.content.posts import public
from models.core import cursors
from models.core.base import Base
from models.core.errors import DomainError
from models.core.events import new_id
from models.core.text import hashtags as parse_hashtags
from models.core.text import normalize, normalize_tag
from models.discovery import hashtags, semantic
from models.discovery.recommendations import CursorExpired

if TYPE_CHECKING:
    from infra.services import Services

TYPES = ("users", "posts", "hashtags")
MODES = ("text", "hybrid")
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


def checked_mode(mode: str | None) -> str:
    if mode is None:
        return "hybrid"
    if mode not in MODES:
        raise DomainError(f"mode must be one of {', '.join(MODES)}", code="invalid_mode")
    return mode


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


async def _text_page(
    svc: Services, viewer_id: UUID | None, q: str, after, limit: int, skip: frozenset[UUID] = frozenset()
) -> tuple[list[dict], tuple[float, UUID] | None]:
    """Ranked text matches after the keyset `after`, then the visibility rule on each page of
    candidates (followers-only, circle and subscriber posts, videos not ready yet); refilled
    until the page is full. `skip`: ids already served (a hybrid list's semantic part).
    Returns the page and the keyset to go on from (None: the end)."""
    nq = normalize(q)
    items: list[dict] = []
    last = after
    exhausted = False
    for _ in range(MAX_ROUNDS):
        want = (limit + 1 - len(items)) * 2
        params = {"q": nq, "me": viewer_id, "after_score": last and last[0], "after_id": last and last[1], "n": want}
        async with svc.sessions() as s:
            rows = list((await s.execute(text(_POSTS), params)).all())
        rows_kept = [r for r in rows if r.id not in skip]
        found = await load_posts(svc, [r.id for r in rows_kept])
        posts = [(r, found[r.id]) for r in rows_kept if r.id in found]
        ok = await visibility.visible_among(svc, viewer_id, [p for _, p in posts])
        items += [{**public(p), "_at": (r.score, r.id)} for (r, p), yes in zip(posts, ok) if yes]
        if rows:
            last = (rows[-1].score, rows[-1].id)
        if len(items) > limit:
            break
        if len(rows) < want:
            exhausted = True
            break
    next_after = None
    if len(items) > limit:
        next_after = items[limit - 1]["_at"]
    elif not exhausted and last is not None:
        next_after = last  # the rounds ran out first: a short page, then on from there
    items = items[:limit]
    for it in items:
        it.pop("_at")
    return items, next_after


async def _posts(svc: Services, viewer_id: UUID | None, q: str, after, limit: int) -> dict:
    """Text only: keyset cursors (score, id)."""
    items, next_after = await _text_page(svc, viewer_id, q, after, limit)
    return {"items": items, "next_cursor": _encode(*next_after) if next_after else None, "semantic": False}


# --- posts, hybrid: text hits fused with the worker's caption-embedding neighbours ---

RRF_K = 60  # reciprocal rank fusion: 1 / (RRF_K + rank) per list a post is in

_ELIGIBLE = text(f"""
SELECT p.id FROM posts p LEFT JOIN post_search s ON s.post_id = p.id
WHERE p.id = ANY(:ids) AND NOT coalesce(s.removed, false)
  AND (p.expires_at IS NULL OR p.expires_at > now())
  AND (p.visibility = 'public' OR CAST(:me AS uuid) IS NOT NULL)
  AND (CAST(:me AS uuid) IS NULL OR p.author_id NOT IN (
        {_EXCLUDED} UNION ALL SELECT muted_id FROM mutes WHERE muter_id = :me))
""").bindparams(bindparam("ids", type_=ARRAY(Uuid())))


async def _eligible(svc: Services, viewer_id: UUID | None, ids: Sequence[UUID]) -> set[UUID]:
    """The SQL half of the text hits' filter, for ids from elsewhere: not removed by moderation,
    not expired, public for anonymous callers, no blocked or muted author."""
    if not ids:
        return set()
    async with svc.sessions() as s:
        return set((await s.execute(_ELIGIBLE, {"ids": list(ids), "me": viewer_id})).scalars())


def fuse(text_ids: Sequence[UUID], semantic_ids: Sequence[UUID]) -> list[UUID]:
    """Reciprocal rank fusion of two ranked lists (ties: the better text rank, then id)."""
    score: dict[UUID, float] = {}
    for ranked in (text_ids, semantic_ids):
        for rank, pid in enumerate(ranked, 1):
            score[pid] = score.get(pid, 0.0) + 1 / (RRF_K + rank)
    text_rank = {pid: i for i, pid in enumerate(text_ids)}
    return sorted(score, key=lambda pid: (-score[pid], text_rank.get(pid, len(text_ids)), pid))


def _snapshot_key(sid: str) -> str:
    return f"search:snap:{sid}"


def _encode_hybrid(sid: str, pos: int, after: tuple[float, UUID] | None) -> str:
    raw = b"h" + bytes.fromhex(sid) + pos.to_bytes(4, "big")
    if after is not None:
        raw += struct.pack(">d", after[0]) + after[1].bytes
    return cursors.encode(raw)


def _decode_hybrid(raw: bytes) -> tuple[str, int, tuple[float, UUID] | None]:
    if len(raw) not in (21, 45) or raw[:1] != b"h":
        raise cursors.invalid()
    after = (struct.unpack(">d", raw[21:29])[0], UUID(bytes=raw[29:])) if len(raw) == 45 else None
    return raw[1:17].hex(), int.from_bytes(raw[17:21], "big"), after


async def _hybrid_first(
    svc: Services, viewer_id: UUID | None, q: str, hits: list[tuple[UUID, float]], limit: int
) -> dict:
    """A first hybrid page: rank up to SEARCH_HYBRID_CANDIDATES text hits (filtered in SQL as
    always) and the semantic hits that pass the same filter, fuse them, store the fused list
    (the snapshot) and serve its first page."""
    cfg = svc.settings
    n = cfg.search_hybrid_candidates
    params = {"q": normalize(q), "me": viewer_id, "after_score": None, "after_id": None, "n": n + 1}
    async with svc.sessions() as s:
        rows = list((await s.execute(text(_POSTS), params)).all())
    more_text, rows = len(rows) > n, rows[:n]
    ok = await _eligible(svc, viewer_id, [pid for pid, _ in hits])
    semantic_ids = [pid for pid, _ in hits if pid in ok]
    snap = {
        "q": normalize(q),
        "v": str(viewer_id) if viewer_id else None,
        "ids": [str(i) for i in fuse([r.id for r in rows], semantic_ids)],
        "sem": [str(i) for i in semantic_ids],
        "after": [rows[-1].score, str(rows[-1].id)] if more_text else None,
    }
    sid = new_id().hex
    await svc.redis.set(_snapshot_key(sid), orjson.dumps(snap), ex=cfg.search_snapshot_ttl_s)
    return await _hybrid_page(svc, viewer_id, snap, sid, 0, None, limit)


async def _hybrid_next(svc: Services, viewer_id: UUID | None, q: str, raw: bytes, limit: int) -> dict:
    sid, pos, after = _decode_hybrid(raw)
    data = await svc.redis.get(_snapshot_key(sid))
    if data is None:
        raise CursorExpired("this list expired; search again without a cursor")
    snap = orjson.loads(data)
    if snap["v"] != (str(viewer_id) if viewer_id else None) or snap["q"] != normalize(q) or pos > len(snap["ids"]):
        raise cursors.invalid()
    return await _hybrid_page(svc, viewer_id, snap, sid, pos, after, limit)


async def _hybrid_page(
    svc: Services, viewer_id: UUID | None, snap: dict, sid: str, pos: int, after, limit: int
) -> dict:
    """From position `pos` of the fused list: its posts that pass the filters now (a block since
    the snapshot counts); past its end, the text hits beyond the fused ones (keyset `after`,
    the snapshot's last text hit at first), without the semantic hits already served."""
    ids = [UUID(i) for i in snap["ids"]]
    items: list[dict] = []
    rounds = 0
    while len(items) < limit and pos < len(ids) and rounds < MAX_ROUNDS:
        rounds += 1
        chunk = ids[pos : pos + (limit - len(items)) * 2]
        ok = await _eligible(svc, viewer_id, chunk)
        found = await load_posts(svc, [i for i in chunk if i in ok])
        posts = [found[i] for i in chunk if i in found]
        seen = {p.id for p, yes in zip(posts, await visibility.visible_among(svc, viewer_id, posts)) if yes}
        by_id = {p.id: p for p in posts}
        consumed = len(chunk)
        for j, pid in enumerate(chunk):
            if pid in seen:
                items.append(public(by_id[pid]))
                if len(items) == limit:
                    consumed = j + 1
                    break
        pos += consumed
    if pos < len(ids):
        next_cursor: str | None = _encode_hybrid(sid, pos, None)
    elif snap["after"] is None and after is None:
        next_cursor = None
    else:
        after = after or (snap["after"][0], UUID(snap["after"][1]))
        rest: list[dict] = []
        next_after = after
        if len(items) < limit:
            skip = frozenset(UUID(i) for i in snap["sem"])
            rest, next_after = await _text_page(svc, viewer_id, snap["q"], after, limit - len(items), skip)
        items += rest
        next_cursor = _encode_hybrid(sid, pos, next_after) if next_after else None
    return {"items": items, "next_cursor": next_cursor, "semantic": True}


async def _posts_search(
    svc: Services, viewer_id: UUID | None, q: str, cursor: str | None, limit: int, mode: str
) -> dict:
    """Text only (keyset cursors) or hybrid (snapshot cursors, docs/search.md#cursors)."""
    if cursor is not None:
        raw = cursors.decode(cursor)
        if raw[:1] == b"h" and len(raw) != 24:
            return await _hybrid_next(svc, viewer_id, q, raw, limit)
        return await _posts(svc, viewer_id, q, _decode(cursor), limit)
    if mode == "hybrid" and svc.settings.search_semantic:
        hits = await semantic.neighbours(svc, q)
        if hits is not None:
            return await _hybrid_first(svc, viewer_id, q, hits, limit)
    return await _posts(svc, viewer_id, q, None, limit)


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
    mode: str | None = None,
) -> dict:
    """GET /search and GraphQL `search`: {"items", "next_cursor"}, and for posts "semantic". `mode` (posts):
    hybrid (the default: text and semantic matches fused, when the worker answers in time) or
    text. `semantic` says whether semantic matches were merged. 400 invalid_type, invalid_query
    (empty or over 200 characters), invalid_mode, invalid_cursor; 410 cursor_expired."""
    kind = checked_type(type)
    query = checked_query(q)
    if kind == "hashtags":
        return await _hashtags(svc, query, cursor, limit)
    if kind == "users":
        return await _users(svc, viewer_id, query, _decode(cursor), limit, base_url)
    return await _posts_search(svc, viewer_id, query, cursor, limit, checked_mode(mode))
