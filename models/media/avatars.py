"""Avatars and covers: an uploaded image made the profile's avatar or cover (PUT
/users/me/avatar, /users/me/cover), the profile's image links (registered into
models/accounts/profiles at start-up), and the avatars of many users at once for the post view
(`avatar_urls`, one SQL statement)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import select

from models.accounts import profiles
from models.accounts.profiles import Profile
from models.core.audit import Client
from models.media import images
from models.media.images import Image

if TYPE_CHECKING:
    from infra.services import Services

WHICH = {"avatar": "avatar_media_id", "cover": "cover_media_id"}


async def _links(svc: Services, image_ids: list[UUID], base_url: str) -> dict[UUID, tuple[dict, dict]]:
    """Links of the ready ones among `image_ids`; a profile's images are public (no token)."""
    async with svc.sessions() as s:
        ready = (await s.execute(select(Image.id).where(Image.id.in_(image_ids), Image.status == "ready"))).scalars()
    return {i: await images.links(svc, i, public=True, base_url=base_url) for i in ready}


def register() -> None:
    """infra/services.wire_domains: profiles check and link avatar and cover ids through us."""
    profiles.register_images(images.ensure_usable, _links)


async def set_image(
    svc: Services, user_id: UUID, data: bytes, *, which: str, client: Client | None = None, base_url: str
) -> dict:
    """Upload `data` and make it the user's avatar or cover; the profile. An image the NSFW
    classifier holds for review is stored but not shown: 409 `image_in_review`."""
    image = await images.upload(svc, user_id, data, purpose=which)
    if image.status != "ready":
        raise images.ImageInReview(f"the image is held for review; it becomes your {which} once approved")
    return await profiles.update_profile(
        svc, actor_id=user_id, user_id=user_id, changes={WHICH[which]: image.id}, client=client, base_url=base_url
    )


async def avatar_urls(svc: Services, user_ids: list[UUID], *, base_url: str) -> dict[UUID, dict]:
    """{user_id: {"avatar_url", "avatar_urls", "avatar_jpeg_urls"}} for the users among
    `user_ids` who have an avatar (others are absent: no avatar). One SQL statement."""
    if not user_ids:
        return {}
    async with svc.sessions() as s:
        rows = (
            await s.execute(
                select(Profile.user_id, Image.id)
                .join(Image, Image.id == Profile.avatar_media_id)
                .where(Profile.user_id.in_(user_ids), Image.status == "ready")
            )
        ).all()
    out = {}
    for user_id, image_id in rows:
        webp, jpeg = await images.links(svc, image_id, public=True, base_url=base_url)
        out[user_id] = {"avatar_url": webp[profiles.AVATAR_SIZE], "avatar_urls": webp, "avatar_jpeg_urls": jpeg}
    return out
