"""The images of a photo post, as its viewers get them: attaching 1-10 of the author's images to
a post (in order), the images of many posts in one statement (the post view calls
`images_for_posts`), and whether an image's links need a token.
Images themselves (processing, storage, links) are models/media/images.py."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import ForeignKey, Integer, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from infra.storage import storage_for
from models.accounts.profiles import Profile
from models.content.posts import Post
from models.core.base import Base, utcnow
from models.core.errors import Conflict, DomainError
from models.media import images
from models.media.images import Image, ImageNotFound

if TYPE_CHECKING:
    from infra.services import Services

MAX_IMAGES = 10


class PostImage(Base):
    __tablename__ = "post_images"
    post_id: Mapped[UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    # an image is on one post at most
    image_id: Mapped[UUID] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), unique=True)


def check_ids(image_ids: list[UUID]) -> None:
    """1-10 distinct ids (400 otherwise); ownership is checked by `attach`."""
    if not 1 <= len(image_ids) <= MAX_IMAGES:
        raise DomainError(
            f"a photo post has 1 to {MAX_IMAGES} images", code="too_many_images", details=[{"field": "image_ids"}]
        )
    if len(set(image_ids)) != len(image_ids):
        raise DomainError("an image appears twice", code="duplicate_image", details=[{"field": "image_ids"}])


async def attach(s: AsyncSession, *, post_id: UUID, image_ids: list[UUID], owner_id: UUID) -> None:
    """Inside the post's transaction: every image the author's own (404 `image_not_found`),
    ready (409 `image_in_review`) and on no other post (409 `image_already_attached`). The row
    locks order concurrent attaches."""
    found = {
        i.id: i for i in (await s.execute(select(Image).where(Image.id.in_(image_ids)).with_for_update())).scalars()
    }
    for image_id in image_ids:
        image = found.get(image_id)
        if image is None or image.owner_id != owner_id:
            raise ImageNotFound(f"no such image: {image_id}", details=[{"field": "image_ids"}])
        if image.status != "ready":
            raise images.ImageInReview(f"image {image_id} is held for review", details=[{"field": "image_ids"}])
    if (await s.execute(select(PostImage.image_id).where(PostImage.image_id.in_(image_ids)).limit(1))).first():
        raise Conflict("an image is already on a post", code="image_already_attached")
    s.add_all(PostImage(post_id=post_id, position=n, image_id=i) for n, i in enumerate(image_ids))


def _public_post():
    return (Post.visibility == "public") & (or_(Post.expires_at.is_(None), Post.expires_at > utcnow()))


async def images_for_posts(svc: Services, post_ids: list[UUID], *, base_url: str) -> dict[UUID, list[dict]]:
    """{post_id: [{"id", "status", "urls", "jpeg_urls", "width", "height"}, ...]} in each post's
    order, for the photo posts among `post_ids` (others are absent). One SQL statement whatever
    the number of posts; the caller has already decided the viewer may see these posts."""
    if not post_ids:
        return {}
    q = (
        select(PostImage.post_id, Image, _public_post().label("public"))
        .join(Image, Image.id == PostImage.image_id)
        .join(Post, Post.id == PostImage.post_id)
        .where(PostImage.post_id.in_(post_ids))
        .order_by(PostImage.post_id, PostImage.position)
    )
    async with svc.sessions() as s:
        rows = (await s.execute(q)).all()
    out: dict[UUID, list[dict]] = defaultdict(list)
    for post_id, image, public in rows:
        out[post_id].append(
            await images.view(svc, image, public=bool(public) and image.status == "ready", base_url=base_url)
        )
    return dict(out)


async def is_public(svc: Services, image_id: UUID) -> bool:
    """Ready, and someone's avatar or cover or on a public post: then links need no token."""
    on_public_post = exists().where(PostImage.image_id == Image.id, PostImage.post_id == Post.id, _public_post())
    on_profile = exists().where(or_(Profile.avatar_media_id == Image.id, Profile.cover_media_id == Image.id))
    async with svc.sessions() as s:
        found = (
            await s.execute(
                select(Image.id).where(Image.id == image_id, Image.status == "ready", or_(on_public_post, on_profile))
            )
        ).first()
    return found is not None


async def drop_with_post(s: AsyncSession, post_id: UUID) -> list[UUID]:
    """Inside the post's deletion, before the post row goes: its images' rows go too, except an
    image that has since become someone's avatar or cover. Returns the dropped ids; their files
    are removed after commit (`remove_files`, by the post_media agent from post.deleted)."""
    in_use = exists().where(or_(Profile.avatar_media_id == Image.id, Profile.cover_media_id == Image.id))
    on_post = select(PostImage.image_id).where(PostImage.post_id == post_id).scalar_subquery()
    return list((await s.execute(delete(Image).where(Image.id.in_(on_post), ~in_use).returning(Image.id))).scalars())


async def remove_files(svc: Services, image_ids: list[UUID]) -> None:
    """Idempotent: a redelivery finds nothing left."""
    store = storage_for(svc.settings)
    for image_id in image_ids:
        await store.delete_prefix(images.prefix(image_id))
