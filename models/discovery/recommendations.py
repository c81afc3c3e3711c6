"""Recommendations as the API serves them, and the Redis state the worker and the API share.

The stream worker owns Qdrant (infra/vectors.py). For each user it keeps the recent engagement
signals (`recs:hist:<user>`) and, after each change, a candidate list from a vector search on
the user's interest vector (`recs:cand:<user>`). The API reads only Redis and PostgreSQL: it
blends those candidates with trending posts and recent posts of followed creators, filters them,
caps posts per author per page, and pages through a snapshot (docs/recommendations.md).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

import orjson
from sqlalchemy import DateTime, ForeignKey, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, mapped_column

from models.accounts import profiles
from models.content import feedback, posts, visibility
from models.content.posts import Post
from models.core import cursors, outbox
from models.core.base import Base, utcnow
from models.core.errors import DomainError, Forbidden
from models.core.events import Event, new_id
from models.core.topics import RECS_USERS
from models.discovery import trending
from models.media.videos import Video
from models.social import blocks, mutes

if TYPE_CHECKING:
    from infra.services import Services

log = logging.getLogger(__name__)

TOPICS = "@topics"  # the history key of the onboarding interests
# Signal weights of the update rule (models/discovery/interests.py): positive pulls the user's
# vector towards the post, negative pushes it away.
WEIGHTS = {
    "like": 1.0,
    "love": 1.5,
    "laugh": 1.0,
    "wow": 1.0,
    "sad": 0.5,
    "angry": 0.25,
    "view": 0.5,
    "share": 2.0,
    "topics": 1.0,
    "not_interested": -1.0,
    "hide": -2.0,
    "report": -3.0,
}
MAX_SERVED = 1000  # served posts remembered per user (within RECS_SEEN_TTL)
SNAPSHOT_MAX = 300  # posts in one snapshot (15 pages of 20)
SOURCE_LIMIT = 150  # posts taken from the following and trending sources each
FOLLOWEES_MAX = 500  # most recently followed creators whose posts are considered
FOLLOWING_WINDOW = timedelta(days=7)
REFRESH_LOCK_S = 30
# Share of each source in a page, by smooth weighted round robin over the ranked sources.
BLEND = {"interests": 0.6, "following": 0.25, "trending": 0.15}
COLD_BLEND = {"following": 0.5, "trending": 0.5}


def candidates_key(user) -> str:
    return f"recs:cand:{user}"


def history_key(user) -> str:
    return f"recs:hist:{user}"


def served_key(user) -> str:
    return f"recs:served:{user}"


def video_posts_key(video_id) -> str:
    return f"recs:video_posts:{video_id}"


def awaiting_key(post_id) -> str:
    """Users whose signals name this post before it was indexed (refreshed once it is)."""
    return f"recs:awaiting:{post_id}"


AWAITING = "recs:awaiting"  # ZSET of those posts -> when first awaited: one lookup per batch


def _snapshot_key(sid: str) -> str:
    return f"recs:snap:{sid}"


BUILDING = "recs:rebuild:building"  # the version a rebuild is filling (live writes go there too)
FINISHED = "recs:rebuild:finished"  # versions whose aliases were swapped


# --- the signal history: field "<post id | @topics>|<kind>", value "<event id hex>|<weight>[|<text>]"


@dataclass(frozen=True, slots=True)
class Signal:
    key: str
    kind: str
    event: str  # UUIDv7 hex: newer events sort after older ones
    weight: float
    text: str | None = None

    @property
    def ms(self) -> int:
        return int(self.event[:12], 16)  # a UUIDv7 starts with its Unix milliseconds

    @property
    def field(self) -> str:
        return f"{self.key}|{self.kind}"

    @property
    def value(self) -> str:
        return f"{self.event}|{self.weight:g}" + (f"|{self.text}" if self.text is not None else "")


def parse_signal(field: bytes | str, value: bytes | str) -> Signal:
    field = field.decode() if isinstance(field, bytes) else field
    value = value.decode() if isinstance(value, bytes) else value
    key, _, kind = field.partition("|")
    parts = value.split("|", 2)
    return Signal(key, kind, parts[0], float(parts[1]), parts[2] if len(parts) > 2 else None)


def topics_text(topics: list[str]) -> str:
    """The text the worker embeds as a user's onboarding query."""
    return "interested in: " + ", ".join(topics)


