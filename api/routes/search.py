"""GET /search: users, posts or hashtags (models/discovery/search.py, docs/search.md)."""

from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_querystring

from api.auth import optional_user, svc
from api.inputs.discovery import SearchIn
from api.outputs.discovery import SearchPage
from models.content import post_view
from models.discovery import search

bp = Blueprint("search", __name__)


@bp.get("/search")
@tag(["discovery"])
@optional_user
@validate_querystring(SearchIn)
@document_response(SearchPage)
async def search_route(query_args: SearchIn):
    """Search (`type` required: users | posts | hashtags; `q`: 1-200 characters). Anonymous
    callers see what anyone may (public posts). Posts: `mode` hybrid (default: full text fused
    with caption-embedding matches) or text. {"items", "next_cursor", "semantic"}."""
    a = query_args
    page = await search.search(
        svc(), g.user_id, q=a.q, type=a.type, cursor=a.cursor, limit=a.limit, base_url=request.host_url, mode=a.mode
    )
    if a.type == "posts":
        return await post_view.render_page(svc(), g.user_id, page, base_url=request.host_url, key=None)
    return page
