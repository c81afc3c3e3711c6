"""Federation entities (sdl/federation.graphql): a gateway's `_entities` lookups by key.

Each loads by id with the same domain function and visibility rule as its query field; an
entity the caller may not see (or that does not exist, or a malformed id) is null, as Apollo
expects, never an error that would fail the gateway's whole plan.
"""

from __future__ import annotations

from uuid import UUID

from ariadne.contrib.federation import FederatedObjectType
from quart import request

from api.graphql.resolvers.common import viewer
from models.accounts import users
from models.content import comments, post_videos, posts, visibility
from models.core.errors import NotFound
from models.social import flows as social_flows
from models.wallet import subscriptions

user_entity, post_entity = FederatedObjectType("User"), FederatedObjectType("Post")
comment_entity, video_entity = FederatedObjectType("Comment"), FederatedObjectType("Video")
plan_entity = FederatedObjectType("SubscriptionPlan")


def _id(representation: dict, key: str = "id") -> UUID | None:
    try:
        return UUID(str(representation.get(key)))
    except ValueError:
        return None


@user_entity.reference_resolver
async def resolve_user(_, info, representation):
    svc, who, user_id = info.context["svc"], viewer(info), _id(representation)
    if user_id is None:
        return None
    try:
        profile = await social_flows.view_profile(svc, who, user_id)  # hidden by a block, or unknown
    except NotFound:
        return None
    user = await users.get_user(svc, user_id)
    if user is None:
        return None
    return {**users.public(user), "email": user.email if user_id == who else None, "profile": profile}


@post_entity.reference_resolver
async def resolve_post(_, info, representation):
    post_id = _id(representation)
    try:
        return post_id and posts.public(await visibility.get_visible_post(info.context["svc"], viewer(info), post_id))
    except NotFound:
        return None


@comment_entity.reference_resolver
async def resolve_comment(_, info, representation):
    comment_id = _id(representation)
    try:
        return comment_id and await comments.get_public(info.context["svc"], viewer(info), comment_id)
    except NotFound:
        return None


@video_entity.reference_resolver
async def resolve_video(_, info, representation):
    video_id = _id(representation)
    try:
        return video_id and await post_videos.video_status(
            info.context["svc"], video_id, viewer(info), base_url=request.host_url
        )
    except NotFound:
        return None


@plan_entity.reference_resolver
async def resolve_plan(_, info, representation):
    """Like the subscriptionPlan field: any signed-in user may read a creator's plan."""
    creator_id = _id(representation, "creatorId")
    if viewer(info) is None:
        return None
    try:
        return creator_id and await subscriptions.get_plan(info.context["svc"], creator_id)
    except NotFound:
        return None


bindables = [user_entity, post_entity, comment_entity, video_entity, plan_entity]
