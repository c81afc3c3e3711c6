"""Resolvers for search (sdl/search.graphql): one field, the lists of one type filled."""

from __future__ import annotations

from ariadne import EnumType, QueryType
from quart import request

from api.graphql.resolvers.common import validate as _validate
from api.graphql.resolvers.common import viewer as _viewer
from api.inputs.discovery import SearchIn
from models.content import post_view
from models.discovery import search as domain

query = QueryType()
search_type = EnumType("SearchType", {t.upper(): t for t in domain.TYPES})
search_mode = EnumType("SearchMode", {m.upper(): m for m in domain.MODES})


@query.field("search")
async def resolve_search(_, info, q, type, cursor=None, limit=20, mode=None):
    a = _validate(SearchIn, {"q": q, "type": type, "cursor": cursor, "limit": limit, "mode": mode})
    svc, viewer = info.context["svc"], _viewer(info)
    page = await domain.search(
        svc, viewer, q=a.q, type=a.type, cursor=a.cursor, limit=a.limit, base_url=request.host_url, mode=a.mode
    )
    out: dict = {
        "users": [],
        "posts": [],
        "hashtags": [],
        "next_cursor": page["next_cursor"],
        "semantic": page.get("semantic", False),
    }
    if a.type == "posts":
        out["posts"] = (await post_view.refresh_page(svc, viewer, page, key=None))["items"]
    else:
        out[a.type] = page["items"]
    return out


bindables = [query, search_type, search_mode]
