"""Resolvers for comments, views, shares, feedback and trending (sdl/interactions.graphql)."""

from __future__ import annotations

from ariadne import EnumType, MutationType, QueryType

from api.auth import parse_id
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import page as _page
from api.graphql.resolvers.common import validate as _validate
from api.graphql.resolvers.common import viewer as _viewer
from api.inputs.discovery import TrendingIn
from api.inputs.interactions import CommentEditIn, CommentIn, ShareIn, ViewIn
from models.content import comments, feedback, post_view, views
from models.discovery import trending

query, mutation = QueryType(), MutationType()
feedback_kind = EnumType("FeedbackKind", {k.upper(): k for k in feedback.KINDS})


@query.field("comments")
async def resolve_comments(_, info, post_id, cursor=None, limit=20):
    p = _page(cursor, limit)
    return await comments.list_for_post(
        info.context["svc"], _user(info), parse_id(post_id, "postId"), cursor=p.cursor, limit=p.limit
    )


@query.field("commentReplies")
async def resolve_replies(_, info, comment_id, cursor=None, limit=20):
    p = _page(cursor, limit)
    return await comments.list_replies(
        info.context["svc"], _user(info), parse_id(comment_id, "commentId"), cursor=p.cursor, limit=p.limit
    )


@query.field("trending")
async def resolve_trending(_, info, hashtag=None, cursor=None, limit=20):
    q = _validate(TrendingIn, {"hashtag": hashtag, "cursor": cursor, "limit": limit})
    svc, viewer = info.context["svc"], _viewer(info)
    page = await trending.page(svc, viewer, hashtag=q.hashtag, cursor=q.cursor, limit=q.limit)
    return await post_view.refresh_page(svc, viewer, page)


@query.field("trendingRecommendations")
async def resolve_trending_recommendations(_, info, cursor=None, limit=20):
    q = _validate(TrendingIn, {"cursor": cursor, "limit": limit})
    svc, viewer = info.context["svc"], _user(info)
    page = await trending.page(svc, viewer, cursor=q.cursor, limit=q.limit, recommend=True)
    return await post_view.refresh_page(svc, viewer, page)


@mutation.field("addComment")
async def resolve_add_comment(_, info, input):
    data = _validate(CommentIn, input)
    return await comments.create(
        info.context["svc"], author_id=_user(info), post_id=data.post_id, body=data.body, parent_id=data.parent_id
    )


@mutation.field("editComment")
async def resolve_edit_comment(_, info, id, body):
    data = _validate(CommentEditIn, {"body": body})
    return await comments.edit(info.context["svc"], user_id=_user(info), comment_id=parse_id(id, "id"), body=data.body)


@mutation.field("deleteComment")
async def resolve_delete_comment(_, info, id):
    return await comments.delete(info.context["svc"], user_id=_user(info), comment_id=parse_id(id, "id"))


@mutation.field("recordView")
async def resolve_record_view(_, info, post_id, watched_ms):
    data = _validate(ViewIn, {"post_id": post_id, "watched_ms": watched_ms})
    return await views.record_view(
        info.context["svc"], viewer_id=_user(info), post_id=data.post_id, watched_ms=data.watched_ms
    )


@mutation.field("share")
async def resolve_share(_, info, post_id, channel="link"):
    data = _validate(ShareIn, {"post_id": post_id, "channel": channel})
    return await views.share(
        info.context["svc"],
        user_id=_user(info),
        post_id=data.post_id,
        channel=data.channel,
        idempotency_key=info.context["idempotency_key"],
    )


@mutation.field("giveFeedback")
async def resolve_give_feedback(_, info, post_id, kind):
    return await feedback.give(info.context["svc"], user_id=_user(info), post_id=parse_id(post_id, "postId"), kind=kind)


@mutation.field("takeBackFeedback")
async def resolve_take_back_feedback(_, info, post_id, kind):
    return await feedback.take_back(
        info.context["svc"], user_id=_user(info), post_id=parse_id(post_id, "postId"), kind=kind
    )


bindables = [query, mutation, feedback_kind]
