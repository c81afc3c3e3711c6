"""#Hashtags (models/discovery/hashtags.py, docs/hashtags.md): a tag's posts and trending tags.
Tags in paths are taken as typed ("%23أحمد", "احمد", "Cairo") and normalised; an invalid one is
400 invalid_hashtag, a valid tag without posts an empty page."""

from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_querystring

from api.auth import optional_user, svc
from api.inputs.discovery import HashtagPostsIn, TrendingHashtagsIn
from api.outputs.content import PostPage
from api.outputs.discovery import TrendingHashtagsOut
from models.content import post_view
from models.discovery import hashtags

bp = Blueprint("hashtags", __name__, url_prefix="/hashtags")
tag_hashtags = tag(["hashtags"])


@bp.get("/trending")
@tag_hashtags
@optional_user
@validate_querystring(TrendingHashtagsIn)
@document_response(TrendingHashtagsOut)
async def trending_hashtags(query_args: TrendingHashtagsIn):
    """Tags used by more distinct people in the last window than in the one before, best first:
    {"items": [{"tag", "score", "users", "post_count"}], "window"}."""
    window = hashtags.window_name(svc(), query_args.window)
    out = await hashtags.trending_tags(svc(), limit=query_args.limit)
    return {**out, "window": window}


@bp.get("/<path:tag>/posts")
@tag_hashtags
@optional_user
@validate_querystring(HashtagPostsIn)
@document_response(PostPage)
async def hashtag_posts(tag: str, query_args: HashtagPostsIn):
    """Posts of one tag you may see ({"items": [post view], "next_cursor"}); sort "new" (newest
    first) or "top" (most engagement first)."""
    page = await hashtags.tag_posts(
        svc(), g.user_id, tag, sort=query_args.sort, cursor=query_args.cursor, limit=query_args.limit
    )
    return await post_view.render_page(svc(), g.user_id, page, base_url=request.host_url, key=None)
