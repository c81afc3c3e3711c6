"""Resolvers for feeds and stories (sdl/feeds.graphql)."""

from __future__ import annotations

from ariadne import MutationType, QueryType

from api.auth import parse_id
from api.flows import posts as flows
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import validate as _validate
from api.inputs.content import PostIn
from api.inputs.discovery import FeedIn
from models.content import post_view, posts
from models.discovery import feeds

query, mutation = QueryType(), MutationType()


@query.field("homeFeed")
async def resolve_home_feed(_, info, cursor=None, limit=20):
    q = _validate(FeedIn, {"cursor": cursor, "limit": limit})
    svc, viewer = info.context["svc"], _user(info)
    page = await feeds.home(svc, viewer, cursor=q.cursor, limit=q.limit)
    page.pop("cached", None)
    return await post_view.refresh_page(svc, viewer, page)


@query.field("circleFeed")
async def resolve_circle_feed(_, info, circle_id, cursor=None, limit=20):
    q = _validate(FeedIn, {"cursor": cursor, "limit": limit})
    svc, viewer = info.context["svc"], _user(info)
    page = await feeds.circle(svc, viewer, parse_id(circle_id, "circleId"), cursor=q.cursor, limit=q.limit)
    page.pop("cached", None)
    return await post_view.refresh_page(svc, viewer, page)


@mutation.field("createStory")
async def resolve_create_story(_, info, input):
    data = _validate(PostIn, {**input, "kind": "story"})
    post = await flows.create_post(info.context["svc"], _user(info), data, info.context["idempotency_key"])
    return posts.public(post)


bindables = [query, mutation]
