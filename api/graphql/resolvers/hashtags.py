"""Resolvers for #hashtags (sdl/hashtags.graphql): thin over models/discovery/hashtags.py, as the
REST routes (api/routes/hashtags.py)."""

from __future__ import annotations

from ariadne import EnumType, QueryType

from api.graphql.resolvers.common import validate as _validate
from api.graphql.resolvers.common import viewer as _viewer
from api.inputs.discovery import HashtagPostsIn, TrendingHashtagsIn
from models.content import post_view
from models.discovery import hashtags

query = QueryType()
hashtag_sort = EnumType("HashtagSort", {s.upper(): s for s in hashtags.SORTS})


@query.field("hashtagPosts")
async def resolve_hashtag_posts(_, info, tag, sort="new", cursor=None, limit=20):
    q = _validate(HashtagPostsIn, {"sort": sort, "cursor": cursor, "limit": limit})
    svc, viewer = info.context["svc"], _viewer(info)
    page = await hashtags.tag_posts(svc, viewer, tag, sort=q.sort, cursor=q.cursor, limit=q.limit)
    return await post_view.refresh_page(svc, viewer, page, key=None)


@query.field("trendingHashtags")
async def resolve_trending_hashtags(_, info, window=None, limit=20):
    q = _validate(TrendingHashtagsIn, {"window": window, "limit": limit})
    svc = info.context["svc"]
    name = hashtags.window_name(svc, q.window)
    return {**await hashtags.trending_tags(svc, limit=q.limit), "window": name}


bindables = [query, hashtag_sort]
