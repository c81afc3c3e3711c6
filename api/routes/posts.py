from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_request

from api.auth import auth_required, optional_user, parse_id, svc
from api.flows import posts as flows
from api.inputs.content import PostIn
from api.outputs import NoContent, errors
from api.outputs.content import CountersOut, PostOut
from models.content import deleting, posts, reactions, remixes, visibility

bp = Blueprint("posts", __name__, url_prefix="/posts")


@bp.post("")
@tag(["posts"])
@auth_required
@validate_request(PostIn)
@document_response(PostOut, 201)
@errors(403, 404, 409)
async def create(data: PostIn):
    post = await flows.create_post(svc(), g.user_id, data, request.headers.get("Idempotency-Key"))
    out = posts.public(post)
    if data.remix:
        out["remix"] = await remixes.ref_of(svc(), post.id)
    return out, 201


@bp.get("/<post_id>")
@tag(["posts"])
@optional_user
@document_response(PostOut)
@errors(404)
async def get(post_id: str):
    """Readable without a token when public (docs/feeds.md#public-links); a post you may not see is 404."""
    return posts.public(await visibility.get_visible_post(svc(), g.user_id, parse_id(post_id, "post_id")))


@bp.get("/<post_id>/counters")
@tag(["posts"])
@optional_user
@document_response(CountersOut)
@errors(404)
async def counters(post_id: str):
    """Engagement counters of a post, e.g. {"likes": 3, ...}."""
    return await reactions.counters(svc(), parse_id(post_id, "post_id"), g.user_id)


@bp.delete("/<post_id>")
@tag(["posts"])
@auth_required
@document_response(NoContent, 204)
@errors(404)
async def delete(post_id: str):
    """Delete your post or story: 204. Anyone else's, or one that does not exist: 404
    `post_not_found`. Feeds, trending, recommendations and notifications drop it shortly after;
    its video's files are removed (docs/feeds.md#deleting-a-post)."""
    await deleting.delete_post(svc(), actor_id=g.user_id, post_id=parse_id(post_id, "post_id"))
    return "", 204
