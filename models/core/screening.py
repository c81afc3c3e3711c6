"""Content checks on write paths, by registration: accounts (profile text) and content (captions,
comments) sit below moderation, so moderation registers its checks here at start-up
(`models/moderation/checks.register`, called by infra/services.wire_domains). Unregistered, a
write that needs a check fails closed (RuntimeError: the process was not wired).

A write calls `screen` before its transaction (a reject raises ContentRejected: 422
`content_rejected` with the labels), and, when the verdict was review, `flag` inside its
transaction once the row has its id (the flag commits or rolls back with the write).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

from models.core.errors import DomainError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from infra.services import Services

Labels = list[dict[str, Any]]
Screen = Callable[..., Awaitable[Labels | None]]
Flag = Callable[..., Awaitable[None]]


class ContentRejected(DomainError):
    """The checks reject the text: 422 `content_rejected`, details {"labels": [{label, score}]}."""

    status, code = 422, "content_rejected"


_hooks: dict[str, Any] = {}


def register(*, screen: Screen, flag: Flag) -> None:
    _hooks["screen"], _hooks["flag"] = screen, flag


def _hook(name: str):
    if name not in _hooks:
        raise RuntimeError("content checks are not wired (infra/services.wire_domains)")
    return _hooks[name]


async def screen(svc: Services, text: str | None, *, source: str) -> Labels | None:
    """None: allowed (or no text). Labels: accepted, to be flagged for review. Raises
    ContentRejected. `source` names the write path (caption, comment, message, profile)."""
    if not text or not text.strip():
        return None
    return await _hook("screen")(svc, text, source=source)


async def flag(
    s: AsyncSession, svc: Services, *, target_type: str, target_id: UUID, author_id: UUID, source: str, labels: Labels
) -> None:
    await _hook("flag")(
        s, svc, target_type=target_type, target_id=target_id, author_id=author_id, source=source, labels=labels
    )
