"""The one event envelope, shared by producers (API, outbox relay, jobs) and consumers (agents).

JSON on the wire so any consumer can read it. Ids are UUIDv7 (time-ordered): agents use the
id order to ignore stale or repeated events per entity, never the Kafka offset (offsets restart
at 0 with a new embedded broker).

Producers build an `Event` (payload: a dict, validated against the catalog on the way out).
Agents get a `Received[P]`: the envelope with its payload an instance of the catalog's model P
(models/core/topics.py), decoded from the message bytes in one pass by `decoder(topic)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from random import Random
from typing import Annotated, Any, Generic, Literal, TypeVar, Union
from uuid import UUID

import orjson
import uuid_utils
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from models.core.topics import TOPIC_OF_EVENT, Payload, Topic


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


P = TypeVar("P", bound=Payload)


class Received(BaseModel, Generic[P]):
    """An event as an agent receives it: the envelope, and its payload validated as the catalog's
    model for its type (`event.payload.post_id` is a UUID). Only types the topic lists get here."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # envelope fields added later: ignored

    id: UUID
    type: str
    version: int = 1
    actor: UUID | None = None
    ts: datetime
    payload: P


@cache
def _received_model(etype: str, model: type[Payload]) -> type[Received]:
    """Received[model] with `type` fixed to `etype`: the variant the decoder picks by tag."""
    name = f"Received[{model.__name__}:{etype}]"
    return create_model(name, __base__=Received[model], type=(Literal[etype], ...))  # type: ignore[valid-type,arg-type]


@cache
def _adapter(events: tuple[tuple[str, type[Payload]], ...]) -> TypeAdapter:
    variants = tuple(_received_model(etype, model) for etype, model in events)
    if len(variants) == 1:
        return TypeAdapter(variants[0])
    # Tagged by `type`: pydantic reads the tag and validates only that variant (no trial and error).
    return TypeAdapter(Annotated[Union[variants], Field(discriminator="type")])  # type: ignore[arg-type]  # noqa: UP007


def decoder(*topics: Topic) -> Callable[[bytes], Received]:
    """Message value -> Received, for the event types of `topics`: one JSON parse and validation
    in pydantic-core. Raises pydantic.ValidationError for anything else (not JSON, not an
    envelope, a type these topics do not list, a payload its model refuses): a poison event."""
    events = tuple(sorted({(etype, model) for t in topics for etype, model in t.events.items()}, key=str))
    return _adapter(events).validate_json


def received(event: Event) -> Received:
    """`event` as an agent would receive it (tests, and in-process callers of a handler)."""
    return decoder(TOPIC_OF_EVENT[event.type])(event.to_bytes())
