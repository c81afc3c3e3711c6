"""The semantic half of posts search: caption-embedding neighbours of a query, over Redis.

The stream worker owns the embedding model and Qdrant (infra/vectors.py), the API has neither,
so the API asks and the worker answers (docs/search.md#semantic-matches):

- API (`neighbours`): one pipeline: EXISTS `search:sem:alive` (the worker's presence, refreshed
  every second with a 3 s TTL), LPUSH `{id, text, k, deadline}` on `search:sem:req`; then BLPOP
  `search:sem:reply:<id>` for SEARCH_SEMANTIC_TIMEOUT. No worker, or no answer in time: None, and
  the caller serves text only and says so.
- Worker (`serve`, run by streams/agents/semantic_search.py): BRPOP the requests, take any
  others queued with them, drop those whose deadline passed (nobody waits for them any more),
  embed the texts in one call (ml/embeddings: the model the embeddings agent already loaded, on a
  thread of its own so a query never queues behind an indexing batch),
  search Qdrant `videos` (point id = post id) and RPUSH `[[post_id, cosine], ...]` (cosine >=
  SEARCH_SEMANTIC_MIN_SCORE, best first) on each reply key, which expires after 10 s.

What comes back is only a list of candidate ids: visibility, blocks, mutes, expiry and
moderation are applied by the caller with the same rules as text hits (models/discovery/search.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, cast
from uuid import UUID

import orjson
from redis.exceptions import RedisError

from models.core.events import new_id

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from infra.services import Services
    from infra.settings import Settings

log = logging.getLogger(__name__)

REQUESTS = "search:sem:req"
ALIVE = "search:sem:alive"
ALIVE_TTL_S = 3
REPLY_TTL_S = 10
QUEUE_MAX = 1000  # requests kept while no worker reads them (each is dropped by its deadline anyway)
BATCH_MAX = 32


def reply_key(request_id: str) -> str:
    return f"search:sem:reply:{request_id}"


def query_text(q: str) -> str:
    """What is embedded for a query: as a caption is (models/discovery/indexing.post_text)."""
    return " ".join(q.replace("#", " ").split())


async def neighbours(svc: Services, q: str, k: int | None = None) -> list[tuple[UUID, float]] | None:
    """Post ids whose caption embedding is near `q`, best first; None when the worker did not
    answer (absent, or slower than SEARCH_SEMANTIC_TIMEOUT)."""
    cfg, redis = svc.settings, svc.redis
    timeout = cfg.search_semantic_timeout_ms / 1000
    rid = new_id().hex
    request = {"id": rid, "text": query_text(q), "k": k or cfg.search_semantic_k, "deadline": time.time() + timeout}
    pipe = redis.pipeline(transaction=False)
    pipe.exists(ALIVE)
    pipe.lpush(REQUESTS, orjson.dumps(request))
    pipe.ltrim(REQUESTS, 0, QUEUE_MAX - 1)
    alive, *_ = await pipe.execute()
    if not alive:
        return None
    try:
        answer = await redis.blpop([reply_key(rid)], timeout=timeout)
    except RedisError as exc:  # e.g. the client's socket timeout: text only, as for no answer
        log.warning("semantic search: no answer", extra={"error": repr(exc)})
        return None
    if answer is None:
        return None
    return [(UUID(pid), float(score)) for pid, score in orjson.loads(answer[1])]


# --- the worker's side ---


async def answer(redis: aioredis.Redis, settings: Settings, requests: list[dict]) -> int:
    """Embed and search for the requests still awaited; reply to each. Returns how many."""
    from infra import vectors
    from infra.vectors import USERS, VIDEOS
    from ml import embeddings

    now = time.time()
    live = [r for r in requests if r.get("deadline", 0) > now and r.get("text")]
    if not live:
        return 0
    vecs = vectors.shared(settings)
    await vecs.ensure(VIDEOS, USERS)
    emb = await embeddings.aencode_queries([r["text"] for r in live])
    k = max(int(r.get("k") or settings.search_semantic_k) for r in live)
    found = await vecs.search_many(VIDEOS, list(emb), k, [])
    floor = settings.search_semantic_min_score
    pipe = redis.pipeline(transaction=False)
    for r, points in zip(live, found):
        hits = [[str(p.id), round(float(p.score), 5)] for p in points[: int(r.get("k") or k)] if p.score >= floor]
        pipe.rpush(reply_key(r["id"]), orjson.dumps(hits))
        pipe.expire(reply_key(r["id"]), REPLY_TTL_S)
    await pipe.execute()
    return len(live)


async def serve(redis: aioredis.Redis, settings: Settings, should_stop) -> None:
    """The worker's loop: answer requests until `should_stop()`; an error is logged and the loop
    goes on (the waiting API times out and serves text only)."""
    next_beat = 0.0
    while not should_stop():
        try:
            if time.monotonic() >= next_beat:
                await redis.set(ALIVE, "1", ex=ALIVE_TTL_S)
                next_beat = time.monotonic() + 1
            first = await redis.brpop([REQUESTS], timeout=1)
            if first is None:
                continue
            rest = cast(list[bytes] | None, await redis.rpop(REQUESTS, BATCH_MAX - 1)) or []
            requests = []
            for raw in [first[1], *rest]:
                try:
                    requests.append(orjson.loads(raw))
                except orjson.JSONDecodeError:
                    log.warning("semantic search: bad request dropped")
            await answer(redis, settings, requests)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("semantic search failed", extra={"error": repr(exc)})
            await asyncio.sleep(0.5)


async def leave(redis: aioredis.Redis) -> None:
    """On the worker's stop: the API stops waiting for answers at once."""
    await redis.delete(ALIVE)
