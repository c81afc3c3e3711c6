"""Trending lists (models/discovery/trending.py): full paths, no prefix, because the "feeds" and
"recommendations" blueprints own the rest of those trees."""

from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_querystring

from api.auth import auth_required, optional_user, svc
from api.inputs import ShortPageIn
from api.inputs.discovery import TrendingIn
from api.outputs import errors
from api.outputs.discovery import FeedPage
from models.content import post_view
from models.discovery import trending

bp = Blueprint("trending", __name__)


@bp.get("/feeds/trending")
@tag(["feeds"])
@optional_user
@validate_querystring(TrendingIn)
@document_response(FeedPage)
@errors(410)
async def trending_feed(query_args: TrendingIn):
    """Trending posts (or those of one #hashtag) you may see, best first: {"items": [{"post",
    "score", "engagement", "rank"}], "next_cursor"}. The cursor pages through one published
    ranking; once that is replaced for good it answers 410 cursor_expired."""
    page = await trending.page(
        svc(), g.user_id, hashtag=query_args.hashtag, cursor=query_args.cursor, limit=query_args.limit
    )
    return await post_view.render_page(svc(), g.user_id, page, base_url=request.host_url)


@bp.get("/recommendations/trending")
@tag(["recommendations"])
@auth_required
@validate_querystring(ShortPageIn)
@document_response(FeedPage)
@errors(410)
async def trending_recommendations(query_args: ShortPageIn):
    """The global trending list as recommendations: without your own posts and those you hid or
    marked not interested."""
    page = await trending.page(svc(), g.user_id, cursor=query_args.cursor, limit=query_args.limit, recommend=True)
    return await post_view.render_page(svc(), g.user_id, page, base_url=request.host_url)
