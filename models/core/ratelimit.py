"""Fixed-window rate limits in Redis.

A limit `N/window` counts requests per key in windows aligned on multiples of the window (the
key `rl:<rule>:<subject>:<window s>:<window index>` expires with its window): one round trip
(SET NX EX + INCR in a MULTI; Redis 6.2 has no EXPIRE NX). A burst straddling two windows can
reach 2N — the usual fixed-window trade for O(1) state and one round trip. Every request is
counted, refused ones included, so hammering does not reopen the window early.

The first refusal of a window per key writes one `auth.rate_limited` audit row (not one per
refused request: a flood must not become a flood of PostgreSQL inserts).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple
from uuid import UUID

import redis.asyncio as aioredis

from models.core import audit
from models.core.errors import DomainError
from models.core.protocols import CoreServices


class Rate(NamedTuple):
    """A rate limit: at most `limit` requests per fixed `window` (settings parse "15/5m")."""

    limit: int
    window: timedelta


@dataclass(frozen=True)
class Verdict:
    limit: int
    count: int
    reset: int  # Unix time (s) at which the window ends

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset - time.time()))

    def headers(self) -> dict[str, str]:
        h = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            h["Retry-After"] = str(self.retry_after())
        return h


class RateLimited(DomainError):
    status, code = 429, "rate_limited"

    def __init__(self, verdict: Verdict):
        super().__init__(
            f"too many requests; retry in {verdict.retry_after()} s",
            details={"retry_after": verdict.retry_after(), "limit": verdict.limit},
        )
        self.verdict = verdict
        self.headers = verdict.headers()


async def hit(redis: aioredis.Redis, rule: str, rate: Rate, subjects: list[str], cost: int = 1) -> list[Verdict]:
    """Count `cost` requests (e.g. the writes of one GraphQL mutation) against `rate` for each
    subject; one round trip."""
    window = max(1, int(rate.window.total_seconds()))
    index = int(time.time() // window)
    async with redis.pipeline(transaction=True) as pipe:
        for subject in subjects:
            key = f"rl:{rule}:{subject}:{window}:{index}"
            pipe.set(key, 0, ex=window + 1, nx=True)
            pipe.incrby(key, cost)
        counts = (await pipe.execute())[1::2]
    return [Verdict(rate.limit, int(n), (index + 1) * window) for n in counts]


async def enforce(
    svc: CoreServices,
    rule: str,
    rate: Rate,
    subjects: list[str],
    client: audit.Client | None,
    actor: UUID | None = None,
    cost: int = 1,
) -> Verdict:
    """Count the request for every subject (e.g. `ip:…` and `email:<hmac>`); raise RateLimited
    if any is over its limit, else return the tightest verdict (for the X-RateLimit headers)."""
    verdicts = await hit(svc.redis, rule, rate, subjects, cost)
    refused = [(s, v) for s, v in zip(subjects, verdicts) if not v.allowed]
    for subject, v in refused:
        if v.count - cost <= v.limit:  # this request crossed the limit: the window's first refusal
            await audit.record(
                svc,
                "auth.rate_limited",
                client,
                actor=actor,
                subject=subject,
                details={"rule": rule, "limit": rate.limit, "window_s": int(rate.window.total_seconds())},
            )
    if refused:
        raise RateLimited(max((v for _, v in refused), key=lambda v: v.reset))
    return min(verdicts, key=lambda v: v.remaining)


async def peek(redis: aioredis.Redis, rule: str, rate: Rate, subjects: list[str]) -> list[Verdict]:
    """The current window's counts of `subjects`, without counting anything (limits on failures:
    checked before an attempt, counted only when it fails)."""
    window = max(1, int(rate.window.total_seconds()))
    index = int(time.time() // window)
    counts = await redis.mget([f"rl:{rule}:{s}:{window}:{index}" for s in subjects]) if subjects else []
    return [Verdict(rate.limit, int(n or 0), (index + 1) * window) for n in counts]
