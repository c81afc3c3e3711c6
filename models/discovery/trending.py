"""Trending posts, globally and per #hashtag (docs/trending.md).

Write side: the trending Faust agent (streams/agents/trending.py) keeps, per post, the engagement
of each hopping window as one entry per contribution ("edge"): a user's reaction of one type, a
comment, a user's view, a user's share (deduplicated actions only: repeating one adds
nothing). An edge holds [weight, id of the last event applied], and an
event replaces it only if its id (UUIDv7) is newer, so a redelivered or replayed event changes
nothing and a reaction removed then added again counts once. Every refresh the agent sums the
edges of the window covering the last TRENDING_WINDOW per post, writes one snapshot per Kafka
partition it owns, merges all partitions' snapshots and publishes a new ranking generation.

Score (Mastodon's trending statuses): with `observed` the weighted engagement in the window,
    score = (observed - expected)^2 / expected * 0.5 ** (age / half_life)
when observed >= threshold and observed > expected, else 0; `age` is the post's age (from its
UUIDv7 id).

Read side: a generation is immutable (sorted sets under fresh keys, swapped in by one pointer in
a MULTI), so a cursor (generation, rank) pages through one consistent ranking while newer ones
are published; it expires with the generation (410 cursor_expired). A deleted post is skipped
when a page is read (its row is gone) and leaves the rankings at the next refresh (the agent's
`trending-deleted` table).
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from uuid import UUID

import orjson
from sqlalchemy import select

from models.content import feedback
from models.content.posts import Post, public
from models.content.visibility import visible_among
from models.core import cursors, text
from models.core.errors import DomainError
from models.core.events import Received
from models.core.topics import (
    CommentDeletedPayload,
    CommentPayload,
    PostCreatedPayload,
    PostDeletedPayload,
    ReactionPayload,
    SharePayload,
    ViewPayload,
)

if TYPE_CHECKING:
    from infra.services import Services
    from infra.settings import Settings

# Weight of one contribution. A view needs 10 s of watching and counts once an hour per viewer;
# a comment or a share costs the user more than a tap, and a share brings new viewers.
WEIGHTS = {"reaction": 1.0, "comment": 2.0, "share": 3.0, "view": 0.5}

PART, CURRENT = "trending:part:{}", "trending:current"


class CursorExpired(DomainError):
    status, code = 410, "cursor_expired"


@dataclass(frozen=True, slots=True)
class Config:
    window: float  # seconds of engagement a ranking looks at
    step: float  # hop between two windows
    half_life: float  # of the score, on the post's age
    expected: float
    threshold: float
    max_posts: int  # per list
    ttl: int  # seconds a generation (and a partition snapshot) stays readable

    @classmethod
    def from_settings(cls, cfg: Settings) -> Config:
        return cls(
            window=cfg.trending_window.total_seconds(),
            step=cfg.trending_step.total_seconds(),
            half_life=cfg.trending_half_life.total_seconds(),
            expected=cfg.trending_expected,
            threshold=cfg.trending_threshold,
            max_posts=cfg.trending_max_posts,
            ttl=int(cfg.trending_snapshot_ttl.total_seconds()),
        )


# ------------------------------------------------------------------ events -> window edges


def hashtags(caption: str) -> list[str]:
    """#tags of a caption as posts store them (models/core/text.py: Arabic forms, digits, case)."""
    return text.hashtags(caption)


def normalize_tag(tag: str) -> str:
    t = text.normalize_tag(tag)
    if t is None:
        raise DomainError("a hashtag is 1-100 letters, digits or _", code="invalid_hashtag")
    return t


def edge_updates(event: Received) -> list[tuple[str, list]]:
    """An event -> [(edge key "post|kind|subject", [weight, event id])]; [] for other events.
    Ids as canonical strings: the table's changelog holds them, and their order is time order."""
    etype, p, eid = event.type, event.payload, str(event.id)
    if isinstance(p, ReactionPayload):
        w = WEIGHTS["reaction"] if etype == "reaction.added" else 0.0
        return [(f"{p.post_id}|r|{p.user_id}|{p.type}", [w, eid])]
    if etype in ("comment.created", "comment.deleted") and isinstance(p, CommentPayload | CommentDeletedPayload):
        w = WEIGHTS["comment"] if etype == "comment.created" else 0.0
        return [(f"{p.post_id}|c|{p.comment_id}", [w, eid])]
    # One view edge and one share edge per user and post: however many a user's events (the API
    # already counts them once an hour), they weigh once per window.
    if isinstance(p, ViewPayload):
        return [(f"{p.post_id}|v|{p.user_id}", [WEIGHTS["view"], eid])]
    if isinstance(p, SharePayload):
        return [(f"{p.post_id}|s|{p.user_id}", [WEIGHTS["share"], eid])]
    return []


