"""Posts: create, read (the render-ready view, models/content/post_view.py), edit, counters,
pins (a profile's grid) and bookmarks."""

from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_request

from api.auth import auth_required, optional_user, parse_id, svc
from api.flows import posts as flows
from api.inputs.content import PostIn, PostPatchIn
from api.outputs import NoContent, errors
from api.outputs.content import CountersOut, PostViewOut
from models.content import bookmarks, deleting, grid, post_view, reactions

bp = Blueprint("posts", __name__, url_prefix="/posts")
tag_posts = tag(["posts"])


@bp.post("")
@tag_posts
@auth_required
@validate_request(PostIn)
@document_response(PostViewOut, 201)
@errors(403, 404, 409)
async def create(data: PostIn):
    post = await flows.create_post(svc(), g.user_id, data, request.headers.get("Idempotency-Key"))
    return (await post_view.render(svc(), g.user_id, [post], base_url=request.host_url))[0], 201


@bp.get("/<post_id>")
@tag_posts
@optional_user
@document_response(PostViewOut)
@errors(404)
async def get(post_id: str):
    """The post as a render-ready view (docs/feeds.md#the-post-view); 404 if you may not see it."""
    return await post_view.get_view(svc(), g.user_id, parse_id(post_id, "post_id"), base_url=request.host_url)


@bp.patch("/<post_id>")
@tag_posts
@auth_required
@validate_request(PostPatchIn)
@document_response(PostViewOut)
@errors(404)
async def edit(post_id: str, data: PostPatchIn):
    """Your own post's caption and/or visibility (sets edited_at); anyone else's is 404."""
    post = await flows.edit_post(svc(), g.user_id, parse_id(post_id, "post_id"), data)
    return (await post_view.render(svc(), g.user_id, [post], base_url=request.host_url))[0]


@bp.get("/<post_id>/counters")
@tag_posts
@optional_user
@document_response(CountersOut)
@errors(404)
async def counters(post_id: str):
    """Engagement counters of a post, e.g. {"likes": 3, ...}."""
    return await reactions.counters(svc(), parse_id(post_id, "post_id"), g.user_id)


@bp.delete("/<post_id>")
@tag_posts
@auth_required
@document_response(NoContent, 204)
@errors(404)
async def delete(post_id: str):
    """Delete your post or story: 204. Anyone else's, or one that does not exist: 404
    `post_not_found`. Feeds, trending, recommendations and notifications drop it shortly after;
    its video's files are removed (docs/feeds.md#deleting-a-post)."""
    await deleting.delete_post(svc(), actor_id=g.user_id, post_id=parse_id(post_id, "post_id"))
    return "", 204


@bp.put("/<post_id>/pin")
@tag_posts
@auth_required
@document_response(NoContent, 204)
@errors(404, 409)
async def pin(post_id: str):
    """Pin your own post to the top of your grid (at most 3: 409 pin_limit); idempotent."""
    await grid.pin(svc(), g.user_id, parse_id(post_id, "post_id"))
    return "", 204


@bp.delete("/<post_id>/pin")
@tag_posts
@auth_required
@document_response(NoContent, 204)
@errors(404)
async def unpin(post_id: str):
    await grid.unpin(svc(), g.user_id, parse_id(post_id, "post_id"))
    return "", 204


@bp.put("/<post_id>/bookmark")
@tag_posts
@auth_required
@document_response(NoContent, 204)
@errors(404)
async def bookmark(post_id: str):
    """Bookmark a post you can see (404 otherwise); idempotent. GET /users/me/bookmarks lists them."""
    await bookmarks.add(svc(), g.user_id, parse_id(post_id, "post_id"))
    return "", 204


@bp.delete("/<post_id>/bookmark")
@tag_posts
@auth_required
@document_response(NoContent, 204)
@errors(404)
async def unbookmark(post_id: str):
    await bookmarks.remove(svc(), g.user_id, parse_id(post_id, "post_id"))
    return "", 204
