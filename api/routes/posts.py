from __future__ import annotations

from typing import Literal

from pydantic import Field
from quart import Blueprint, g, request
from quart_schema import tag, validate_request

from api.auth import auth_required, parse_id, svc
from api.routes.auth import Strict
from models import posts, reactions

bp = Blueprint("posts", __name__, url_prefix="/posts")


class PostIn(Strict):
    caption: str = Field("", max_length=2200)
    visibility: Literal["public"] = "public"


@bp.post("")
@tag(["posts"])
@auth_required
@validate_request(PostIn)
async def create(data: PostIn):
    post = await posts.create_post(svc(), author_id=g.user_id, caption=data.caption,
                                   visibility=data.visibility,
                                   idempotency_key=request.headers.get("Idempotency-Key"))
    return posts.public(post), 201


@bp.get("/<post_id>")
@tag(["posts"])
@auth_required
async def get(post_id: str):
    return posts.public(await posts.get_post(svc(), parse_id(post_id, "post_id")))


@bp.get("/<post_id>/counters")
@tag(["posts"])
@auth_required
async def counters(post_id: str):
    """Engagement counters of a post, e.g. {"likes": 3, ...}."""
    return await reactions.counters(svc(), parse_id(post_id, "post_id"))