def post_tags(event: Received) -> tuple[str, list[str]] | None:
    """post.created with #hashtags -> (post id, tags)."""
    if not isinstance(p := event.payload, PostCreatedPayload):
        return None
    tags = hashtags(p.caption)
    return (str(p.post_id), tags) if tags else None


def deleted_post(event: Received) -> str | None:
    """post.deleted -> the post id: its edges stop counting (`observed`'s `gone`)."""
    return str(event.payload.post_id) if isinstance(event.payload, PostDeletedPayload) else None


def keep_newer(current: list | None, new: list) -> list:
    """The window operation: the edge keeps the state of the newest event (ids are UUIDv7 in
    canonical form, so string order is time order)."""
    return new if not current or new[1] > current[1] else current


def event_time(event: Received) -> float:
    """Event time (the API's timestamp): a redelivered event falls into the same windows."""
    return event.ts.timestamp()


def post_of(edge: str) -> str:
    return edge.split("|", 1)[0]


def observed(
    items: Iterable[tuple[tuple[str, tuple[float, float]], list]],
    window_start: float,
    gone: Container[str] = frozenset(),
) -> dict[str, float]:
    """Weighted engagement per post in the window starting at window_start, from windowed-table
    items ((edge, (start, end)), [weight, event id]); posts in `gone` (deleted) are left out."""
    totals: dict[str, float] = defaultdict(float)
    for (edge, (start, _end)), value in items:
        if start == window_start and value and value[0]:
            totals[post_of(edge)] += value[0]
    return {post: total for post, total in totals.items() if post not in gone}


# ------------------------------------------------------------------ scoring and publishing


def created_at(post_id: str) -> float | None:
    """Creation time from a UUIDv7 post id (its first 48 bits are Unix milliseconds)."""
    try:
        u = UUID(post_id)
    except ValueError:
        return None
    return (u.int >> 80) / 1000 if u.version == 7 else None


def score(observed_: float, age: float, cfg: Config) -> float:
    if observed_ < cfg.threshold or observed_ <= cfg.expected:
        return 0.0
    return (observed_ - cfg.expected) ** 2 / cfg.expected * 0.5 ** (max(age, 0.0) / cfg.half_life)


def rank(
    snapshot: dict[str, list], cfg: Config, now: float
) -> tuple[list[tuple[str, float]], dict[str, list[tuple[str, float]]]]:
    """{post: [observed, tags]} -> (global ranking, ranking per tag), best first."""
    scored = []
    for post, (obs, tags) in snapshot.items():
        born = created_at(post)
        s = score(obs, now - born if born else 0.0, cfg)
        if s > 0:
            scored.append((s, post, tags))
    scored.sort(key=lambda x: (-x[0], x[1]))
    by_tag: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for s, post, tags in scored:
        for t in tags:
            if len(by_tag[t]) < cfg.max_posts:
                by_tag[t].append((post, s))
    return [(post, s) for s, post, _ in scored[: cfg.max_posts]], dict(by_tag)


def _keys(gen: str) -> dict[str, str]:
    return {
        "meta": f"trending:{gen}:meta",
        "global": f"trending:{gen}:global",
        "engagement": f"trending:{gen}:engagement",
    }


def _tag_key(gen: str, tag: str) -> str:
    return f"trending:{gen}:tag:{tag}"