async def store_candidates(redis, user, items: list[tuple[str, float]], at_ms: int) -> None:
    await redis.set(candidates_key(user), orjson.dumps({"at": at_ms, "items": items}))


async def read_candidates(redis, user) -> dict | None:
    raw = await redis.get(candidates_key(user))
    return orjson.loads(raw) if raw else None


# --- onboarding interests (PostgreSQL is their truth; the worker hears of them by event) --------


class Interests(Base):
    __tablename__ = "recommendation_interests"
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    topics: Mapped[list] = mapped_column(JSONB)
    event_id: Mapped[UUID] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def _own(viewer_id: UUID, user_id: UUID) -> None:
    if viewer_id != user_id:
        raise Forbidden("you can only read or set your own recommendations", code="not_owner")


def clean_topics(topics: list[str]) -> list[str]:
    """Trimmed, deduplicated (case-insensitively), in the given order."""
    seen, out = set(), []
    for t in topics:
        t = re.sub(r"\s+", " ", t).strip()
        if t and t.lower() not in seen:
            seen.add(t.lower())
            out.append(t)
    return out


async def set_interests(svc: Services, *, viewer_id: UUID, user_id: UUID, topics: list[str]) -> dict:
    """Replace the user's onboarding interests (an empty list clears them)."""
    _own(viewer_id, user_id)
    topics, eid, now = clean_topics(topics), new_id(), utcnow()
    values = {"topics": topics, "event_id": eid, "updated_at": now}
    async with outbox.transaction(svc) as s:
        await s.execute(
            insert(Interests)
            .values(user_id=user_id, **values)
            .on_conflict_do_update(index_elements=[Interests.user_id], set_=values)
        )
        outbox.stage(s, Event("recs.interests_set", {"user_id": str(user_id), "topics": topics}, actor=user_id, id=eid))
    return {"topics": topics, "updated_at": now.isoformat()}


async def get_interests(svc: Services, *, viewer_id: UUID, user_id: UUID) -> dict:
    _own(viewer_id, user_id)
    async with svc.sessions() as s:
        row = await s.get(Interests, user_id)
    return {"topics": row.topics if row else [], "updated_at": row.updated_at.isoformat() if row else None}


# --- the recommended list --------------------------------------------------------------------


class CursorExpired(DomainError):
    status, code = 410, "cursor_expired"


def _encode_cursor(sid: str, page: int) -> str:
    return cursors.encode(f"{sid}.{page}".encode())


def _decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        sid, _, page = cursors.decode(cursor).decode().partition(".")
        if not re.fullmatch(r"[0-9a-f]{32}", sid) or not page.isdigit():
            raise ValueError(cursor)
        return sid, int(page)
    except ValueError:
        raise DomainError("cursor is not valid", code="invalid_cursor") from None


async def recommended(
    svc: Services,
    *,
    viewer_id: UUID,
    user_id: UUID,
    cursor: str | None = None,
    limit: int | None = None,
    accept_language: str | None = None,
) -> dict:
    """One page: {"items": [post + "reason"], "next_cursor", "cold_start"}. Without a cursor a new
    snapshot is ranked and filtered; a cursor pages through it (RECS_SNAPSHOT_TTL, then 410)."""
    _own(viewer_id, user_id)
    if cursor:
        sid, page = _decode_cursor(cursor)
        raw = await svc.redis.get(_snapshot_key(sid))
        if raw is None:
            raise CursorExpired("this list expired; load it again without a cursor")
        snap = orjson.loads(raw)
        if snap["u"] != str(viewer_id) or page >= max(len(snap["pages"]), 1):
            raise DomainError("cursor is not valid", code="invalid_cursor")
    else:
        sid, page = new_id().hex, 0
        snap = await _snapshot(svc, viewer_id, limit or svc.settings.recs_page_size, accept_language)
        await svc.redis.set(
            _snapshot_key(sid), orjson.dumps(snap), ex=int(svc.settings.recs_snapshot_ttl.total_seconds())
        )
    entries = snap["pages"][page] if snap["pages"] else []
    items = await _serve(svc, viewer_id, entries)
    more = page + 1 < len(snap["pages"])
    return {"items": items, "next_cursor": _encode_cursor(sid, page + 1) if more else None, "cold_start": snap["cold"]}


