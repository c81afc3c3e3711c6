"""Interests: engagement signals -> each user's signal history (Redis) -> the user's interest
vector (Qdrant `users`) -> the user's candidate list (Redis `recs:cand:<user>`), which the API
serves (models/discovery/recommendations.py).

Update rule. A user's interest vector is

    u = normalize( sum_i  w_i * 2^(-(now - t_i) / H) * x_i )

over the user's last RECS_HISTORY signals i: x_i the embedding of the post (or of the onboarding
topics), t_i the time of the event that set the signal (its UUIDv7 id), w_i the weight of its kind
(WEIGHTS: reactions, counted views and shares pull towards the post; "not interested", hides and
reports push away from it), H = RECS_HALF_LIFE. A user without positive signals has no vector
(cold start). The vector is recomputed from the history after every change instead of being moved
step by step, which makes it idempotent: a signal is one hash field per (post, kind) that only a
newer event id replaces, so redelivered, repeated or stale events change nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, cast
from uuid import UUID

import numpy as np

from infra import vectors
from infra.vectors import USERS, VIDEOS
from ml import embeddings
from models.core.events import Received
from models.core.topics import (
    FeedbackPayload,
    InterestsSetPayload,
    ReactionPayload,
    ReportPayload,
    SharePayload,
    ViewPayload,
)
from models.discovery.recommendations import (
    AWAITING,
    BUILDING,
    TOPICS,
    WEIGHTS,
    Signal,
    awaiting_key,
    candidates_key,
    history_key,
    parse_signal,
    served_key,
    store_candidates,
    topics_text,
)

if TYPE_CHECKING:
    from infra.services import Services

RECOMMENDABLE = ("public",)  # restricted posts reach their audience through the following source


CANDIDATE_FIELDS = ("author", "nsfw", "ready", "visibility")


POOL = 3  # the search returns POOL x RECS_CANDIDATES posts, re-ranked with the popularity prior


AWAIT_TTL = 3600  # a post not indexed within this (no text, or never created) is forgotten


# Keep the newest signal per field, then trim the oldest beyond the cap (with some slack, so a
# trim is not paid on every write). Atomic per user: two workers may touch one user at once.
_RECORD = """
local cap = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if (not cur) or string.sub(cur, 1, 32) < string.sub(ARGV[i + 1], 1, 32) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
local n = redis.call('HLEN', KEYS[1])
if n > cap + math.floor(cap / 4) then
  local all = redis.call('HGETALL', KEYS[1])
  local items = {}
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 7) ~= '@topics' then
      items[#items + 1] = {all[i], string.sub(all[i + 1], 1, 32)}
    end
  end
  table.sort(items, function(a, b) return a[2] < b[2] end)
  for i = 1, math.min(n - cap, #items) do redis.call('HDEL', KEYS[1], items[i][1]) end
end
return n
"""


def signal_of(event: Received) -> tuple[str, Signal] | None:
    """(user id, signal) of an engagement event; None for events that carry none."""
    etype, p, eid = event.type, event.payload, event.id.hex
    if isinstance(p, ReactionPayload) and p.type in WEIGHTS:
        return str(p.user_id), Signal(
            str(p.post_id), p.type, eid, WEIGHTS[p.type] if etype == "reaction.added" else 0.0
        )
    if isinstance(p, ViewPayload | SharePayload):
        kind = "view" if etype == "view.counted" else "share"
        return str(p.user_id), Signal(str(p.post_id), kind, eid, WEIGHTS[kind])
    if isinstance(p, FeedbackPayload) and p.kind in WEIGHTS:
        return str(p.user_id), Signal(
            str(p.post_id), p.kind, eid, WEIGHTS[p.kind] if etype == "feedback.added" else 0.0
        )
    if isinstance(p, ReportPayload) and etype == "report.created" and p.target_type == "post":
        return str(p.reporter_id), Signal(str(p.target_id), "report", eid, WEIGHTS["report"])
    if isinstance(p, InterestsSetPayload):
        topics = p.topics
        return str(p.user_id), Signal(
            TOPICS, "topics", eid, WEIGHTS["topics"] if topics else 0.0, topics_text(topics) if topics else ""
        )
    return None


async def record_signals(redis, by_user: dict[str, list[Signal]], cap: int) -> None:
    script = redis.register_script(_RECORD)
    pipe = redis.pipeline(transaction=False)
    for user, signals in by_user.items():
        newest: dict[str, Signal] = {}
        for s in signals:
            if s.field not in newest or s.event > newest[s.field].event:
                newest[s.field] = s
        args = [cap] + [x for s in newest.values() for x in (s.field, s.value)]
        await script(keys=[history_key(user)], args=args, client=pipe)
    await pipe.execute()


async def load_histories(redis, users: Iterable[str]) -> dict[str, list[Signal]]:
    users = list(users)
    pipe = redis.pipeline(transaction=False)
    for u in users:
        pipe.hgetall(history_key(u))
    return {u: [parse_signal(f, v) for f, v in h.items()] for u, h in zip(users, await pipe.execute())}


def interest_vector(
    signals: Iterable[Signal], lookup: Callable[[Signal], np.ndarray | None], now_ms: int, half_life_ms: float
) -> np.ndarray | None:
    """The update rule (module docstring); None without positive evidence."""
    acc, positive = np.zeros(embeddings.DIM, dtype=np.float64), 0.0
    for s in signals:
        if not s.weight:
            continue
        x = lookup(s)
        if x is None:  # a post not indexed (yet, or without text)
            continue
        decay = 2.0 ** (-max(0, now_ms - s.ms) / half_life_ms)
        acc += s.weight * decay * x
        if s.weight > 0:
            positive += s.weight * decay
    norm = float(np.linalg.norm(acc))
    if positive <= 0 or norm < 1e-9:
        return None
    return (acc / norm).astype(np.float32)


def pick_candidates(
    points, user: str, exclude: set[str], n: int, engagement: dict[str, float] | None = None, popularity: float = 0.0
) -> list[tuple[str, float]]:
    """Search hits -> the user's top `n` (post id, score): not their own, not already engaged with
    or served, public, ready (a video post once its video is), never NSFW. Score: cosine similarity
    + popularity * ln(1 + engagement), so among the posts close to the user's interests those that
    others engage with come first (jobs/eval_recommender.py measures the gain)."""
    engagement = engagement or {}
    scored = []
    for p in points:
        pid, pl = str(p.id), p.payload or {}
        if (
            pid in exclude
            or pl.get("author") == user
            or pl.get("nsfw")
            or not pl.get("ready")
            or pl.get("visibility") not in RECOMMENDABLE
        ):
            continue
        scored.append((pid, float(p.score) + popularity * math.log1p(engagement.get(pid, 0.0))))
    scored.sort(key=lambda x: -x[1])
    return [(pid, round(score, 5)) for pid, score in scored[:n]]


async def engagement_of(svc: Services, post_ids: Iterable[str]) -> dict[str, float]:
    """Every counter of each post (reactions, views, shares, comments) summed: how much others engage."""
    counters = await svc.store.get_counters([UUID(p) for p in post_ids])
    return {str(p): float(sum(c.values())) for p, c in counters.items()}


async def refresh_users(
    svc: Services, users: Iterable[str], *, videos: str = VIDEOS, targets: list[str] | None = None
) -> int:
    """Recompute the users' vectors from their histories, store them in `targets` (the `users`
    alias, and the collection a rebuild is filling), and write their candidate lists from a
    search of `videos`. Returns how many users have a vector."""
    cfg, redis = svc.settings, svc.redis
    vecs = vectors.shared(cfg)
    await vecs.ensure(VIDEOS, USERS)
    if targets is None:
        targets = [USERS]
        building = cast(bytes | None, await redis.get(BUILDING))
        if building:
            targets.append(f"{USERS}_{building.decode()}")
            await vecs.create(targets[-1])
    histories = await load_histories(redis, users)
    post_vecs = await vecs.retrieve(
        videos, {h.key for hs in histories.values() for h in hs if h.weight and h.key != TOPICS}
    )
    texts = sorted({h.text for hs in histories.values() for h in hs if h.key == TOPICS and h.weight and h.text})
    text_vecs: dict[str | None, np.ndarray] = dict(zip(texts, await embeddings.aencode(texts))) if texts else {}
    now_ms = int(time.time() * 1000)
    half_life_ms = cfg.recs_half_life.total_seconds() * 1000

    def lookup(sig: Signal) -> np.ndarray | None:
        return text_vecs.get(sig.text) if sig.key == TOPICS else post_vecs.get(sig.key)

    found = {u: interest_vector(h, lookup, now_ms, half_life_ms) for u, h in histories.items()}
    if videos == VIDEOS:
        await _await_missing(redis, histories, post_vecs)
    have = {u: v for u, v in found.items() if v is not None}
    gone = [u for u, v in found.items() if v is None]
    for t in targets:
        if have:
            await vecs.upsert(
                t,
                list(have),
                np.stack(list(have.values())),
                [{"updated_at": now_ms, "signals": len(histories[u])} for u in have],
            )
        await vecs.delete(t, gone)
    if gone:
        await redis.delete(*(candidates_key(u) for u in gone))
    if not have:
        return 0
    pipe = redis.pipeline(transaction=False)
    for u in have:
        pipe.zrangebyscore(served_key(u), time.time() - cfg.recs_seen_ttl.total_seconds(), "+inf")
    served = dict(zip(have, await pipe.execute()))
    exclude = {u: {m.decode() for m in served[u]} | {h.key for h in histories[u]} for u in have}
    limit = POOL * cfg.recs_candidates + max(len(e) for e in exclude.values())
    hits = await vecs.search_many(videos, list(have.values()), limit, CANDIDATE_FIELDS)
    engagement = await engagement_of(svc, {str(p.id) for points in hits for p in points})
    for u, points in zip(have, hits):
        await store_candidates(
            redis,
            u,
            pick_candidates(points, u, exclude[u], cfg.recs_candidates, engagement, cfg.recs_popularity),
            now_ms,
        )
    return len(have)


async def _await_missing(redis, histories: dict[str, list[Signal]], indexed: dict) -> None:
    """Remember who engaged with posts not indexed yet: the embeddings agent refreshes them."""
    pipe, now = redis.pipeline(transaction=False), time.time()
    for u, hs in histories.items():
        for h in hs:
            if h.weight and h.key != TOPICS and h.key not in indexed:
                pipe.sadd(awaiting_key(h.key), u)
                pipe.expire(awaiting_key(h.key), AWAIT_TTL)
                pipe.zadd(AWAITING, {h.key: now}, nx=True)
    if len(pipe):
        pipe.zremrangebyscore(AWAITING, "-inf", now - AWAIT_TTL)
        await pipe.execute()
