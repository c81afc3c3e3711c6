"""Resolvers for presence (sdl/presence.graphql)."""

from __future__ import annotations

from ariadne import MutationType, QueryType

from api.auth import parse_id
from api.graphql.resolvers.common import current_user as _user
from models.messaging import presence

query, mutation = QueryType(), MutationType()


@query.field("presence")
async def resolve_presence(_, info, user_id):
    return await presence.presence(info.context["svc"], _user(info), parse_id(user_id, "userId"))


@query.field("presenceSettings")
async def resolve_presence_settings(_, info):
    return await presence.get_settings(info.context["svc"], _user(info))


@mutation.field("setPresenceVisible")
async def resolve_set_visible(_, info, visible):
    return await presence.set_visible(info.context["svc"], _user(info), visible)


bindables = [query, mutation]