async def _serve(svc: Services, viewer_id: UUID, entries: list[list[str]]) -> list[dict]:
    """The page's posts that still pass the filters (a block or a hide since the snapshot counts);
    remembers them as served."""
    found, history = await asyncio.gather(_load_posts(svc, [UUID(e[0]) for e in entries]), _history(svc, viewer_id))
    reason = {UUID(e[0]): e[1] for e in entries}
    hidden = disliked(history)
    kept = await filter_posts(svc, viewer_id, [found[i] for i in reason if i in found], hidden=hidden)
    if kept:
        now = time.time()
        key = served_key(viewer_id)
        pipe = svc.redis.pipeline(transaction=False)
        pipe.zadd(key, {str(p.id): now for p in kept})
        pipe.zremrangebyscore(key, "-inf", now - svc.settings.recs_seen_ttl.total_seconds())
        pipe.zremrangebyrank(key, 0, -MAX_SERVED - 1)
        pipe.expire(key, int(svc.settings.recs_seen_ttl.total_seconds()))
        await pipe.execute()
    return [{**posts.public(p), "reason": reason[p.id]} for p in kept]


async def _history(svc: Services, user_id: UUID) -> list[Signal]:
    return [parse_signal(f, v) for f, v in (await svc.redis.hgetall(history_key(user_id))).items()]


def disliked(history: list[Signal]) -> set[UUID]:
    """Posts with a negative signal (not interested, hidden, reported) in the history."""
    return {UUID(h.key) for h in history if h.weight < 0 and h.key != TOPICS}


async def _snapshot(svc: Services, viewer_id: UUID, page_size: int, accept_language: str | None) -> dict:
    cfg, now = svc.settings, time.time()
    cand, history, served, (region, language), following = await asyncio.gather(
        read_candidates(svc.redis, viewer_id),
        _history(svc, viewer_id),
        svc.redis.zrangebyscore(served_key(viewer_id), now - cfg.recs_seen_ttl.total_seconds(), "+inf"),
        viewer_locale(svc, viewer_id, accept_language),
        _following_recent(svc, viewer_id),
    )
    seen = {m.decode() for m in served} | {h.key for h in history if h.key != TOPICS}
    interests = [pid for pid, _ in (cand or {}).get("items", []) if pid not in seen]
    if (
        cand is None
        or now * 1000 - cand["at"] > cfg.recs_refresh_after.total_seconds() * 1000
        or len(interests) < page_size
    ):
        await request_refresh(svc, viewer_id)
    sources = {
        "interests": interests,
        "following": [i for i in following if i not in seen],
        "trending": [i for i in await _trending(svc, viewer_id, region, language) if i not in seen],
    }
    cold = not interests
    ranked = blend(sources, COLD_BLEND if cold else BLEND)[:SNAPSHOT_MAX]
    found = await _load_posts(svc, [UUID(pid) for pid, _ in ranked])
    hidden = disliked(history)
    kept = {
        p.id
        for p in await filter_posts(
            svc, viewer_id, [found[UUID(pid)] for pid, _ in ranked if UUID(pid) in found], hidden=hidden, thorough=False
        )
    }
    entries = [(pid, str(found[UUID(pid)].author_id), why) for pid, why in ranked if UUID(pid) in kept]
    pages = paginate(entries, page_size, cfg.recs_max_per_author)
    return {"u": str(viewer_id), "cold": cold, "pages": [[[pid, why] for pid, _, why in pg] for pg in pages]}


