"""Images and videos in direct messages (docs/messages.md#images-and-videos-in-messages).

A message carries at most one image (POST /media/images, models/media/images.py) or one video
(the Tus upload path and its transcode, models/media/videos.py), which must be the sender's own:

- someone else's or an unknown id: 404 `image_not_found` / `video_not_found` (the same answer:
  no oracle for other people's media);
- both an image and a video: 400 `too_many_attachments`;
- an image held for review: 409 `image_in_review` (image moderation keeps holding it);
- a video still uploading or transcoding: 409 `media_not_ready` (send it once `media.status`
  says ready); a video held for review: 409 `video_in_review`; rejected or failed: 409
  `video_not_attachable`.

A message with media may have no text. Its links are always signed (`?t=`, MEDIA_URL_TTL), as
for a post that is not public: only the two people of the conversation (and the recipient of a
message request) are ever given them, and the media routes serve nothing without the token. Media
is rendered when read, so a video a moderator rejects later shows `status: "rejected"` and no
links. The attachment row goes with its media (a photo post's deletion drops its images): the
message then reads `attachment: null`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import CheckConstraint, ForeignKey, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.content import post_videos
from models.core.base import Base
from models.core.errors import Conflict, DomainError
from models.core.idempotency import IdempotencyKeyReused
from models.media import images
from models.media.images import Image, ImageInReview, ImageNotFound
from models.media.videos import Video, VideoNotFound
from models.messaging.messages import Extra

if TYPE_CHECKING:
    from infra.services import Services


class MediaNotReady(Conflict):
    code = "media_not_ready"


class MessageAttachment(Base):
    __tablename__ = "message_attachments"
    __table_args__ = (CheckConstraint("(image_id IS NULL) <> (video_id IS NULL)", name="one_media"),)
    message_id: Mapped[UUID] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    image_id: Mapped[UUID | None] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    video_id: Mapped[UUID | None] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)


@dataclass(frozen=True)
class Ref:
    """The media a message carries: exactly one of the two ids."""

    image_id: UUID | None = None
    video_id: UUID | None = None


async def check(svc: Services, owner_id: UUID, *, image_id: UUID | None, video_id: UUID | None) -> Ref | None:
    """None without media; else the sender's own, sendable media (errors in the module doc)."""
    if image_id is None and video_id is None:
        return None
    if image_id is not None and video_id is not None:
        raise DomainError("a message carries one image or one video", code="too_many_attachments")
    async with svc.sessions() as s:
        if image_id is not None:
            image = await s.get(Image, image_id)
            if image is None or image.owner_id != owner_id:
                raise ImageNotFound("no such image", details=[{"field": "image_id"}])
            if image.status != "ready":
                raise ImageInReview("this image is held for review")
            return Ref(image_id=image_id)
        video = await s.get(Video, video_id)
    if video is None or video.owner_id != owner_id:
        raise VideoNotFound("no such video", details=[{"field": "video_id"}])
    if video.status in ("uploading", "processing"):
        raise MediaNotReady(f"this video is {video.status}: send it once it is ready")
    if video.status == "in_review":
        raise Conflict("this video is held for review", code="video_in_review")
    if video.status != "ready":
        raise Conflict(f"a video that is {video.status} cannot be sent", code="video_not_attachable")
    return Ref(video_id=video_id)


def row(message_id: UUID, ref: Ref) -> MessageAttachment:
    return MessageAttachment(message_id=message_id, image_id=ref.image_id, video_id=ref.video_id)


async def extra(svc: Services, ref: Ref, *, base_url: str) -> Extra:
    """For messages.send: stores the attachment row in the send's transaction, and the rendered
    attachment goes into the answer and the `message.new` push."""
    rendered = (await render(svc, {ref: ref}, base_url=base_url)).get(ref)

    async def store(s: AsyncSession, message_id: UUID) -> None:
        s.add(row(message_id, ref))
        await s.flush()

    return Extra(store=store, fields={"attachment": rendered})


async def refs_of(svc: Services, message_ids: list[UUID]) -> dict[UUID, Ref]:
    if not message_ids:
        return {}
    async with svc.sessions() as s:
        found = (
            await s.execute(select(MessageAttachment).where(MessageAttachment.message_id.in_(message_ids)))
        ).scalars()
        return {a.message_id: Ref(image_id=a.image_id, video_id=a.video_id) for a in found}


async def render(svc: Services, refs: dict, *, base_url: str) -> dict:
    """{key: attachment} for {key: Ref}: two statements whatever the number. An image is
    {"kind": "image", "id", "status", "urls", "jpeg_urls", "width", "height"}; a video
    {"kind": "video", "id", "status", "playback_url", "thumbnail_url", "duration_s", "width",
    "height"}. Links are signed; media no longer there is absent."""
    image_ids = {r.image_id for r in refs.values() if r.image_id}
    video_ids = {r.video_id for r in refs.values() if r.video_id}
    async with svc.sessions() as s:
        found_images = (
            {i.id: i for i in (await s.execute(select(Image).where(Image.id.in_(image_ids)))).scalars()}
            if image_ids
            else {}
        )
        found_videos = (
            {v.id: v for v in (await s.execute(select(Video).where(Video.id.in_(video_ids)))).scalars()}
            if video_ids
            else {}
        )
    out: dict = {}
    for k, ref in refs.items():
        if ref.image_id in found_images:
            image = found_images[ref.image_id]
            shown = await images.view(svc, image, public=False, base_url=base_url)
            if image.status != "ready":
                shown |= {"urls": {}, "jpeg_urls": {}}
            out[k] = {"kind": "image", **shown}
        elif ref.video_id in found_videos:
            video = found_videos[ref.video_id]
            playback, thumb = (
                await post_videos.links(svc, video, base_url=base_url, public=False)
                if video.status == "ready"
                else (None, None)
            )
            out[k] = {
                "kind": "video",
                "id": str(video.id),
                "status": video.status,
                "playback_url": playback,
                "thumbnail_url": thumb,
                "duration_s": video.duration,
                "width": video.width,
                "height": video.height,
            }
    return out


async def decorate(svc: Services, messages: list[dict], *, base_url: str) -> list[dict]:
    """Sets each message's `attachment` (null without media): a page of history, a conversation
    list's last messages. Messages are the dicts of models/messaging/messages.public."""
    refs = await refs_of(svc, [UUID(m["id"]) for m in messages])
    rendered = await render(svc, refs, base_url=base_url)
    for m in messages:
        m["attachment"] = rendered.get(UUID(m["id"]))
    return messages


async def finish(svc: Services, sent: dict, ref: Ref | None, *, base_url: str) -> dict:
    """A message messages.send answered, possibly a retry's replay: the stored media must be the
    one asked for (422 `idempotency_key_reused` otherwise), and the answer carries it."""
    stored = (await refs_of(svc, [UUID(sent["id"])])).get(UUID(sent["id"]))
    if stored != ref:
        raise IdempotencyKeyReused("this client_id was used for another message")
    if "attachment" not in sent:
        sent["attachment"] = (await render(svc, {ref: ref}, base_url=base_url)).get(ref) if ref else None
    return sent
