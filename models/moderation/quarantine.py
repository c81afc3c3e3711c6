"""Quarantined media: the video and images of content a moderator removed.

Removal stops serving them at once (the video becomes `rejected`/`removed`, which the media routes
refuse even with a signed link; a removed post's images are no longer public, and signed links to
them are only handed to viewers who may see the post) and asks the CDN to purge them (`CdnPurger`,
after commit). Their files stay in object storage until the appeal window (APPEAL_WINDOW_DAYS)
closes or the appeal fails: then `purge_due` (the `jobs.purge_quarantine` job) deletes them; an
overturned appeal releases them instead, and the restored content is served again.

The CDN purge is an interface: the default `LoggingPurger` only logs what a CDN would be asked to
drop; a deployment with a CDN installs its own with `set_purger` at start-up.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, String, Uuid, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from infra.storage import storage_for
from models.core.base import Base, utcnow
from models.media import images, videos

if TYPE_CHECKING:
    from infra.services import Services

log = logging.getLogger(__name__)

STATES = ("held", "released", "purged")


class QuarantinedMedia(Base):
    __tablename__ = "moderation_quarantine"
    decision_id: Mapped[UUID] = mapped_column(
        ForeignKey("moderation_decisions.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # video | image
    media_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    state: Mapped[str] = mapped_column(String(10), default="held")
    purge_after: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CdnPurger(Protocol):
    async def purge(self, paths: list[str]) -> None: ...


class LoggingPurger:
    """The default: logs the paths a CDN would be asked to drop (no CDN is configured)."""

    async def purge(self, paths: list[str]) -> None:
        log.info("cdn purge", extra={"paths": paths})


_purger: CdnPurger = LoggingPurger()


def set_purger(purger: CdnPurger) -> None:
    global _purger
    _purger = purger


def paths(kind: str, media_id: UUID) -> list[str]:
    """The public paths under which the media is served (what a CDN caches)."""
    if kind == "video":
        return [f"/media/{media_id}/"]
    return [f"/media/images/{media_id}/"]


def hold(s: AsyncSession, svc: Services, decision_id: UUID, media: list[tuple[str, UUID]]) -> None:
    until = utcnow() + timedelta(days=svc.settings.appeal_window_days)
    for kind, media_id in media:
        s.add(QuarantinedMedia(decision_id=decision_id, kind=kind, media_id=media_id, state="held", purge_after=until))


async def release(s: AsyncSession, decision_id: UUID) -> None:
    """An overturned decision: its media are served again and never purged."""
    await s.execute(
        update(QuarantinedMedia)
        .where(QuarantinedMedia.decision_id == decision_id, QuarantinedMedia.state == "held")
        .values(state="released")
    )


async def purge_now(s: AsyncSession, decision_id: UUID) -> None:
    """A failed appeal: the decision's media are due at once."""
    await s.execute(
        update(QuarantinedMedia)
        .where(QuarantinedMedia.decision_id == decision_id, QuarantinedMedia.state == "held")
        .values(purge_after=utcnow())
    )


async def purge_cdn(media: list[tuple[str, UUID]]) -> None:
    if not media:
        return
    try:
        await _purger.purge([p for kind, media_id in media for p in paths(kind, media_id)])
    except Exception as exc:  # best effort: the origin refuses them anyway
        log.warning("cdn purge failed", extra={"error": repr(exc)})


async def purge_due(svc: Services, *, limit: int = 500) -> int:
    """Delete from storage the held media whose window closed (or whose appeal failed); returns
    how many. Idempotent: a file already gone is fine, a row is marked purged after its files."""
    async with svc.sessions() as s:
        rows = list(
            (
                await s.execute(
                    select(QuarantinedMedia)
                    .where(QuarantinedMedia.state == "held", QuarantinedMedia.purge_after <= utcnow())
                    .order_by(QuarantinedMedia.purge_after)
                    .limit(limit)
                )
            ).scalars()
        )
    store = storage_for(svc.settings)
    done = 0
    for row in rows:
        # under the row's lock: an overturn releasing it meanwhile waits, or wins and is seen here
        async with svc.sessions() as s, s.begin():
            held = (
                await s.execute(
                    select(QuarantinedMedia)
                    .where(
                        QuarantinedMedia.decision_id == row.decision_id,
                        QuarantinedMedia.kind == row.kind,
                        QuarantinedMedia.media_id == row.media_id,
                        QuarantinedMedia.state == "held",
                    )
                    .with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
            if held is None:
                continue
            if held.kind == "video":
                video = await s.get(videos.Video, held.media_id)
                if video is not None:
                    await videos.remove_stored(svc, video.id, video.original_key)
            else:
                await store.delete_prefix(images.prefix(held.media_id))
            held.state, held.purged_at = "purged", utcnow()
        done += 1
    return done
