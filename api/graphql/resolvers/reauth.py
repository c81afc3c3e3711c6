"""Resolver for reauth (sdl/reauth.graphql): the REST route's flow."""

from __future__ import annotations

from ariadne import MutationType

from api.flows.reauth import do_reauth
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import validate as _validate
from api.inputs.auth import ReauthIn

mutation = MutationType()


@mutation.field("reauth")
async def resolve_reauth(_, info, password):
    data = _validate(ReauthIn, {"password": password})
    return await do_reauth(_user(info), info.context["session_id"], data.password)


bindables = [mutation]
