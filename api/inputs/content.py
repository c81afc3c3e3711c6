"""Post and remix request bodies (posts, duets, stitches), shared by REST and GraphQL."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from api.inputs import ShortPageIn, Strict
from models.content import remixes


class RemixIn(Strict):
    """`POST /posts` "remix": which range of which post's video; a stitch takes at most
    REMIX_STITCH_MAX_MS (5 s), a duet any range; within the source video."""

    type: Literal["duet", "stitch"]
    source_post_id: UUID
    start_ms: int = Field(ge=0)
    end_ms: int = Field(gt=0)

    @model_validator(mode="after")
    def _range(self):
        if self.end_ms <= self.start_ms:
            raise ValueError("end_ms must be after start_ms")
        return self

    def spec(self) -> remixes.RemixSpec:
        return remixes.RemixSpec(self.type, self.source_post_id, self.start_ms, self.end_ms)


class PostIn(Strict):
    caption: str = Field("", max_length=2200)
    visibility: Literal["public", "followers", "circle", "subscribers"] = "public"
    circle_id: UUID | None = None  # one of your circles; required with "circle", refused otherwise
    video_id: UUID | None = None  # your own upload, processing or ready; others see the post once it is ready
    # a photo post: 1-10 of your own images (POST /media/images) in order, instead of video_id;
    # the count and ownership are checked by the domain (400 too_many_images, 404 image_not_found)
    image_ids: list[UUID] | None = None
    kind: Literal["post", "story"] = "post"  # a story expires after 24 h (STORY_TTL)
    remix: RemixIn | None = None  # a duet or stitch of another post's video (needs video_id)

    @model_validator(mode="after")
    def _circle(self):
        if (self.visibility == "circle") != (self.circle_id is not None):
            raise ValueError('circle_id is required with visibility "circle" and only with it')
        return self


class RemixSettingsIn(Strict):
    allow_duets: bool | None = None
    allow_stitches: bool | None = None


class RemixPageIn(ShortPageIn):
    type: Literal["duet", "stitch"] | None = None


class PostPatchIn(Strict):
    """`PATCH /posts/{id}` and editPost: what is left out is kept. circle_id goes with
    visibility "circle" (one of your circles) and only with it."""

    caption: str | None = Field(None, max_length=2200)
    visibility: Literal["public", "followers", "circle", "subscribers"] | None = None
    circle_id: UUID | None = None

    @model_validator(mode="after")
    def _something(self):
        if not self.model_fields_set - {"circle_id"} or (self.caption is None and self.visibility is None):
            raise ValueError("nothing to change: give caption and/or visibility")
        if self.visibility is None and self.circle_id is not None:
            raise ValueError("circle_id goes with visibility")
        if self.visibility is not None and (self.visibility == "circle") != (self.circle_id is not None):
            raise ValueError('circle_id is required with visibility "circle" and only with it')
        return self
