"""Resolvers for recommendations: the same domain functions and input rules as REST."""

from __future__ import annotations

from ariadne import MutationType, QueryType
from quart import request

from api.auth import parse_id
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import validate as _validate
from api.inputs.discovery import InterestsIn, RecommendedIn
from models.content import post_view
from models.discovery import recommendations

query, mutation = QueryType(), MutationType()


@query.field("recommended")
async def resolve_recommended(_, info, user_id, cursor=None, limit=None):
    args = _validate(RecommendedIn, {"cursor": cursor, "limit": limit})
    svc, viewer = info.context["svc"], _user(info)
    page = await recommendations.recommended(
        svc,
        viewer_id=viewer,
        user_id=parse_id(user_id, "userId"),
        cursor=args.cursor,
        limit=args.limit,
        accept_language=request.headers.get("Accept-Language"),
    )
    page = await post_view.refresh_page(svc, viewer, page, key=None)
    return {**page, "items": [{"post": item, "reason": item["reason"]} for item in page["items"]]}


@query.field("recommendationInterests")
async def resolve_interests(_, info, user_id):
    return await recommendations.get_interests(
        info.context["svc"], viewer_id=_user(info), user_id=parse_id(user_id, "userId")
    )


@mutation.field("setRecommendationInterests")
async def resolve_set_interests(_, info, user_id, topics):
    data = _validate(InterestsIn, {"topics": topics})
    return await recommendations.set_interests(
        info.context["svc"], viewer_id=_user(info), user_id=parse_id(user_id, "userId"), topics=data.topics
    )


bindables = [query, mutation]
