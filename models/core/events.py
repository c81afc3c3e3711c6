"""The one event envelope, shared by producers (API, outbox relay, jobs) and consumers (agents).

JSON on the wire so any consumer can read it. Ids are UUIDv7 (time-ordered): agents use the
id order to ignore stale or repeated events per entity, never the Kafka offset (offsets restart
at 0 with a new embedded broker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from random import Random
from typing import Any
from uuid import UUID

import orjson
import uuid_utils


def new_id() -> UUID:
    return UUID(bytes=uuid_utils.uuid7().bytes)


def uuid7_at(ts: float, rnd: Random | None = None) -> UUID:
    """A UUIDv7 carrying Unix time `ts` (s), for rows dated in the past so they keep the id/time
    order of real ones. Its other bits come from `rnd`; without it they are zero, so a stored time
    always gives the same id (e.g. for rows that have no event id)."""
    ms = int(ts * 1000)
    if rnd is None:
        return UUID(int=(ms << 80) | (0x7 << 76) | (0b10 << 62))
    return UUID(int=(ms << 80) | (7 << 76) | (rnd.getrandbits(12) << 64) | (2 << 62) | rnd.getrandbits(62))


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    payload: dict[str, Any]
    actor: UUID | None = None
    version: int = 1
    id: UUID = field(default_factory=new_id)
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "version": self.version,
            "actor": str(self.actor) if self.actor else None,
            "ts": self.ts.isoformat(),
            "payload": self.payload,
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(
            id=UUID(d["id"]),
            type=d["type"],
            version=int(d.get("version", 1)),
            actor=UUID(d["actor"]) if d.get("actor") else None,
            ts=datetime.fromisoformat(d["ts"]),
            payload=d.get("payload") or {},
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Event:
        return cls.from_dict(orjson.loads(raw))
