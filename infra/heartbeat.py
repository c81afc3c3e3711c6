"""Worker liveness through Redis: each stream worker writes its status every second; the API's
readiness check and /metrics read it. Works the same with one worker or fifty."""

from __future__ import annotations

import time

import orjson

KEY = "workers:status"


async def publish(redis, worker_id: str, status: dict) -> None:
    await redis.hset(KEY, worker_id, orjson.dumps({"ts": time.time(), **status}))


async def remove(redis, worker_id: str) -> None:
    await redis.hdel(KEY, worker_id)


async def live_workers(redis, ttl: float) -> dict[str, dict]:
    now, out, stale = time.time(), {}, []
    for wid, raw in (await redis.hgetall(KEY)).items():
        status = orjson.loads(raw)
        if now - status["ts"] <= ttl:
            out[wid.decode()] = status
        elif now - status["ts"] > 10 * ttl:
            stale.append(wid)
    if stale:
        await redis.hdel(KEY, *stale)
    return out
