"""Profiles: what a user shows others (display name, bio, avatar, language, region, badges).

A user without a profile row has the empty profile; the first edit creates the row. The display
name falls back to the username until one is set (and again when it is cleared with null).
`avatar` is the avatar's media id until the media issue serves media by URL.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import phonenumbers
from sqlalchemy import DateTime, ForeignKey, String, Uuid, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, mapped_column

from models.accounts import badges
from models.accounts.users import User
from models.core import audit, outbox
from models.core.audit import Client
from models.core.base import Base, utcnow
from models.core.errors import Forbidden, NotFound
from models.core.events import Event

if TYPE_CHECKING:
    from infra.services import Services

FIELDS = ("display_name", "bio", "avatar_media_id", "language", "region")
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


# --- reads and writes ---------------------------------------------------------------------------


def _out(user_id: UUID, username: str, joined: datetime, profile: Profile | None, held: list[dict]) -> dict:
    p = profile or Profile(user_id=user_id)
    return {
        "user_id": str(user_id),
        "username": username,
        "display_name": p.display_name or username,
        "bio": p.bio,
        "avatar_media_id": p.avatar_media_id and str(p.avatar_media_id),
        "avatar": p.avatar_media_id and str(p.avatar_media_id),
        "language": p.language,
        "region": p.region,
        "badges": held,
        "joined_at": joined.isoformat(),
    }


async def get_profile(svc: Services, user_id: UUID) -> dict:
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
    return _out(user_id, row.username, row.created_at, row.Profile, held)


async def update_profile(
    svc: Services, *, actor_id: UUID, user_id: UUID, changes: dict, client: Client | None = None
) -> dict:
    """Set the given fields (None clears one) of the actor's own profile; anyone else's is 403
    `not_owner`. Audited by field name (never values); `user.profile_updated` event."""
    if actor_id != user_id:
        raise Forbidden("you can only edit your own profile", code="not_owner")
    changes = {k: v for k, v in changes.items() if k in FIELDS}
    if changes:
        values = {**changes, "updated_at": utcnow()}
        async with outbox.transaction(svc) as s:
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
    return await get_profile(svc, user_id)