def blend(sources: dict[str, list[str]], weights: dict[str, float]) -> list[tuple[str, str]]:
    """Merge ranked sources into one list of (post id, source), each source getting its weight's
    share of the slots (smooth weighted round robin); a post keeps the first source that offers it."""
    queues = {k: list(reversed(v)) for k, v in sources.items() if k in weights and v}
    credit = {k: 0.0 for k in queues}
    out, taken = [], set()
    while queues:
        for k in credit:
            credit[k] += weights[k]
        k = max(credit, key=credit.__getitem__)
        credit[k] -= sum(weights[q] for q in credit)
        q = queues[k]
        while q and q[-1] in taken:
            q.pop()
        if q:
            pid = q.pop()
            taken.add(pid)
            out.append((pid, k))
        if not q:
            del queues[k], credit[k]
    return out


def paginate(entries: list[tuple[str, str, str]], size: int, per_author: int) -> list[list[tuple[str, str, str]]]:
    """(post, author, reason) in rank order -> pages of `size` with at most `per_author` posts of
    one author each: a post goes to the first page, from the earliest one not yet full, that has
    room for its author, so the ranking holds except where the cap pushes a post later."""
    pages: list[list] = []
    counts: list[Counter] = []
    first_open = 0
    for entry in entries:
        author, p = entry[1], first_open
        while p < len(pages) and (len(pages[p]) >= size or counts[p][author] >= per_author):
            p += 1
        if p == len(pages):
            pages.append([])
            counts.append(Counter())
        pages[p].append(entry)
        counts[p][author] += 1
        while first_open < len(pages) and len(pages[first_open]) >= size:
            first_open += 1
    return pages


async def filter_posts(
    svc: Services, viewer_id: UUID, candidates: list[Post], *, hidden: set[UUID], thorough: bool = True
) -> list[Post]:
    """What may be recommended to the viewer, in the given order: not their own, not hidden or
    marked not interesting (PostgreSQL feedback, and `hidden`: negative signals such as reports),
    not from an author blocked either way or muted, a video post only once its video is ready
    (a rejected or in-review video, NSFW included, never is), and nothing `can_see` refuses.
    `thorough=False` (a snapshot: up to 300 posts) asks `can_see` about restricted posts only:
    for a public one its conditions are the batch checks here, and every page served is
    checked in full (one Redis read per post otherwise: 300 per snapshot)."""
    cands = [p for p in candidates if p.author_id != viewer_id and p.id not in hidden]
    if not cands:
        return []
    marked, blocked, muted, published = await asyncio.gather(
        feedback.feedback_for(svc, viewer_id),
        blocks.blocked_among(svc, [(viewer_id, a) for a in {p.author_id for p in cands}]),
        mutes.muted_by(svc, viewer_id),
        _ready_videos(svc, [p.video_id for p in cands if p.video_id]),
    )
    cands = [
        p
        for p in cands
        if p.id not in marked
        and frozenset((viewer_id, p.author_id)) not in blocked
        and p.author_id not in muted
        and (p.video_id is None or p.video_id in published)
    ]
    ask = cands if thorough else [p for p in cands if p.visibility != "public"]
    verdicts = await asyncio.gather(*(visibility.can_see(svc, viewer_id, p) for p in ask))
    refused = {p.id for p, ok in zip(ask, verdicts) if not ok}
    return [p for p in cands if p.id not in refused]


async def _ready_videos(svc: Services, video_ids: list[UUID]) -> set[UUID]:
    if not video_ids:
        return set()
    async with svc.sessions() as s:
        return set(
            (await s.execute(select(Video.id).where(Video.id.in_(video_ids), Video.status == "ready"))).scalars()
        )


async def _load_posts(svc: Services, ids: list[UUID]) -> dict[UUID, Post]:
    if not ids:
        return {}
    async with svc.sessions() as s:
        return {p.id: p for p in (await s.execute(select(Post).where(Post.id.in_(ids)))).scalars()}


