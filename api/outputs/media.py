"""Response bodies of media (status, Tus uploads) and the interactions that only return an event id."""

from __future__ import annotations

from pydantic import BaseModel

from api.outputs import Open, Page


class VideoStatusOut(Open):
    video_id: str
    status: str
    progress: int
    reason: str | None = None
    playback_url: str | None = None
    thumbnail_url: str | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None


class EventOut(Open):
    """Accepted (202): an event agents apply within moments."""

    event_id: str


class TusCreatedHeaders(BaseModel):
    location: str
    upload_offset: str | None = None
    upload_expires: str | None = None


class TusOffsetHeaders(BaseModel):
    upload_offset: str
    upload_length: str | None = None
    upload_expires: str | None = None


class TusOptionsHeaders(BaseModel):
    tus_version: str
    tus_extension: str
    tus_max_size: str
    tus_checksum_algorithm: str


class ImageOut(Open):
    """An uploaded image (docs/media.md#images): WebP links by size, JPEG fallbacks."""

    id: str
    status: str
    urls: dict[str, str]
    jpeg_urls: dict[str, str]
    width: int
    height: int


class HeldImageOut(ImageOut):
    owner_id: str | None = None
    score: float | None = None


class HeldImagePage(Page[HeldImageOut]):
    pass
