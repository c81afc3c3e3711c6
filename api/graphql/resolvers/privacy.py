"""Resolvers for PDPL rights (sdl/privacy.graphql): the same domain functions as /users/me/consents."""

from __future__ import annotations

from ariadne import MutationType, QueryType

from api.auth import client
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import validate as _validate
from api.inputs.users import ConsentIn
from models.accounts import consents

query = QueryType()
mutation = MutationType()


@query.field("myConsents")
async def resolve_my_consents(_, info):
    return (await consents.overview(info.context["svc"], _user(info)))["items"]


@mutation.field("grantConsent")
async def resolve_grant_consent(_, info, purpose, version):
    data = _validate(ConsentIn, {"purpose": purpose, "version": version})
    return await consents.grant(info.context["svc"], _user(info), data.purpose, data.version, client())


@mutation.field("withdrawConsent")
async def resolve_withdraw_consent(_, info, purpose):
    return await consents.withdraw(info.context["svc"], _user(info), purpose, client())


bindables = [query, mutation]
