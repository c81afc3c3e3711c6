"""Profiles: what a user shows others (display name, bio, avatar, cover, language, region, badges).

A user without a profile row has the empty profile; the first edit creates the row. The display
name falls back to the username until one is set (and again when it is cleared with null).
`avatar_media_id` / `cover_media_id` are image ids (`avatar` is the old name of the first); images
are a higher domain (media), which registers how an id is checked and linked (`register_images`,
infra/services.wire_domains): unregistered, an image id is refused (fail closed).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import phonenumbers
from sqlalchemy import DateTime, ForeignKey, String, Uuid, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, mapped_column

from models.accounts import badges
from models.accounts.users import User
from models.core import audit, outbox, screening
from models.core.audit import Client
from models.core.base import Base, utcnow
from models.core.errors import Forbidden, NotFound
from models.core.events import Event

if TYPE_CHECKING:
    from infra.services import Services

FIELDS = ("display_name", "bio", "avatar_media_id", "cover_media_id", "language", "region")
IMAGE_FIELDS = ("avatar_media_id", "cover_media_id")
DISPLAY_NAME_MAX, BIO_MAX = 50, 300

# BCP 47 language tag, the common subset: language, optional script, optional region
# ("ar", "ar-EG", "zh-Hant-TW", "es-419").
_LANGUAGE = re.compile(r"^([A-Za-z]{2,3})(?:-([A-Za-z]{4}))?(?:-([A-Za-z]{2}|[0-9]{3}))?$")
# ISO 3166-1 alpha-2 codes of every country or territory with a telephone numbering plan.
REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


class Profile(Base):
    __tablename__ = "profiles"
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(DISPLAY_NAME_MAX), nullable=True)
    bio: Mapped[str | None] = mapped_column(String(BIO_MAX), nullable=True)
    avatar_media_id: Mapped[UUID | None] = mapped_column(Uuid, nullable=True)
    cover_media_id: Mapped[UUID | None] = mapped_column(Uuid, nullable=True)
    language: Mapped[str | None] = mapped_column(String(35), nullable=True)
    region: Mapped[str | None] = mapped_column(String(2), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --- input rules, shared by the REST and GraphQL input models ---------------------------------


def clean_display_name(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def clean_bio(value: str) -> str:
    if _CONTROL_BUT_NEWLINE.search(value):
        raise ValueError("must not contain control characters other than newlines")
    return value


def clean_language(value: str) -> str:
    """A BCP 47 tag in its canonical case: 'AR-eg' -> 'ar-EG', 'zh-hant-tw' -> 'zh-Hant-TW'."""
    m = _LANGUAGE.match(value)
    if not m:
        raise ValueError("must be a BCP 47 language tag such as ar, ar-EG or zh-Hant-TW")
    lang, script, region = m.groups()
    return "-".join(p for p in (lang.lower(), script and script.title(), region and region.upper()) if p)


def clean_region(value: str) -> str:
    if value.upper() not in REGIONS:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code such as EG or SA")
    return value.upper()


# --- images (registered by models/media/avatars.py) ----------------------------------------------

# (svc, owner_id, image_id) -> None, raising when the owner may not show that image
ImageCheck = Callable[["Services", UUID, UUID], Awaitable[None]]
# (svc, image_ids, base_url) -> {image_id: ({size: WebP URL}, {size: JPEG URL})}
ImageLinks = Callable[["Services", list[UUID], str], Awaitable[dict[UUID, tuple[dict, dict]]]]
_images: tuple[ImageCheck, ImageLinks] | None = None


def register_images(check: ImageCheck, links: ImageLinks) -> None:
    global _images
    _images = (check, links)


def _image_fields(name: str, image_id: UUID | None, links: dict[UUID, tuple[dict, dict]]) -> dict:
    webp, jpeg = links.get(image_id, (None, None)) if image_id else (None, None)
    return {
        f"{name}_media_id": image_id and str(image_id),
        f"{name}_url": webp and webp.get(AVATAR_SIZE),
        f"{name}_urls": webp,
        f"{name}_jpeg_urls": jpeg,
    }


AVATAR_SIZE = "320"  # `avatar_url` / `cover_url`: this size of `*_urls`


# --- reads and writes ---------------------------------------------------------------------------


def _out(
    user_id: UUID,
    username: str,
    joined: datetime,
    profile: Profile | None,
    held: list[dict],
    links: dict[UUID, tuple[dict, dict]],
) -> dict:
    p = profile or Profile(user_id=user_id)
    return {
        "user_id": str(user_id),
        "username": username,
        "display_name": p.display_name or username,
        "bio": p.bio,
        "avatar": p.avatar_media_id and str(p.avatar_media_id),
        **_image_fields("avatar", p.avatar_media_id, links),
        **_image_fields("cover", p.cover_media_id, links),
        "language": p.language,
        "region": p.region,
        "badges": held,
        "joined_at": joined.isoformat(),
    }


async def get_profile(svc: Services, user_id: UUID, *, base_url: str = "") -> dict:
    """The profile, or 404 `user_not_found`. Others read it through models/social/flows.view_profile
    (blocks hide it)."""
    async with svc.sessions() as s:
        row = (
            await s.execute(
                select(User.username, User.created_at, Profile)
                .outerjoin(Profile, Profile.user_id == User.id)
                .where(User.id == user_id)
            )
        ).first()
        held = await badges.of_user(s, user_id) if row else []
    if row is None:
        raise NotFound("no such user", code="user_not_found")
    p = row.Profile
    ids = [i for i in (p and p.avatar_media_id, p and p.cover_media_id) if i]
    links = await _images[1](svc, ids, base_url) if ids and _images else {}
    return _out(user_id, row.username, row.created_at, p, held, links)


async def update_profile(
    svc: Services,
    *,
    actor_id: UUID,
    user_id: UUID,
    changes: dict,
    client: Client | None = None,
    base_url: str = "",
) -> dict:
    """Set the given fields (None clears one) of the actor's own profile; anyone else's is 403
    `not_owner`. An avatar or cover must be one of the actor's own images, not held for review
    (404 `image_not_found`, 409 `image_in_review`). Audited by field name (never values);
    `user.profile_updated` event."""
    if actor_id != user_id:
        raise Forbidden("you can only edit your own profile", code="not_owner")
    changes = {k: v for k, v in changes.items() if k in FIELDS}
    for field in IMAGE_FIELDS:
        if changes.get(field) is not None:
            if _images is None:
                raise NotFound("images are not served by this process", code="image_not_found")
            await _images[0](svc, actor_id, changes[field])
    words = "\n".join(v for k in ("display_name", "bio") if (v := changes.get(k)))
    review = await screening.screen(svc, words, source="profile")  # reject: 422 content_rejected
    if changes:
        values = {**changes, "updated_at": utcnow()}
        async with outbox.transaction(svc) as s:
            if review:
                await screening.flag(
                    s,
                    svc,
                    target_type="profile",
                    target_id=user_id,
                    author_id=actor_id,
                    source="profile",
                    labels=review,
                )
            await s.execute(
                insert(Profile)
                .values(user_id=user_id, **values)
                .on_conflict_do_update(index_elements=[Profile.user_id], set_=values)
            )
            audit.stage(
                s,
                "profile.updated",
                client,
                actor=actor_id,
                subject=f"user:{user_id}",
                details={"fields": sorted(changes)},
            )
            outbox.stage(
                s, Event("user.profile_updated", {"user_id": str(user_id), "fields": sorted(changes)}, actor=actor_id)
            )
    return await get_profile(svc, user_id, base_url=base_url)
