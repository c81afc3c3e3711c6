from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import tag, validate_request

from api.auth import auth_required, parse_id, svc
from api.flows import posts as flows
from api.inputs.content import PostIn
from models.content import post_images, posts, reactions, remixes, visibility

bp = Blueprint("posts", __name__, url_prefix="/posts")


@bp.post("")
@tag(["posts"])
@auth_required
@validate_request(PostIn)
async def create(data: PostIn):
    post = await flows.create_post(svc(), g.user_id, data, request.headers.get("Idempotency-Key"))
    out = await _with_images(posts.public(post), post.id)
    if data.remix:
        out["remix"] = await remixes.ref_of(svc(), post.id)
    return out, 201


async def _with_images(out: dict, post_id) -> dict:
    # until the render-ready post view: a photo post's images ({id, urls, jpeg_urls, width, height})
    found = await post_images.images_for_posts(svc(), [post_id], base_url=request.host_url)
    if post_id in found:
        out["images"] = found[post_id]
    return out


@bp.get("/<post_id>")
@tag(["posts"])
@auth_required
async def get(post_id: str):
    post = await visibility.get_visible_post(svc(), g.user_id, parse_id(post_id, "post_id"))
    return await _with_images(posts.public(post), post.id)


@bp.get("/<post_id>/counters")
@tag(["posts"])
@auth_required
async def counters(post_id: str):
    """Engagement counters of a post, e.g. {"likes": 3, ...}."""
    return await reactions.counters(svc(), parse_id(post_id, "post_id"), g.user_id)
