"""Images the NSFW classifier held for review (status `in_review`, models/media/images.py) and
the moderator's decision: approve makes the image ready (its owner can post it or make it an
avatar), reject deletes it (row and files). Image ids are UUIDv7, so the queue is keyset-paged
by id: oldest first. Audited (who, which image, which decision; never the note) and published
(`moderation.image_decided` on `moderation.images`)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import delete, select

from infra.storage import storage_for
from models.core import audit, cursors, outbox
from models.core.audit import Client
from models.core.errors import Conflict, DomainError
from models.core.events import Event
from models.media import images
from models.media.images import Image, ImageNotFound

if TYPE_CHECKING:
    from infra.services import Services

DECISIONS = ("approve", "reject")


async def _item(svc: Services, image: Image, base_url: str) -> dict:
    return {
        **await images.view(svc, image, public=False, base_url=base_url),
        "owner_id": str(image.owner_id),
        "purpose": image.purpose,
        "nsfw_score": image.nsfw_score,
        "created_at": image.created_at.isoformat(),
    }


async def held(svc: Services, *, cursor: str | None = None, limit: int = 50, base_url: str) -> dict:
    """{"items": [held image with signed links, owner, purpose, score], "next_cursor"}."""
    q = select(Image).where(Image.status == "in_review").order_by(Image.id).limit(limit + 1)
    if cursor:
        q = q.where(Image.id > cursors.decode_ids(cursor, 1)[0])
    async with svc.sessions() as s:
        rows = list((await s.execute(q)).scalars())
    more, rows = len(rows) > limit, rows[:limit]
    return {
        "items": [await _item(svc, i, base_url) for i in rows],
        "next_cursor": cursors.encode_ids(rows[-1].id) if more and rows else None,
    }


async def decide(
    svc: Services,
    *,
    image_id: UUID,
    decision: str,
    actor: UUID,
    note: str | None = None,
    client: Client | None = None,
) -> dict:
    """{"image_id", "decision", "status"}: approve -> ready; reject -> deleted. An image that is
    not held answers 409 `image_not_held`, an unknown one 404 `image_not_found`."""
    if decision not in DECISIONS:
        raise DomainError("decision must be approve or reject", code="invalid_decision")
    async with outbox.transaction(svc) as s:
        image = (await s.execute(select(Image).where(Image.id == image_id).with_for_update())).scalar_one_or_none()
        if image is None:
            raise ImageNotFound("no such image")
        if image.status != "in_review":
            raise Conflict("this image is not held for review", code="image_not_held")
        if decision == "approve":
            image.status = "ready"
        else:
            await s.execute(delete(Image).where(Image.id == image_id))
        status = "ready" if decision == "approve" else "deleted"
        audit.stage(
            s,
            "moderation.image_decided",
            client,
            actor=actor,
            subject=f"image:{image_id}",
            details={"decision": decision, "owner_id": str(image.owner_id)},
        )
        outbox.stage(
            s,
            Event(
                "moderation.image_decided",
                {"image_id": str(image_id), "owner_id": str(image.owner_id), "decision": decision, "status": status},
                actor=actor,
            ),
        )
    if decision == "reject":  # after the commit: a rolled-back decision keeps its files
        await storage_for(svc.settings).delete_prefix(images.prefix(image_id))
    return {"image_id": str(image_id), "decision": decision, "status": status}
