"""Comments (models/content/comments.py): full paths, because they live under /interactions and /posts."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import document_response, tag, validate_querystring, validate_request

from api.auth import auth_required, parse_id, svc
from api.inputs import ShortPageIn
from api.inputs.interactions import CommentEditIn, CommentIn
from api.outputs import errors
from api.outputs.content import CommentOut, CommentPage, DeletedOut
from models.content import comments

bp = Blueprint("comments", __name__)
tag_comments = tag(["interactions"])


@bp.post("/interactions/comments")
@tag_comments
@auth_required
@validate_request(CommentIn)
@document_response(CommentOut, 201)
@errors(404)
async def create(data: CommentIn):
    """Comment on a post you can see, or reply to a comment on it (`parent_id`). @usernames are
    resolved to `mentions` (user ids). 201 with the comment."""
    return await comments.create(
        svc(), author_id=g.user_id, post_id=data.post_id, body=data.body, parent_id=data.parent_id
    ), 201


@bp.patch("/interactions/comments/<comment_id>")
@tag_comments
@auth_required
@validate_request(CommentEditIn)
@document_response(CommentOut)
@errors(403, 404)
async def edit(comment_id: str, data: CommentEditIn):
    """Edit your own comment (403 not_comment_author otherwise)."""
    return await comments.edit(svc(), user_id=g.user_id, comment_id=parse_id(comment_id, "comment_id"), body=data.body)


@bp.delete("/interactions/comments/<comment_id>")
@tag_comments
@auth_required
@document_response(DeletedOut)
@errors(404)
async def delete(comment_id: str):
    """Delete your comment, or any comment on your post, with its replies: {"deleted": n}."""
    n = await comments.delete(svc(), user_id=g.user_id, comment_id=parse_id(comment_id, "comment_id"))
    return {"deleted": n}


@bp.get("/interactions/comments/<comment_id>/replies")
@tag_comments
@auth_required
@validate_querystring(ShortPageIn)
@document_response(CommentPage)
@errors(404)
async def replies(comment_id: str, query_args: ShortPageIn):
    """A comment's direct replies, oldest first, keyset-paginated."""
    return await comments.list_replies(
        svc(), g.user_id, parse_id(comment_id, "comment_id"), cursor=query_args.cursor, limit=query_args.limit
    )


@bp.get("/posts/<post_id>/comments")
@tag_comments
@auth_required
@validate_querystring(ShortPageIn)
@document_response(CommentPage)
@errors(404)
async def for_post(post_id: str, query_args: ShortPageIn):
    """A post's top-level comments, newest first, keyset-paginated (each with `reply_count`)."""
    return await comments.list_for_post(
        svc(), g.user_id, parse_id(post_id, "post_id"), cursor=query_args.cursor, limit=query_args.limit
    )