async def _following_recent(svc: Services, viewer_id: UUID) -> list[str]:
    """Posts of the last FOLLOWING_WINDOW by the creators the viewer follows, newest first."""
    links = await svc.store.list_following(viewer_id, after=None, limit=FOLLOWEES_MAX)
    if not links:
        return []
    since = datetime.now(UTC) - FOLLOWING_WINDOW
    q = (
        select(Post.id)
        .where(Post.author_id.in_([link.user_id for link in links]), Post.created_at >= since)
        .order_by(Post.created_at.desc())
        .limit(SOURCE_LIMIT)
    )
    async with svc.sessions() as s:
        return [str(i) for i in (await s.execute(q)).scalars()]


async def _trending(svc: Services, viewer_id: UUID, region: str | None, language: str | None) -> list[str]:
    """The current trending ranking (models/discovery/trending.py, which already leaves out what the viewer
    may not see, hid, marked not interested or wrote), with the posts of the viewer's region and
    language first: both match, then the language, then the region (an author's profile region),
    then the rest, each group in trending order."""
    items = (await trending.page(svc, viewer_id, limit=SOURCE_LIMIT, recommend=True))["items"]
    if not items or not (region or language):
        return [i["post"]["id"] for i in items]
    authors = {UUID(i["post"]["author_id"]) for i in items}
    async with svc.sessions() as s:
        regions = dict(
            (
                await s.execute(
                    select(profiles.Profile.user_id, profiles.Profile.region).where(
                        profiles.Profile.user_id.in_(authors)
                    )
                )
            ).all()
        )

    def group(item: dict) -> int:
        post = item["post"]
        lang_ok = language is not None and guess_language(post["caption"]) == language
        region_ok = region is not None and regions.get(UUID(post["author_id"])) == region
        return 0 if lang_ok and region_ok else 1 if lang_ok else 2 if region_ok else 3

    return [i["post"]["id"] for i in sorted(items, key=group)]


_LETTER = re.compile(r"[^\W\d_]")
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
_LATIN = re.compile(r"[A-Za-z]")


def guess_language(text: str) -> str:
    """ "ar" or "en" by the script most letters are in, else "und" (a heuristic, not a detector)."""
    letters = len(_LETTER.findall(text))
    if not letters:
        return "und"
    if len(_ARABIC.findall(text)) * 2 > letters:
        return "ar"
    return "en" if len(_LATIN.findall(text)) * 2 > letters else "und"


def parse_accept_language(header: str | None) -> tuple[str | None, str | None]:
    """'ar-SA,ar;q=0.9,en;q=0.8' -> ('SA', 'ar'): the region and language of the preferred tag."""
    best, best_q = None, -1.0
    for part in (header or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and q > best_q:
            best, best_q = tag, q
    if not best:
        return None, None
    return _split_tag(best)


def _split_tag(tag: str) -> tuple[str | None, str | None]:
    parts = tag.replace("_", "-").split("-")
    language = parts[0].lower() if re.fullmatch(r"[A-Za-z]{2,3}", parts[0]) else None
    region = next((p.upper() for p in parts[1:] if re.fullmatch(r"[A-Za-z]{2}", p)), None)
    return region, language


async def viewer_locale(svc: Services, viewer_id: UUID, accept_language: str | None) -> tuple[str | None, str | None]:
    """(region, language) from the profile; what it leaves unset from Accept-Language."""
    async with svc.sessions() as s:
        prof = await s.get(profiles.Profile, viewer_id)
    h_region, h_language = parse_accept_language(accept_language)
    p_region, p_language = _split_tag(prof.language) if prof and prof.language else (None, None)
    region = (prof.region if prof and prof.region else None) or p_region or h_region
    return region, p_language or h_language


async def request_refresh(svc: Services, user_id: UUID) -> None:
    """Ask the worker to recompute the user's candidate list (at most once per REFRESH_LOCK_S).
    Best effort: the page is served from what exists either way."""
    if not await svc.redis.set(f"recs:refresh:{user_id}", b"1", nx=True, ex=REFRESH_LOCK_S):
        return
    try:
        await svc.producer.send(
            RECS_USERS.name, str(user_id), Event("recs.refresh_requested", {"user_id": str(user_id)}, actor=user_id)
        )
    except DomainError as exc:
        log.warning("candidate refresh request not sent", extra={"error": exc.message})
