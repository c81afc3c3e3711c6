"""Duets and stitches (models/content/remixes.py): the source's switches and its list of remixes. Making
one is `POST /posts` with "remix" (api/routes/posts.py)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator
from quart import Blueprint, g
from quart_schema import tag, validate_querystring, validate_request

from api.auth import auth_required, parse_id, svc
from api.inputs import ShortPageIn, Strict
from models.content import remixes

bp = Blueprint("remixes", __name__)


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


class RemixSettingsIn(Strict):
    allow_duets: bool | None = None
    allow_stitches: bool | None = None


class RemixPageIn(ShortPageIn):
    type: Literal["duet", "stitch"] | None = None


@bp.patch("/posts/<post_id>/remix-settings")
@tag(["posts"])
@auth_required
@validate_request(RemixSettingsIn)
async def settings(post_id: str, data: RemixSettingsIn):
    """Allow or refuse new duets / stitches of your post (403 not_owner otherwise); an omitted
    switch keeps its value. New remixes of a refusing post get 403 remix_disabled."""
    return await remixes.set_settings(
        svc(), g.user_id, parse_id(post_id, "post_id"), allow_duets=data.allow_duets, allow_stitches=data.allow_stitches
    )


@bp.get("/posts/<post_id>/remixes")
@tag(["posts"])
@auth_required
@validate_querystring(RemixPageIn)
async def remixes_of(post_id: str, query_args: RemixPageIn):
    """Duets and stitches of a post you can see, newest first, those you may see:
    {"items": [post + "remix"], "next_cursor"}."""
    return await remixes.list_remixes(
        svc(),
        g.user_id,
        parse_id(post_id, "post_id"),
        type=query_args.type,
        cursor=query_args.cursor,
        limit=query_args.limit,
    )