async def publish(redis, cfg: Config, parts: dict[int, dict[str, list]], n_partitions: int, now: float) -> str:
    """Store this worker's partition snapshots, merge every partition's latest one, and publish
    the rankings as a new generation; returns its id."""
    if parts:
        pipe = redis.pipeline(transaction=False)
        for p, snap in parts.items():
            pipe.set(PART.format(p), orjson.dumps(snap), ex=cfg.ttl)
        await pipe.execute()
    merged: dict[str, list] = {}
    for blob in await redis.mget([PART.format(p) for p in range(n_partitions)]):
        if blob:
            merged.update(orjson.loads(blob))
    ranked, by_tag = rank(merged, cfg, now)
    gen = f"{int(now * 1000):x}{secrets.token_hex(3)}"
    k = _keys(gen)
    pipe = redis.pipeline(transaction=True)  # MULTI: readers see all of it or none
    pipe.hset(k["meta"], mapping={"at": now, "posts": len(ranked), "tags": len(by_tag)})
    if ranked:
        pipe.zadd(k["global"], dict(ranked))
        pipe.hset(k["engagement"], mapping={post: merged[post][0] for post, _ in ranked})
    for tag, posts in by_tag.items():
        pipe.zadd(_tag_key(gen, tag), dict(posts))
        pipe.expire(_tag_key(gen, tag), cfg.ttl)
    for key in k.values():
        pipe.expire(key, cfg.ttl)
    pipe.set(CURRENT, gen)
    await pipe.execute()
    return gen


# ------------------------------------------------------------------ reading


def _encode_cursor(gen: str, position: int) -> str:
    return cursors.encode(f"{gen}|{position}".encode())


def _decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        gen, _, pos = cursors.decode(cursor).decode().partition("|")
        if not re.fullmatch(r"[0-9a-f]{6,40}", gen):
            raise ValueError(gen)
        return gen, int(pos)
    except ValueError:
        raise cursors.invalid() from None


async def _posts(svc: Services, ids: list[UUID]) -> dict[UUID, Post]:
    async with svc.sessions() as s:
        return {p.id: p for p in (await s.execute(select(Post).where(Post.id.in_(ids)))).scalars()}


async def page(
    svc: Services,
    viewer_id: UUID | None,
    *,
    hashtag: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
    recommend: bool = False,
) -> dict:
    """A page of the current ranking (global, or of one hashtag) as the viewer may see it: posts
    they cannot see or hid are skipped; `recommend` also skips their own posts and those they
    marked not interested. `viewer_id` None: an anonymous caller, who sees what a stranger sees.
    Items: {"post", "score", "engagement", "rank"} (rank 1 = top)."""
    redis = svc.redis
    if cursor:
        gen, position = _decode_cursor(cursor)
        if not await redis.exists(_keys(gen)["meta"]):
            raise CursorExpired("this ranking has been replaced; start again without a cursor")
    else:
        current, position = cast(bytes | None, await redis.get(CURRENT)), 0
        if current is None:
            return {"items": [], "next_cursor": None}
        gen = current.decode()
    key = _tag_key(gen, normalize_tag(hashtag)) if hashtag else _keys(gen)["global"]
    skip = (
        await feedback.feedback_for(svc, viewer_id, feedback.KINDS if recommend else ("hide",))
        if viewer_id is not None
        else set()
    )
    items: list[dict] = []
    while len(items) < limit:
        batch = cast(
            list[tuple[bytes, float]], await redis.zrevrange(key, position, position + limit * 2 - 1, withscores=True)
        )
        if not batch:
            break
        ids = [UUID(m.decode()) for m, _ in batch]
        found = await _posts(svc, ids)
        engagement = await redis.hmget(_keys(gen)["engagement"], [m for m, _ in batch])
        check = [
            p
            for p in (found.get(pid) for pid in ids)
            if p is not None and p.id not in skip and not (recommend and p.author_id == viewer_id)
        ]
        # one batch for the lot: per post, 150 recommendation candidates were 150 checks
        visible = {p.id for p, ok in zip(check, await visible_among(svc, viewer_id, check)) if ok}
        for pid, (_, s), eng in zip(ids, batch, engagement):
            position += 1
            if pid not in visible:
                continue
            items.append({"post": public(found[pid]), "score": s, "engagement": float(eng or 0), "rank": position})
            if len(items) == limit:
                break
    more = await redis.zcard(key) > position
    return {"items": items, "next_cursor": _encode_cursor(gen, position) if more else None}
