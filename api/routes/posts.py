from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator
from quart import Blueprint, g, request
from quart_schema import tag, validate_request

from api.auth import auth_required, parse_id, svc
from api.inputs import Strict
from api.routes.remixes import RemixIn
from models.content import posts, publishing, reactions, remixes, visibility

bp = Blueprint("posts", __name__, url_prefix="/posts")


class PostIn(Strict):
    caption: str = Field("", max_length=2200)
    visibility: Literal["public", "followers", "circle", "subscribers"] = "public"
    circle_id: UUID | None = None  # one of your circles; required with "circle", refused otherwise
    video_id: UUID | None = None  # your own upload, processing or ready; others see the post once it is ready
    kind: Literal["post", "story"] = "post"  # a story expires after 24 h (STORY_TTL)
    remix: RemixIn | None = None  # a duet or stitch of another post's video (needs video_id)

    @model_validator(mode="after")
    def _circle(self):
        if (self.visibility == "circle") != (self.circle_id is not None):
            raise ValueError('circle_id is required with visibility "circle" and only with it')
        return self


@bp.post("")
@tag(["posts"])
@auth_required
@validate_request(PostIn)
async def create(data: PostIn):
    post = await publishing.create_post(
        svc(),
        author_id=g.user_id,
        caption=data.caption,
        visibility=data.visibility,
        circle_id=data.circle_id,
        video_id=data.video_id,
        kind=data.kind,
        idempotency_key=request.headers.get("Idempotency-Key"),
        remix=data.remix.spec() if data.remix else None,
    )
    out = posts.public(post)
    if data.remix:
        out["remix"] = await remixes.ref_of(svc(), post.id)
    return out, 201


@bp.get("/<post_id>")
@tag(["posts"])
@auth_required
async def get(post_id: str):
    return posts.public(await visibility.get_visible_post(svc(), g.user_id, parse_id(post_id, "post_id")))


@bp.get("/<post_id>/counters")
@tag(["posts"])
@auth_required
async def counters(post_id: str):
    """Engagement counters of a post, e.g. {"likes": 3, ...}."""
    return await reactions.counters(svc(), parse_id(post_id, "post_id"), g.user_id)
