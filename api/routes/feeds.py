"""Feeds (models/discovery/feeds.py, docs/feeds.md): /feeds/home and /feeds/circle/{id}. /feeds/trending
is api/routes/trending.py."""

from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_querystring

from api.auth import auth_required, parse_id, svc
from api.inputs.discovery import FeedIn
from api.outputs import errors
from api.outputs.discovery import FeedPage
from models.content import post_view
from models.discovery import feeds

bp = Blueprint("feeds", __name__)
tag_feeds = tag(["feeds"])


async def _answer(page: dict):
    cached = page.pop("cached", False)
    page = await post_view.render_page(svc(), g.user_id, page, base_url=request.host_url)
    return page, 200, {"X-Feed-Cache": "hit" if cached else "miss"}


@bp.get("/feeds/home")
@tag_feeds
@auth_required
@validate_querystring(FeedIn)
@document_response(FeedPage)
async def home(query_args: FeedIn):
    """Your home feed: stories, then circles, then people you follow, then trending to fill
    ({"items": [{"layer", "post": post view}], "next_cursor"}). Pages are cached 30 s
    (X-Feed-Cache); the posts in them are re-read and rendered on every read."""
    return await _answer(await feeds.home(svc(), g.user_id, cursor=query_args.cursor, limit=query_args.limit))


@bp.get("/feeds/circle/<circle_id>")
@tag_feeds
@auth_required
@validate_querystring(FeedIn)
@document_response(FeedPage)
@errors(404)
async def circle(circle_id: str, query_args: FeedIn):
    """Posts shared to a circle you belong to (or own), newest first; 404 circle_not_found otherwise."""
    return await _answer(
        await feeds.circle(
            svc(), g.user_id, parse_id(circle_id, "circle_id"), cursor=query_args.cursor, limit=query_args.limit
        )
    )
