"""Idempotency keys for writes that become events.

The first request with (user, scope, key) records its event id in Redis (SET NX, 24 h); a retry
reads the same id back, so a retry after a timeout or a 503 produces the same event, which the
agents then ignore as already applied. The id stays time-ordered (UUIDv7), which the agents rely
on. The same key with a different body is a client bug: 422.
"""

from __future__ import annotations

import hashlib
from typing import cast
from uuid import UUID

import orjson

from models.core.errors import DomainError
from models.core.events import new_id
from models.core.protocols import CoreServices


class IdempotencyKeyReused(DomainError):
    status, code = 422, "idempotency_key_reused"


def body_hash(body: dict) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


async def event_id(svc: CoreServices, *, actor: UUID, key: str | None, scope: str, body: dict) -> UUID:
    if not key:
        return new_id()
    if len(key) > 255:
        raise DomainError("Idempotency-Key is longer than 255 characters", code="bad_idempotency_key")
    rkey = f"idem:{actor}:{scope}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"
    fresh, digest = new_id(), body_hash(body)
    ttl = int(svc.settings.idempotency_ttl.total_seconds())
    # SET NX + GET in one command needs Redis 7; the embedded server is 6.2.
    if await svc.redis.set(rkey, f"{fresh}:{digest}", nx=True, ex=ttl):
        return fresh
    stored = cast(bytes | None, await svc.redis.get(rkey))
    if stored is None:  # expired in between: this request is the first again
        return await event_id(svc, actor=actor, key=key, scope=scope, body=body)
    prior_id, prior_digest = stored.decode().split(":")
    if prior_digest != digest:
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different request body")
    return UUID(prior_id)
