"""Resolvers for account sanctions: myRestrictions (as GET /users/me/restrictions)."""

from __future__ import annotations

from ariadne import QueryType

from api.graphql.resolvers.common import current_user
from models.moderation import sanctions

query = QueryType()


@query.field("myRestrictions")
async def resolve_my_restrictions(_, info):
    return await sanctions.summary(info.context["svc"], current_user(info))


bindables = [query]
