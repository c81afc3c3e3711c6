"""Images: uploads for avatars, covers and photo posts, their served sizes and links.

An upload is processed in the request (models/media/imaging.py, in a thread, at most
IMAGE_PROCESS_CONCURRENCY at once per process): an image is at most IMAGE_MAX_BYTES and takes
well under a second, less than a round trip through the broker and an agent would add, and the
201 then carries usable links. Each image passes the NSFW classifier on its 320 px JPEG with the
video thresholds: at NSFW_REJECT_AT it is refused (422 `image_rejected`) and nothing is stored;
at NSFW_REVIEW_AT it is stored `in_review`: its owner sees it, nobody else, and it cannot be
posted or made an avatar. Files live under `images/<id>/<size>.<webp|jpg>`; only the stripped
sizes are stored, never the original.

Links follow the video rules (models/media/videos.sign): an image that is public (ready, and
someone's avatar or cover or on a public post: models/content/post_images.is_public) is served
to anyone holding its unguessable URL; any other only with the signed, expiring `t` token.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import CheckConstraint, DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from infra.storage import storage_for
from ml.nsfw import judge, load_classifier
from models.core.base import Base, utcnow
from models.core.errors import Conflict, DomainError, NotFound
from models.core.events import new_id
from models.media import imaging
from models.media.videos import sign

if TYPE_CHECKING:
    from infra.services import Services

log = logging.getLogger(__name__)

STATUSES = ("ready", "in_review")
PURPOSES = ("post", "avatar", "cover")
_semaphores: dict[tuple[int, int], asyncio.Semaphore] = {}


class UnsupportedImage(DomainError):
    status, code = 415, "unsupported_image"


class ImageTooLarge(DomainError):
    status, code = 413, "image_too_large"


class ImageRejected(DomainError):
    status, code = 422, "image_rejected"


class ImageNotFound(NotFound):
    code = "image_not_found"


class ImageInReview(Conflict):
    code = "image_in_review"


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        CheckConstraint(f"purpose IN {PURPOSES}", name="purpose"),
    )
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    owner_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    source_format: Mapped[str] = mapped_column(String(10))  # JPEG, PNG, WEBP, HEIF: from the content
    width: Mapped[int] = mapped_column(Integer)  # of the largest served size
    height: Mapped[int] = mapped_column(Integer)
    nsfw_score: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def prefix(image_id: UUID) -> str:
    return f"images/{image_id}/"


def key(image_id: UUID, size: int, fmt: str) -> str:
    return f"{prefix(image_id)}{size}.{fmt}"


def _semaphore(limit: int) -> asyncio.Semaphore:
    # one per event loop and limit (tests run several loops in one process)
    loop_key = (id(asyncio.get_running_loop()), limit)
    if loop_key not in _semaphores:
        _semaphores[loop_key] = asyncio.Semaphore(limit)
    return _semaphores[loop_key]


async def render(svc: Services, data: bytes) -> imaging.Rendered:
    """The served sizes of `data`, or 413 `image_too_large` / 415 `unsupported_image`."""
    cfg = svc.settings
    if len(data) > cfg.image_max_bytes:
        raise ImageTooLarge(f"an image may be at most {cfg.image_max_bytes // 1024**2} MB")
    async with _semaphore(cfg.image_process_concurrency):
        try:
            return await asyncio.to_thread(
                imaging.render,
                data,
                max_pixels=cfg.image_max_pixels,
                webp_quality=cfg.image_webp_quality,
                jpeg_quality=cfg.image_jpeg_quality,
            )
        except imaging.ImageTooLarge as exc:
            raise ImageTooLarge(str(exc)) from None
        except imaging.UnsupportedImage as exc:
            raise UnsupportedImage(f"{exc}; send a JPEG, PNG, WebP or HEIC image") from None


def _nsfw_score(model: str, jpeg: bytes) -> float:
    return load_classifier(model).scores([jpeg])[0]


async def upload(svc: Services, owner_id: UUID, data: bytes, *, purpose: str = "post") -> Image:
    """Check, strip, size, classify and store one image; the stored row (ready or in_review)."""
    cfg = svc.settings
    rendered = await render(svc, data)
    score = await asyncio.to_thread(_nsfw_score, cfg.nsfw_model, rendered.file(320, "jpg"))
    verdict = judge([score], review_at=cfg.nsfw_review_at, reject_at=cfg.nsfw_reject_at, top_k=1)
    if verdict.decision == "reject":
        log.info("image refused by the NSFW classifier", extra={"owner_id": str(owner_id), "score": score})
        raise ImageRejected("this image cannot be published (nudity or sexual content)")
    image = Image(
        id=new_id(),
        owner_id=owner_id,
        purpose=purpose,
        status="ready" if verdict.decision == "publish" else "in_review",
        source_format=rendered.source_format,
        width=rendered.width,
        height=rendered.height,
        nsfw_score=score,
        created_at=utcnow(),
    )
    store = storage_for(cfg)
    try:
        # files first: a crash between the two leaves unreferenced files, never a row without them
        await asyncio.gather(
            *(store.put_bytes(f"{prefix(image.id)}{name}", body) for name, body in rendered.files.items())
        )
        async with svc.sessions() as s, s.begin():
            s.add(image)
    except BaseException:
        await store.delete_prefix(prefix(image.id))
        raise
    return image


async def get_own(svc: Services, owner_id: UUID, image_id: UUID) -> Image:
    async with svc.sessions() as s:
        image = await s.get(Image, image_id)
    if image is None or image.owner_id != owner_id:
        raise ImageNotFound("no such image")
    return image


async def ensure_usable(svc: Services, owner_id: UUID, image_id: UUID) -> None:
    """Your own image, not held for review (an avatar, a cover); else 404 / 409."""
    image = await get_own(svc, owner_id, image_id)
    if image.status != "ready":
        raise ImageInReview("this image is held for review")


# ---------------------------------------------------------------- links


def base(svc: Services, base_url: str) -> str:
    return (svc.settings.media_public_url or base_url).rstrip("/")


async def links(svc: Services, image_id: UUID, *, public: bool, base_url: str) -> tuple[dict[str, str], dict[str, str]]:
    """({size: WebP URL}, {size: JPEG URL}) for someone allowed to see the image."""
    store = storage_for(svc.settings)
    query = "" if public else f"?t={sign(svc.settings, image_id)}"
    root = f"{base(svc, base_url)}/media/images/{image_id}"
    ttl = int(svc.settings.media_url_ttl.total_seconds())
    out: tuple[dict[str, str], dict[str, str]] = ({}, {})
    for urls, fmt in zip(out, imaging.FORMATS):
        for size in imaging.SIZES:
            direct = await store.url(key(image_id, size, fmt), expires=ttl, public=public)  # S3: presigned / CDN
            urls[str(size)] = direct or f"{root}/{size}.{fmt}{query}"
    return out


async def view(svc: Services, image: Image, *, public: bool, base_url: str) -> dict:
    """{"id", "status", "urls", "jpeg_urls", "width", "height"}: POST /media/images and the
    images of a photo post."""
    webp, jpeg = await links(svc, image.id, public=public, base_url=base_url)
    return {
        "id": str(image.id),
        "status": image.status,
        "urls": webp,
        "jpeg_urls": jpeg,
        "width": image.width,
        "height": image.height,
    }
